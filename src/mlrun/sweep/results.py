"""Aggregate a sweep's trials into results.csv and results.json, shaped like ``GridSearchCV.cv_results_``.

Everything is read back from the trials' run directories, so a resumed sweep
aggregates exactly what an uninterrupted one would. No Keras here.

Fold columns ``<metric>_fold<k>`` number every fold of the cross-validation,
repeat-major: with ``n_splits`` k and ``n_repeats`` r, ``k`` runs over
``0 .. k*r - 1`` and fold ``i`` of repeat ``j`` is ``<metric>_fold<j*k + i>``.

Each point is compared with the rank-1 point on their paired fold scores of
the ranking metric (:mod:`mlrun.sweep.stats`): ``p_value`` (corrected
resampled t-test) and ``prob_worse`` / ``prob_equivalent`` / ``prob_better``
(Bayesian correlated t-test with ``sweep.rope``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlrun import store
from mlrun.sweep.files import BEST_CONFIG, COMPARISON_COLUMNS, RESULTS_CSV, RESULTS_JSON
from mlrun.sweep.grid import format_value
from mlrun.sweep.plan import SweepPlan, Trial
from mlrun.sweep.stats import Comparison, compare_to_best
from mlrun.sweep.trials import is_done, read_error, trial_state


@dataclass
class PointResult:
    """One grid point across its folds: per-fold metrics, mean, std, rank and pooled diagnostics."""

    point: int
    params: dict[str, Any]
    trials: list[dict[str, Any]]
    fold_metrics: list[dict[str, Any] | None]
    """All scalar held-out metrics of each fold's trial (None where the trial did not complete)."""
    tracked: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``{metric: {"mean", "std", "folds"}}`` for the tracked metrics (``val_accuracy``, ...)."""
    confusion_matrix: dict[str, Any] | None = None
    roc_auc: dict[str, Any] | None = None
    rank: int | None = None
    sizes: dict[str, int] | None = None
    """``{"n_train", "n_scored"}``: rows one fold's trial trained on and was scored on (mean over the folds)."""
    comparison: Comparison | None = None
    """This point against the best one (None for the best itself, without CV, or when incomplete)."""
    state: str | None = None
    """A search's configuration: completed, pruned, failed or running (its Optuna trial's state); None in a grid."""
    error: str | None = None
    """A search's failed configuration: why (not a valid config, or its failed fold's error)."""

    @property
    def status(self) -> str:
        """completed (every fold), failed (some fold failed) or pending (some fold never finished)."""
        if self.state is not None:
            return self.state
        states = [t["status"] for t in self.trials]
        if all(s == "completed" for s in states):
            return "completed"
        return "pending" if all(s in ("completed", "missing") for s in states) else "failed"


@dataclass
class SweepTable:
    """Every grid point's results, in grid order, and the best point (rank 1)."""

    metric: str
    mode: str
    grid_keys: list[str]
    tracked: list[str]
    n_folds: int
    points: list[PointResult]

    @property
    def best(self) -> PointResult | None:
        ranked = [p for p in self.points if p.rank is not None]
        return min(ranked, key=lambda p: (p.rank, p.point)) if ranked else None

    @property
    def columns(self) -> list[str]:
        cols = list(self.grid_keys)
        for m in self.tracked:
            cols += [f"{m}_mean", f"{m}_std", *(f"{m}_fold{k}" for k in range(self.n_folds))]
        return [*cols, "rank", *COMPARISON_COLUMNS]

    def rows(self) -> list[list[Any]]:
        """results.csv rows: grid values, then mean, std and each fold per tracked metric, then rank."""
        out = []
        for p in self.points:
            # a search's configuration may lack a key: one that failed or was interrupted before it was sampled
            row: list[Any] = [format_value(p.params[k]) if k in p.params else "" for k in self.grid_keys]
            for m in self.tracked:
                t = p.tracked[m]
                row += [_cell(t["mean"]), _cell(t["std"]), *(_cell(v) for v in t["folds"])]
            c = p.comparison
            stats = ["" if c is None else _cell(getattr(c, name)) for name in COMPARISON_COLUMNS]
            out.append([*row, "" if p.rank is None else p.rank, *stats])
        return out


