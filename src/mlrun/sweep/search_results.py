"""results.csv and results.json of a random or TPE search: one row per configuration (Optuna trial), with its state.

Columns: ``trial`` (the Optuna trial number), ``state`` (completed, pruned,
failed; running only while the sweep runs or after it was stopped), the sampled
values by key, ``epochs`` (trained over all its folds), ``folds`` (folds
finished in full), then the grid's columns: ``<metric>_mean``, ``_std``,
``_fold<k>``, ``rank`` and the comparison with the best configuration.

Only completed configurations are ranked; pruned and failed ones have no rank
and sort after them. A pruned configuration's fold columns hold the folds it
has scores for: its finished folds and the fold it was stopped in, scored on
its held-out part as it stood (``folds`` says how many are finished), and its
``_mean`` and ``_std`` are over those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlrun import store
from mlrun.sweep.plan import SweepPlan, Trial
from mlrun.sweep.results import PointResult, SweepTable, compare_with_best, point_result, rank_points
from mlrun.sweep.space import Dimension, decode
from mlrun.sweep.study import resumed_numbers

#: The columns a search's results.csv has before the sampled values, and after them.
LEAD_COLUMNS = ("trial", "state")
PROGRESS_COLUMNS = ("epochs", "folds")


@dataclass
class SearchRow:
    """What a search adds to a point's results: its Optuna trial, state, epochs and finished folds."""

    trial: int
    state: str
    epochs: int
    folds: int
    error: str | None = None


@dataclass
class SearchTable(SweepTable):
    """Every configuration a search tried, in trial order; ``rows`` of results.csv with their state."""

    search_rows: list[SearchRow] | None = None
    """One per point, in the same order."""

    @property
    def columns(self) -> list[str]:
        grid = super().columns
        return [*LEAD_COLUMNS, *self.grid_keys, *PROGRESS_COLUMNS, *grid[len(self.grid_keys) :]]

    def rows(self) -> list[list[Any]]:
        out = []
        n = len(self.grid_keys)
        for s, row in zip(self.search_rows or [], super().rows()):
            out.append([s.trial, s.state, *row[:n], s.epochs, s.folds, *row[n:]])
        return out


def aggregate_search(plan: SweepPlan, trials: list[Any], space: Mapping[str, Dimension]) -> SearchTable:
    """Read every configuration of the study back from disk: scores of its folds, state, epochs; rank the completed.

    ``trials`` are the study's (Optuna's FrozenTrial); the plan has the points and fold trials of those that
    trained (their ``point`` user attribute).
    """
    resumed = resumed_numbers(trials)
    points: list[PointResult] = []
    rows: list[SearchRow] = []
    for t in trials:
        if t.number in resumed or t.state.name == "WAITING":
            continue  # a killed sweep's configuration, enqueued again: its later trial is the row
        state = _STATES.get(t.state.name, "running")
        params = decode(t.params, space)
        index = t.user_attrs.get("point")
        folds = plan.point_trials(index) if index is not None else []
        result = point_result(plan, t.number if index is None else index, params, folds, partial=True)
        result.state = state
        result.error = t.user_attrs.get("error")
        for summary in result.tracked.values():  # a configuration that never trained: empty fold columns
            summary["folds"] += [None] * (plan.n_folds - len(summary["folds"]))
        if state != "completed":
            result.sizes = None  # not compared with the best
        points.append(result)
        rows.append(
            SearchRow(
                trial=t.number,
                state=state,
                epochs=sum(_epochs(plan, f) for f in folds),
                folds=sum(1 for d in result.trials if d["status"] == "completed"),
                error=t.user_attrs.get("error"),
            )
        )
    rank_points([p for p in points if p.state == "completed"], plan.metric, plan.mode)
    table = SearchTable(plan.metric, plan.mode, sorted(space), plan.tracked, plan.n_folds, points, search_rows=rows)
    compare_with_best(table, rope=plan.block.rope)
    return table


_STATES = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}


def _epochs(plan: SweepPlan, trial: Trial) -> int:
    try:
        return int(store.read_json(plan.trial_dir(trial) / store.RUN_FILE).get("epochs_completed") or 0)
    except (OSError, ValueError):
        return 0


def search_summary(table: SearchTable) -> dict[str, Any]:
    """How many configurations completed, were pruned or failed (for sweep.json and the closing line)."""
    states = [r.state for r in table.search_rows or []]
    return {s: states.count(s) for s in ("completed", "pruned", "failed", "running")}
