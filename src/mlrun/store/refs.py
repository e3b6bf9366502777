"""What RUN means on the command line: a run id, a unique prefix, ``latest``, a path, or a sweep."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mlrun.errors import RunError, RunNotFound
from mlrun.store.files import RUN_FILE
from mlrun.store.runs import iter_runs


def resolve_run(ref: str, runs_dir: Path, *, sweeps: bool = False, damaged: bool = False) -> Path:
    """Resolve a run reference to a run directory: the one place that decides what RUN means.

    ``ref`` is a run id, a unique prefix of one, ``latest`` (the newest run),
    or a path to a run directory. With ``sweeps``, a reference no run matches
    may name a sweep directory instead (see :func:`is_sweep_dir`): by path, or
    by its id or a unique prefix, directly in ``runs_dir`` or one level down.
    With ``damaged``, a directory of ``runs_dir`` that has lost its run.json is
    returned too (a report shows what is left); else it is an error.

    Raises:
        RunNotFound: nothing matches, several runs match, or ``ref`` points
            outside ``runs_dir`` without being a real run directory.
        RunError: ``ref`` names a directory of ``runs_dir`` without run.json (unless ``damaged``).
    """
    runs_dir = Path(runs_dir)
    try:
        return _resolve_run_dir(ref, runs_dir)
    except RunNotFound:
        sweep = _resolve_sweep_dir(ref, runs_dir) if sweeps else None
        if sweep is not None:
            return sweep
        lost = _damaged_run_dir(ref, runs_dir)
        if lost is None:
            raise
        if damaged:
            return lost
        raise RunError(
            f"{lost}: no {RUN_FILE}: not a run directory, or its {RUN_FILE} was lost "
            "(the run's other files are still there; `mlrun runs` lists the readable runs)"
        ) from None


def _damaged_run_dir(ref: str, runs_dir: Path) -> Path | None:
    """The directory of ``runs_dir`` that ``ref`` names (by path, id or unique prefix) when it has no run.json."""
    if not runs_dir.is_dir():
        return None
    if _is_path_ref(ref):
        target = Path(ref).resolve()
        return target if target.is_dir() and target.parent == runs_dir.resolve() else None
    if ref == "latest":
        return None
    found = [p for p in runs_dir.glob(f"{glob_escape(ref)}*") if p.is_dir() and not p.name.startswith(".")]
    exact = [p for p in found if p.name == ref]
    return exact[0] if exact else (found[0] if len(found) == 1 else None)


def is_sweep_dir(path: Path) -> bool:
    """Return True when ``path`` holds a sweep (sweep.json and results.csv) rather than a run."""
    from mlrun.sweep.files import RESULTS_CSV, SWEEP_FILE  # lazy: mlrun.sweep imports this module

    path = Path(path)
    return (path / SWEEP_FILE).is_file() and (path / RESULTS_CSV).is_file()


def _is_path_ref(ref: str) -> bool:
    candidate = Path(ref)
    return candidate.is_absolute() or len(candidate.parts) > 1 or ref.startswith(".")


def _accepted_path(ref: str, runs_dir: Path, is_target: Callable[[Path], bool]) -> Path | None:
    """``ref``'s directory if ``is_target`` accepts it, and it does not climb out of ``runs_dir`` with ".."."""
    candidate = Path(ref)
    root, target = runs_dir.resolve(), candidate.resolve()
    inside = target == root or root in target.parents
    # A path may climb out of the runs directory with ".." only if it lands back inside it.
    return target if is_target(target) and (inside or ".." not in candidate.parts) else None


def _is_run_dir(path: Path) -> bool:
    return (path / RUN_FILE).is_file()


def _resolve_run_dir(ref: str, runs_dir: Path) -> Path:
    if ref == "latest":
        runs = list(iter_runs(runs_dir))
        if not runs:
            raise RunNotFound(f"no runs in {runs_dir} yet: train one with `mlrun train CONFIG`")
        return max(runs, key=lambda r: (str(r.info.get("started_at", "")), r.run_id)).path
    if _is_path_ref(ref):
        found = _accepted_path(ref, runs_dir, _is_run_dir)
        if found is None:
            raise RunNotFound(
                f"{ref!r} is not a run directory in {runs_dir}: give a run id, a unique prefix "
                "of one, `latest`, or the path of a run directory"
            )
        return found
    matches = sorted(p for p in runs_dir.glob(f"{glob_escape(ref)}*") if _is_run_dir(p))
    exact = [p for p in matches if p.name == ref]
    if exact:
        return exact[0]
    if not matches:
        raise RunNotFound(f"no run matches {ref!r} in {runs_dir} (see `mlrun runs`)")
    if len(matches) > 1:
        listing = "\n".join(f"  {p.name}" for p in matches[:20])
        more = f"\n  ... and {len(matches) - 20} more" if len(matches) > 20 else ""
        raise RunNotFound(f"{ref!r} matches {len(matches)} runs; give more of the id:\n{listing}{more}")
    return matches[0]


def _resolve_sweep_dir(ref: str, runs_dir: Path) -> Path | None:
    """The sweep directory ``ref`` names, or None (``latest`` and ambiguous prefixes name none)."""
    if _is_path_ref(ref):
        return _accepted_path(ref, runs_dir, is_sweep_dir)
    if ref == "latest" or not runs_dir.is_dir():
        return None
    pattern = f"{glob_escape(ref)}*"
    found = sorted({*runs_dir.glob(pattern), *runs_dir.glob(f"*/{pattern}")})
    matches = [p for p in found if p.is_dir() and is_sweep_dir(p)]
    exact = [p for p in matches if p.name == ref]
    if exact:
        return exact[0]
    return matches[0] if len(matches) == 1 else None


def glob_escape(text: str) -> str:
    """Escape glob metacharacters so ``text`` matches literally."""
    return re.sub(r"([*?\[])", r"[\1]", text)