def aggregate(plan: SweepPlan) -> SweepTable:
    """Read every trial of the plan from disk and compute each point's scores and rank."""
    points = [point_result(plan, p.index, p.params, plan.point_trials(p.index)) for p in plan.spec.points]
    rank_points(points, plan.metric, plan.mode)
    grid_keys = sorted(plan.spec.block.grid or {})
    table = SweepTable(plan.metric, plan.mode, grid_keys, plan.tracked, plan.n_folds, points)
    compare_with_best(table, rope=plan.block.rope, fingerprints=plan.fingerprints)
    return table


def point_result(
    plan: SweepPlan, point: int, params: dict[str, Any], trials: list[Trial], *, partial: bool = False
) -> PointResult:
    """One point's trials read back from disk: per-fold metrics, their mean and std, pooled diagnostics.

    ``partial``: also read the folds a pruner stopped (a pruned search configuration's partial scores),
    and average the folds that have a score.
    """
    dirs = [plan.trial_dir(t) for t in trials]
    scored = [
        is_done(d) or (partial and trial_state(d) == "pruned" and (d / store.METRICS_FILE).is_file()) for d in dirs
    ]
    fold_metrics = [scalar_metrics(d) if ok else None for d, ok in zip(dirs, scored)]
    result = PointResult(
        point=point,
        params=dict(params),
        trials=[
            {
                "name": t.name,
                "key": t.key,
                "fold": None if t.fold is None else t.fold.position,
                "repeat": None if t.fold is None else t.fold.repeat,
                "status": trial_state(d),
                "error": None if is_done(d) else read_error(d),
            }
            for t, d in zip(trials, dirs)
        ],
        fold_metrics=fold_metrics,
    )
    summarize = partial_summary if partial else _summary
    for m in plan.tracked:
        result.tracked[m] = summarize([None if fm is None else fm.get(m.removeprefix("val_")) for fm in fold_metrics])
    if plan.task != "regression":
        result.roc_auc = summarize([None if fm is None else fm.get("roc_auc") for fm in fold_metrics])
    done = [d for d, fm in zip(dirs, fold_metrics) if fm is not None]
    result.confusion_matrix = _pooled_confusion(done)
    result.sizes = _fold_sizes(done)
    return result


def compare_with_best(table: SweepTable, *, rope: float, fingerprints: dict[int, str] | None = None) -> None:
    """Set each point's :attr:`PointResult.comparison` against the best point, on the ranking metric's fold scores.

    Left None for the best point itself, without cross-validation (one score per
    point), for an incomplete point, and for a point whose data differ from the
    best one's (``fingerprints``: its folds are not the same, so not paired).
    The fold sizes are the compared point's (``sizes``), the direction the metric's.
    """
    best = table.best
    if best is None or table.n_folds < 2:
        return
    fingerprints = fingerprints or {}
    reference = best.tracked[table.metric]["folds"]
    for p in table.points:
        if p is best or p.rank is None or p.sizes is None:
            continue
        if fingerprints.get(p.point) != fingerprints.get(best.point):
            continue
        compared = compare_to_best(
            {"best": reference, "point": p.tracked[table.metric]["folds"]},
            "best",
            rope=rope,
            n_train=p.sizes["n_train"],
            n_test=p.sizes["n_scored"],
            higher_is_better=table.mode == "max",
        )
        p.comparison = compared["point"]


def write_results(plan: SweepPlan, table: SweepTable, *, refit: dict[str, Any] | None = None) -> None:
    """Write results.csv, results.json and (when there is a best point) best_config.yaml into the sweep directory."""
    from mlrun.config import config_to_dict

    store.write_csv(plan.sweep_dir / RESULTS_CSV, table.columns, table.rows())
    best = table.best
    if best is not None:
        store.write_yaml(plan.sweep_dir / BEST_CONFIG, config_to_dict(plan.spec.point(best.point).config))
    store.write_json(
        plan.sweep_dir / RESULTS_JSON,
        {
            "sweep_id": plan.sweep_id,
            "metric": table.metric,
            "mode": table.mode,
            "grid_keys": table.grid_keys,
            "tracked": table.tracked,
            "n_splits": plan.n_splits,
            "n_repeats": plan.n_repeats,
            "n_folds": table.n_folds,
            "cv": None if plan.block.cv is None else plan.block.cv.model_dump(mode="json"),
            "seed": plan.spec.base.seed,
            "rope": plan.block.rope,
            "columns": table.columns,
            "points": [
                {
                    "point": p.point,
                    "params": p.params,
                    "rank": p.rank,
                    "status": p.status,
                    "metrics": p.tracked,
                    "fold_metrics": p.fold_metrics,
                    "confusion_matrix": p.confusion_matrix,
                    "roc_auc": p.roc_auc,
                    "trials": p.trials,
                    **({"error": p.error} if p.state is not None else {}),
                    "fingerprint": plan.fingerprints.get(p.point),
                    **(p.sizes or {"n_train": None, "n_scored": None}),
                    **{
                        name: None if p.comparison is None else getattr(p.comparison, name)
                        for name in COMPARISON_COLUMNS
                    },
                }
                for p in table.points
            ],
            "best": best_summary(table),
            "refit": refit,
        },
    )


