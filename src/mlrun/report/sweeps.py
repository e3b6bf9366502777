"""Sweep directories (``sweep.json`` and ``results.csv``): find one, read its leaderboard."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun import store
from mlrun.errors import RunNotFound
from mlrun.report.rundata import first_line, to_float

SWEEP_FILE = "sweep.json"
SWEEP_RESULTS_FILE = "results.csv"
#: Leaderboards wider than this drop their per-fold columns, then the rightmost ones.
MAX_SWEEP_COLUMNS = 10
_FOLD_COLUMN = re.compile(r"^(split|fold)\d+_|_(fold|split)\d+$")


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


def resolve_target(ref: str, runs_dir: Path) -> Path:
    """Resolve ``ref`` to a run directory, or to a sweep directory when no run matches.

    Raises:
        RunNotFound: as :func:`mlrun.store.resolve_run`, when neither a run nor a sweep matches.
    """
    try:
        return store.resolve_run(ref, runs_dir)
    except RunNotFound:
        sweep = _resolve_sweep(ref, Path(runs_dir))
        if sweep is None:
            raise
        return sweep


def is_sweep_dir(path: Path) -> bool:
    """Return True when ``path`` holds a sweep (sweep.json and results.csv) rather than a run."""
    return (path / SWEEP_FILE).is_file() and (path / SWEEP_RESULTS_FILE).is_file()


def _resolve_sweep(ref: str, runs_dir: Path) -> Path | None:
    # Same rules as store.resolve_run: a path must be a real sweep directory and
    # may climb out of the runs directory with ".." only to land back inside it.
    candidate = Path(ref)
    if candidate.is_absolute() or len(candidate.parts) > 1 or ref.startswith("."):
        root, target = runs_dir.resolve(), candidate.resolve()
        inside = target == root or root in target.parents
        if is_sweep_dir(target) and (inside or ".." not in candidate.parts):
            return target
        return None
    if ref == "latest" or not runs_dir.is_dir():
        return None
    pattern = f"{store.glob_escape(ref)}*"
    matches = sorted({*runs_dir.glob(pattern), *runs_dir.glob(f"*/{pattern}")})
    matches = [p for p in matches if p.is_dir() and is_sweep_dir(p)]
    exact = [p for p in matches if p.name == ref]
    if exact:
        return exact[0]
    return matches[0] if len(matches) == 1 else None


def load_sweep(path: Path, *, top: int | None = None) -> SweepData:
    """Read a sweep directory's sweep.json and its results.csv leaderboard, best rank first."""
    path = Path(path)
    sweep = SweepData(path=path, info={}, columns=[], rows=[])
    try:
        info = store.read_json(path / SWEEP_FILE)
        sweep.info = info if isinstance(info, dict) else {}
    except (OSError, ValueError) as exc:
        sweep.problems.append(f"{SWEEP_FILE}: could not be read ({first_line(exc)})")
    try:
        rows = store.read_csv(path / SWEEP_RESULTS_FILE)
    except (OSError, ValueError, csv.Error) as exc:
        sweep.problems.append(f"{SWEEP_RESULTS_FILE}: could not be read ({first_line(exc)})")
        return sweep
    if rows:
        sweep.columns = list(rows[0])
    if "rank" in sweep.columns:
        sweep.columns = ["rank", *(c for c in sweep.columns if c != "rank")]
        rows.sort(key=lambda r: (to_float(r.get("rank")) is None, to_float(r.get("rank")) or 0.0))
    sweep.rows = rows[:top] if top else rows
    return sweep


def sweep_columns(sweep: SweepData, *, folds: bool = True) -> list[str]:
    """Return the leaderboard columns worth showing; per-fold columns only if ``folds`` and there is room."""
    columns = sweep.columns
    if not folds or len(columns) > MAX_SWEEP_COLUMNS:
        columns = [c for c in columns if not _FOLD_COLUMN.search(c)]
    return columns[:MAX_SWEEP_COLUMNS]
