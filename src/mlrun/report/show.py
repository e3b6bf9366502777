"""The report and compare commands as library calls: resolve, read, print, write the page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from mlrun import store
from mlrun.errors import ConfigError, RunNotFound
from mlrun.report import markup, page, terminal
from mlrun.report.compare import compare_runs
from mlrun.report.rundata import load_run
from mlrun.report.searchview import print_search
from mlrun.report.studydata import read_search
from mlrun.report.sweepcompare import SweepPoint, compare_sweep_points, sweep_point_ref
from mlrun.report.sweeps import read_sweep_results


def show_report(
    console: Console, ref: str, runs_dir: Path, *, html: Path | None = None, write_html: bool = True
) -> Path | None:
    """Print the report of a run (or a sweep's leaderboard, and a random or TPE search's study) and write its HTML page.

    Args:
        console: where the terminal report goes.
        ref: a run id, a unique prefix of one, ``latest``, or a run (or sweep) directory.
        runs_dir: the runs directory ``ref`` is resolved in.
        html: where to write the page; default ``report.html`` in the run directory.
        write_html: False to print only.

    Returns:
        The page written, or None.

    Raises:
        RunNotFound: ``ref`` matches no run, several runs, or lies outside ``runs_dir``.
        ConfigError: both ``html`` and ``write_html=False`` were given.
    """
    if html is not None and not write_html:
        raise ConfigError("give --html PATH or --no-html, not both")
    path = store.resolve_run(ref, runs_dir, sweeps=True, damaged=True)
    if store.is_sweep_dir(path):
        sweep = read_sweep_results(path)
        search = read_search(sweep)  # None, and Optuna not imported, for a grid sweep
        terminal.print_sweep(console, sweep)
        if search is not None:
            print_search(console, search)
        return markup.write_page(html or path, page.sweep_page(sweep, search)) if write_html else None
    run = load_run(path, details=write_html)
    terminal.print_report(console, run)
    return markup.write_page(html or path, page.run_page(run)) if write_html else None


def show_comparison(console: Console, refs: Sequence[str], runs_dir: Path, *, html: Path | None = None) -> Path | None:
    """Print two or more runs side by side; write the comparison page to ``html`` if given.

    Raises:
        RunNotFound: a reference matches no run, several runs, or lies outside ``runs_dir``.
        ConfigError: fewer than two runs were given.
    """
    if len(refs) < 2:
        raise ConfigError(f"compare needs at least two runs (got {len(refs)}): `mlrun compare RUN RUN [RUN ...]`")
    points = [_sweep_point(ref, runs_dir) for ref in refs]
    if any(p is not None for p in points):
        _compare_sweep_points(console, refs, points)
        return None
    runs = [load_run(store.resolve_run(ref, runs_dir, damaged=True), details=False) for ref in refs]
    comparison = compare_runs(runs)
    terminal.print_comparison(console, comparison)
    return markup.write_page(html, page.comparison_page(comparison)) if html is not None else None


def _sweep_point(ref: str, runs_dir: Path) -> SweepPoint | None:
    """The grid point ``ref`` names (``SWEEP`` or ``SWEEP:N``), or None for a run; a run id wins over a sweep id."""
    try:
        if not store.is_sweep_dir(store.resolve_run(ref, runs_dir, sweeps=True, damaged=True)):
            return None
    except RunNotFound:
        pass  # SWEEP:N resolves below, or raises its own message
    return sweep_point_ref(ref, runs_dir)


def _compare_sweep_points(console: Console, refs: Sequence[str], points: Sequence[SweepPoint | None]) -> None:
    """Test two sweeps' best points (or two named points) against each other on their paired fold scores."""
    if len(points) != 2 or any(p is None for p in points):
        raise ConfigError(
            "compare of sweeps takes exactly two sweep references, SWEEP (its best point) or SWEEP:N "
            f"(grid point N), and no runs (got {' '.join(refs)})"
        )
    a, b = points
    assert a is not None and b is not None
    terminal.print_sweep_comparison(console, compare_sweep_points(a, b))
