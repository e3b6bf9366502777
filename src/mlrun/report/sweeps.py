"""Sweep directories (``sweep.json`` and ``results.csv``): read a leaderboard for people.

Which directory a reference names is decided by :func:`mlrun.store.resolve_run` (``sweeps=True``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun import store
from mlrun.report.rundata import first_line, to_float
from mlrun.sweep.files import COMPARISON_COLUMNS, RESULTS_CSV, SWEEP_FILE

#: Leaderboards wider than this drop their per-fold columns, then the rightmost ones.
MAX_SWEEP_COLUMNS = 10
_FOLD_COLUMN = re.compile(r"^(split|fold)\d+_|_(fold|split)\d+$")

#: Significance level of the leaderboard's mark (see :func:`indistinguishable_from_best`).
ALPHA = 0.05
#: The mark beside the rank of a point that cannot be told apart from the best one, and what it means.
TIE_MARK = "≈"
TIE_CAPTION = (
    f"{TIE_MARK}: cannot be told apart from rank 1: p_value >= {ALPHA} in the corrected t-test on paired fold scores"
    " (results.csv: p_value, prob_worse, prob_equivalent, prob_better)"
)


@dataclass
class SweepData:
    """A sweep directory: its description and its leaderboard (results.csv rows sorted by rank)."""

    path: Path
    info: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, str]]
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.info.get("name") or self.path.name)


def read_sweep_results(path: Path, *, top: int | None = None) -> SweepData:
    """Read a sweep directory's sweep.json and its results.csv leaderboard, best rank first."""
    path = Path(path)
    sweep = SweepData(path=path, info={}, columns=[], rows=[])
    try:
        info = store.read_json(path / SWEEP_FILE)
        sweep.info = info if isinstance(info, dict) else {}
    except (OSError, ValueError) as exc:
        sweep.problems.append(f"{SWEEP_FILE}: could not be read ({first_line(exc)})")
    try:
        rows = store.read_csv(path / RESULTS_CSV)
    except (OSError, ValueError, csv.Error) as exc:
        sweep.problems.append(f"{RESULTS_CSV}: could not be read ({first_line(exc)})")
        return sweep
    if rows:
        sweep.columns = list(rows[0])
    if "rank" in sweep.columns:
        sweep.columns = ["rank", *(c for c in sweep.columns if c != "rank")]
        rows.sort(key=lambda r: (to_float(r.get("rank")) is None, to_float(r.get("rank")) or 0.0))
    sweep.rows = rows[:top] if top else rows
    return sweep


def indistinguishable_from_best(row: dict[str, str]) -> bool:
    """Return True when a results.csv row cannot be told apart from the rank-1 point.

    The one rule for the leaderboard's mark: the corrected resampled t-test on
    the paired fold scores does not reject "same mean score" at level
    :data:`ALPHA` (``p_value >= 0.05``). Rows without a p_value (the best point
    itself, no cross-validation, an incomplete point) are never marked.
    """
    p_value = to_float(row.get("p_value"))
    return p_value is not None and p_value >= ALPHA


def is_comparison_column(column: str) -> bool:
    """Return True for results.csv's comparison with the best point (``p_value``, ``prob_worse``, ...)."""
    return column in COMPARISON_COLUMNS


def is_fold_column(column: str) -> bool:
    """Return True for a per-fold results.csv column (``split0_test_score``, ``accuracy_fold1``)."""
    return _FOLD_COLUMN.search(column) is not None


def sweep_columns(sweep: SweepData, *, folds: bool = True) -> list[str]:
    """Return the leaderboard columns worth showing; per-fold columns only if ``folds`` and there is room."""
    columns = sweep.columns
    if not folds or len(columns) > MAX_SWEEP_COLUMNS:
        columns = [c for c in columns if not is_fold_column(c)]
    return columns[:MAX_SWEEP_COLUMNS]
