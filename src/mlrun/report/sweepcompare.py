"""``mlrun compare`` of two sweeps, or of two grid points: is one really better, on the same folds?

A reference is a sweep (its id, a unique prefix, or its directory), meaning its
best (rank-1) point, or ``SWEEP:N``, grid point ``N`` of that sweep (the
``point`` of results.json: the row of results.csv, counted from 0, in grid
order). Both points must have been cross-validated on the same folds: same
data fingerprint, ``n_splits``, ``n_repeats``, stratification, shuffling and
seed, so that their fold scores pair up. Reads results.json only; no Keras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun import store
from mlrun.errors import RunError, RunNotFound
from mlrun.sweep.files import RESULTS_JSON

_POINT_REF = re.compile(r"^(?P<sweep>.+):(?P<point>\d+|best)$")


@dataclass(frozen=True)
class SweepPoint:
    """One grid point of a sweep, as results.json records it."""

    sweep: Path
    point: int
    params: dict[str, Any]
    metric: str
    mode: str
    rope: float
    folds: list[float | None]
    """The ranking metric's score on each fold, repeat-major."""
    n_train: int | None
    n_scored: int | None
    split: dict[str, Any]
    """What decides the folds: data fingerprint, cv block (n_splits, n_repeats, ...) and seed."""

    @property
    def label(self) -> str:
        return f"{self.sweep.name}:{self.point}"


@dataclass(frozen=True)
class SweepComparison:
    """Point ``a`` against point ``b`` on their paired fold scores (``prob_worse``: ``a`` worse than ``b``)."""

    a: SweepPoint
    b: SweepPoint
    p_value: float
    prob_worse: float
    prob_equivalent: float
    prob_better: float


def sweep_point_ref(ref: str, runs_dir: Path) -> SweepPoint | None:
    """Resolve ``SWEEP`` (its best point) or ``SWEEP:N`` to a grid point; None when ``ref`` names no sweep.

    Raises:
        RunNotFound: the sweep has no results.json, no best point yet, or no point ``N``.
    """
    found = _POINT_REF.match(ref)
    sweep_ref, point = (found.group("sweep"), found.group("point")) if found else (ref, "best")
    try:
        path = store.resolve_run(sweep_ref, runs_dir, sweeps=True)
    except RunNotFound:
        if found:
            raise
        return None
    if not store.is_sweep_dir(path):
        return None
    try:
        results = store.read_json(path / RESULTS_JSON)
    except (OSError, ValueError) as exc:
        raise RunNotFound(f"{sweep_ref!r}: {RESULTS_JSON} could not be read ({exc}); has the sweep finished?") from None
    return _point(path, results, point)


def _point(path: Path, results: dict[str, Any], point: str) -> SweepPoint:
    points = {p["point"]: p for p in results.get("points") or []}
    if point == "best":
        best = results.get("best")
        if not best:
            raise RunNotFound(f"sweep {path.name} has no best point yet (no grid point completed every fold)")
        index = int(best["point"])
    else:
        index = int(point)
        if index not in points:
            raise RunNotFound(f"sweep {path.name} has no grid point {index}; its points are 0..{len(points) - 1}")
    data = points[index]
    metric = str(results["metric"])
    return SweepPoint(
        sweep=path,
        point=index,
        params=dict(data.get("params") or {}),
        metric=metric,
        mode=str(results["mode"]),
        rope=float(results.get("rope", 0.01)),
        folds=list(data["metrics"][metric]["folds"]),
        n_train=data.get("n_train"),
        n_scored=data.get("n_scored"),
        split={"data": data.get("fingerprint"), "cv": results.get("cv"), "seed": results.get("seed")},
    )


def compare_sweep_points(a: SweepPoint, b: SweepPoint) -> SweepComparison:
    """Run the corrected t-test and the Bayesian correlated t-test of ``a`` against ``b``.

    Raises:
        RunError: the two were not scored on the same folds, by the same metric,
            or a fold of either is missing; the message says which.
    """
    why = _not_paired(a, b)
    if why:
        raise RunError(f"cannot compare {a.label} with {b.label}: {why}")
    assert a.n_train is not None and a.n_scored is not None, "checked by _not_paired"
    x = [float(v) for v in a.folds if v is not None]
    y = [float(v) for v in b.folds if v is not None]
    from mlrun.sweep.stats import bayesian_correlated_t_test, corrected_t_test  # scipy: only when comparing

    t_test = corrected_t_test(x, y, n_train=a.n_train, n_test=a.n_scored)
    probs = bayesian_correlated_t_test(
        x, y, rope=a.rope, n_train=a.n_train, n_test=a.n_scored, higher_is_better=a.mode == "max"
    )
    return SweepComparison(a, b, t_test.p_value, *probs)


def _not_paired(a: SweepPoint, b: SweepPoint) -> str | None:
    """Why the fold scores of ``a`` and ``b`` do not pair up, or None when they do."""
    if a.metric != b.metric:
        return f"they are ranked by different metrics ({a.metric} and {b.metric})"
    if a.split["cv"] is None or b.split["cv"] is None:
        return "a sweep without cross-validation has one score per point; cross-validate both (sweep.cv or --folds K)"
    for what, key in (("data (dataset fingerprint)", "data"), ("seed", "seed")):
        if a.split[key] != b.split[key]:
            return f"the folds differ: different {what}: {a.split[key]} and {b.split[key]}"
    for key in ("n_splits", "n_repeats", "stratified", "shuffle"):
        va, vb = a.split["cv"].get(key, 1), b.split["cv"].get(key, 1)
        if va != vb:
            return f"the folds differ: cv.{key} is {va} in {a.sweep.name} and {vb} in {b.sweep.name}"
    if None in a.folds or None in b.folds:
        return "a fold did not complete; rerun the sweep to finish it"
    if not a.n_train or not a.n_scored:
        return f"{RESULTS_JSON} of {a.sweep.name} does not record the fold sizes (n_train, n_scored); rerun the sweep"
    if len(a.folds) < 2:
        return "fewer than two folds leave no variance to test"
    return None
