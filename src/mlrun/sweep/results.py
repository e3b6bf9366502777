"""Aggregate a sweep's trials into results.csv and results.json, shaped like ``GridSearchCV.cv_results_``.

Everything is read back from the trials' run directories, so a resumed sweep
aggregates exactly what an uninterrupted one would. No Keras here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlrun import store
from mlrun.sweep.files import BEST_CONFIG, RESULTS_CSV, RESULTS_JSON
from mlrun.sweep.grid import format_value
from mlrun.sweep.plan import SweepPlan
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

    @property
    def status(self) -> str:
        """completed (every fold), failed (some fold failed) or pending (some fold never finished)."""
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
        return [*cols, "rank"]

    def rows(self) -> list[list[Any]]:
        """results.csv rows: grid values, then mean, std and each fold per tracked metric, then rank."""
        out = []
        for p in self.points:
            row: list[Any] = [format_value(p.params[k]) for k in self.grid_keys]
            for m in self.tracked:
                t = p.tracked[m]
                row += [_cell(t["mean"]), _cell(t["std"]), *(_cell(v) for v in t["folds"])]
            out.append([*row, "" if p.rank is None else p.rank])
        return out


def aggregate(plan: SweepPlan) -> SweepTable:
    """Read every trial of the plan from disk and compute each point's scores and rank."""
    metric, mode = plan.metric, plan.mode
    points = []
    for p in plan.spec.points:
        trials = plan.point_trials(p.index)
        dirs = [plan.trial_dir(t) for t in trials]
        fold_metrics = [_scalar_metrics(d) if is_done(d) else None for d in dirs]
        result = PointResult(
            point=p.index,
            params=dict(p.params),
            trials=[
                {
                    "name": t.name,
                    "key": t.key,
                    "fold": None if t.fold is None else t.fold.index,
                    "status": trial_state(d),
                    "error": None if is_done(d) else read_error(d),
                }
                for t, d in zip(trials, dirs)
            ],
            fold_metrics=fold_metrics,
        )
        for m in plan.tracked:
            values = [None if fm is None else fm.get(m.removeprefix("val_")) for fm in fold_metrics]
            result.tracked[m] = _summary(values)
        if plan.task != "regression":
            result.roc_auc = _summary([None if fm is None else fm.get("roc_auc") for fm in fold_metrics])
        result.confusion_matrix = _pooled_confusion([d for d, fm in zip(dirs, fold_metrics) if fm is not None])
        points.append(result)
    rank_points(points, metric, mode)
    grid_keys = sorted(plan.spec.block.grid)
    return SweepTable(metric, mode, grid_keys, plan.tracked, plan.n_splits or 1, points)


def write_results(plan: SweepPlan, table: SweepTable, *, refit: dict[str, Any] | None = None) -> None:
    """Write results.csv, results.json and (when there is a best point) best_config.yaml into the sweep directory."""
    from mlrun.config import config_to_dict

    store.write_csv(plan.sweep_dir / RESULTS_CSV, table.columns, table.rows())
    best = table.best
    if best is not None:
        store.write_yaml(plan.sweep_dir / BEST_CONFIG, config_to_dict(plan.spec.points[best.point].config))
    store.write_json(
        plan.sweep_dir / RESULTS_JSON,
        {
            "sweep_id": plan.sweep_id,
            "metric": table.metric,
            "mode": table.mode,
            "grid_keys": table.grid_keys,
            "tracked": table.tracked,
            "n_splits": plan.n_splits,
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


def _scalar_metrics(run_dir: Path) -> dict[str, Any]:
    m = store.read_json(run_dir / store.METRICS_FILE)
    return {k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "n_test"} | {
        "n": m.get("n_test")
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