def best_summary(table: SweepTable) -> dict[str, Any] | None:
    """The best point in a few fields (for sweep.json, results.json and the terminal)."""
    best = table.best
    if best is None:
        return None
    score = best.tracked[table.metric]
    return {
        "point": best.point,
        "params": best.params,
        "metric": table.metric,
        "mean": score["mean"],
        "std": score["std"],
        "config": BEST_CONFIG,
    }


# --------------------------------------------------------------------------- helpers


def scalar_metrics(run_dir: Path) -> dict[str, Any]:
    m = store.read_json(run_dir / store.METRICS_FILE)
    return {k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "n_test"} | {
        "n": m.get("n_test")
    }


def _fold_sizes(dirs: list[Path]) -> dict[str, int] | None:
    """Training and scored rows of one fold, from the trials' run.json (rounded mean over the folds).

    ``n_scored`` is the held-out fold; run.json records it as ``dataset.n_scored``,
    or (older runs) as the validation count ``dataset.n_val``.
    """
    n_train, n_scored = [], []
    for d in dirs:
        data = store.read_json(d / store.RUN_FILE).get("dataset") or {}
        scored = data.get("n_scored", data.get("n_val"))
        if not data.get("n_train") or not scored:
            return None
        n_train.append(int(data["n_train"]))
        n_scored.append(int(scored))
    if not n_train:
        return None
    return {"n_train": round(float(np.mean(n_train))), "n_scored": round(float(np.mean(n_scored)))}


def partial_summary(values: list[float | None]) -> dict[str, Any]:
    """Mean and standard deviation of the folds that have a value (a pruned configuration's partial scores)."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    return {
        "mean": float(np.mean(present)) if present else None,
        "std": float(np.std(present)) if present else None,
        "folds": [None if v is None else float(v) for v in values],
    }


def _summary(values: list[float | None]) -> dict[str, Any]:
    """Mean and (population, as scikit-learn's cv_results_) standard deviation, when every fold has a value."""
    complete = bool(values) and all(v is not None and math.isfinite(v) for v in values)
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return {
        "mean": float(arr.mean()) if complete else None,
        "std": float(arr.std()) if complete else None,
        "folds": [None if v is None else float(v) for v in values],
    }


def rank_points(points: list[PointResult], metric: str, mode: str) -> None:
    """Set the rank of each point with a score for ``metric``: 1 is best, ties share the smallest rank (scipy's 'min').

    Points without a score (a fold did not complete) keep rank None.
    """
    from scipy.stats import rankdata

    scored = [p for p in points if p.tracked[metric]["mean"] is not None]
    if not scored:
        return
    means = np.array([p.tracked[metric]["mean"] for p in scored])
    ranks = rankdata(-means if mode == "max" else means, method="min")
    for p, r in zip(scored, ranks):
        p.rank = int(r)


def _pooled_confusion(dirs: list[Path]) -> dict[str, Any] | None:
    """The confusion matrices of the folds, summed (each training sample counted once, in its held-out fold)."""
    total: np.ndarray | None = None
    header: list[str] = []
    labels: list[str] = []
    for d in dirs:
        path = d / store.CONFUSION_FILE
        if not path.is_file():
            return None
        rows = store.read_csv(path)
        if not rows:
            return None
        header = list(rows[0])
        labels = [r[header[0]] for r in rows]
        matrix = np.array([[int(r[c]) for c in header[1:]] for r in rows], dtype=np.int64)
        total = matrix if total is None else total + matrix
    if total is None:
        return None
    return {"rows": header[0], "columns": header[1:], "labels": labels, "matrix": total.tolist(), "n_folds": len(dirs)}


def _cell(value: float | None) -> Any:
    return "" if value is None else repr(float(value))
