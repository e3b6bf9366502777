"""Run directories: creating them, the host and process that own one, a run's status, listing runs."""

from __future__ import annotations

import datetime as _dt
import os
import re
import secrets
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun.errors import RunError
from mlrun.store.files import RUN_FILE, disk_full_as_error, read_json

#: Statuses written to run.json. ``crashed`` is never written: it is how a
#: ``running`` run whose process is gone is shown (see :func:`effective_status`).
STATUSES = ("running", "completed", "failed", "interrupted", "diverged")


# --------------------------------------------------------------------------- run directories

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def slugify(name: str) -> str:
    """Turn a free-form run name into a safe path component (at most 40 characters)."""
    slug = _SLUG.sub("-", name).strip("-.")[:40]
    return slug or "run"


def create_run_dir(runs_dir: Path, name: str, *, prefix: str = "") -> Path:
    """Create a new, empty run directory and return its path.

    The id is ``YYYYmmdd-HHMMSS-<name>-<4 hex>``; ``os.mkdir`` fails if the id
    exists, so processes starting in the same second still get distinct ids.
    """
    runs_dir = Path(runs_dir)
    with disk_full_as_error(runs_dir):
        runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for _ in range(100):
        run_id = f"{prefix}{stamp}-{slugify(name)}-{secrets.token_hex(2)}"
        path = runs_dir / run_id
        try:
            with disk_full_as_error(path):
                path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunError(f"could not create a unique run directory in {runs_dir}")


def host_info() -> dict[str, Any]:
    """Return what run.json records about this process to tell later whether it still runs.

    ``pid`` and ``host``, and ``pid_start``: the process's start time (clock
    ticks since boot, from ``/proc/self/stat``; None without procfs), so that
    another process that got the same pid after this one died is not taken
    for it.
    """
    return {"pid": os.getpid(), "host": socket.gethostname(), "pid_start": process_start(os.getpid())}


_PROCFS = Path("/proc/self/stat").exists()


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` from the state on (field 3), or None when there is no such process.

    The command name (field 2) is cut off first: it is in parentheses and may hold spaces.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # FileNotFoundError, or ESRCH when the process goes while being read
        return None
    return text.rsplit(")", 1)[-1].split()


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None where it cannot be read."""
    fields = _proc_stat(pid) if _PROCFS else None
    try:
        return int(fields[19]) if fields else None  # field 22 of /proc/<pid>/stat: starttime
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int, start: int | None = None) -> bool:
    """True while process ``pid`` runs: not gone, not a zombie (exited, not yet reaped), not a recycled pid.

    ``start`` is the start time recorded by :func:`host_info`; a process with
    the same pid but another start time is a different process. Without
    procfs, only ``kill(pid, 0)`` can ask, and a zombie counts as alive there.
    """
    if pid <= 0:
        return False
    if _PROCFS:
        fields = _proc_stat(pid)
        if not fields or fields[0] in ("Z", "X", "x"):  # gone, zombie or dead
            return False
        if start is None or len(fields) < 20 or not fields[19].isdigit():
            return True
        return int(fields[19]) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # e.g. a pid that does not fit this platform's pid_t
        return False
    return True


def effective_status(info: Mapping[str, Any]) -> str:
    """Return the status to show for a run: ``crashed`` when it says running but its process is gone.

    A process that has exited but not been reaped (a zombie), and a pid taken
    over by another process (its start time differs from ``pid_start``), count
    as gone. Only runs started on this host can be checked; others keep their
    written status.
    """
    status = str(info.get("status", "unknown"))
    if status != "running":
        return status
    pid, host, start = info.get("pid"), info.get("host"), info.get("pid_start")
    if (
        isinstance(pid, int)
        and host == socket.gethostname()
        and not pid_alive(pid, start if isinstance(start, int) else None)
    ):
        return "crashed"
    return status


@dataclass(frozen=True)
class RunInfo:
    """A run directory and its run.json, as listed by :func:`list_runs`."""

    path: Path
    info: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def status(self) -> str:
        return effective_status(self.info)


def read_run_info(path: Path) -> dict[str, Any]:
    """Read a run's run.json; raise :class:`RunError` if it is missing, unreadable or not a JSON object."""
    found = _read_info(Path(path))
    if isinstance(found, str):
        raise RunError(f"{path}: {found}")
    return found


def read_whole_run_info(path: Path, *, instead: str) -> dict[str, Any]:
    """Read run.json of a run that stands on its own: a sweep's cross-validation trial does not (its data is
    a held-out fold the sweep chose), so it is refused with ``instead``, what to do.

    Raises:
        RunError: run.json cannot be read, or the run is a cross-validation trial.
    """
    info = read_run_info(path)
    if info.get("fold"):
        raise RunError(f"error: {Path(path).name} is a cross-validation trial of a sweep: {instead}")
    return info


@dataclass(frozen=True)
class SkippedDir:
    """A directory in the runs directory that is not listed as a run, and why (``reason`` names the file)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class RunScan:
    """What :func:`scan_runs` found: the readable runs, and the directories it skipped."""

    runs: list[RunInfo]
    skipped: list[SkippedDir]


def scan_runs(runs_dir: Path) -> RunScan:
    """Read every run directly under ``runs_dir``, oldest id first, and say which directories are not runs.

    A directory whose run.json is missing, damaged or not a JSON object is
    skipped with the reason; sweep directories (they have their own listing)
    and hidden directories are left out silently.
    """
    from mlrun.sweep.files import SWEEP_FILE  # lazy: mlrun.sweep imports this module

    runs: list[RunInfo] = []
    skipped: list[SkippedDir] = []
    for path in _run_dirs(Path(runs_dir)):
        found = _read_info(path)
        if isinstance(found, dict):
            runs.append(RunInfo(path, found))
        elif not (path / SWEEP_FILE).is_file():
            skipped.append(SkippedDir(path, found))
    return RunScan(runs, skipped)


def iter_runs(runs_dir: Path) -> Iterator[RunInfo]:
    """Yield every readable run directly under ``runs_dir``, oldest id first."""
    for path in _run_dirs(Path(runs_dir)):
        found = _read_info(path)
        if isinstance(found, dict):  # else not a run, damaged, or being created right now
            yield RunInfo(path, found)


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Return every readable run directly under ``runs_dir``, oldest id first."""
    return list(iter_runs(runs_dir))


def _run_dirs(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_info(path: Path) -> dict[str, Any] | str:
    """A run directory's run.json as a dict, or what is wrong with it (naming the file)."""
    file = path / RUN_FILE
    try:
        info = read_json(file)
    except FileNotFoundError:
        return f"no {RUN_FILE}: not a run directory, or its {RUN_FILE} was lost"
    except UnicodeDecodeError:
        return f"{RUN_FILE} is not UTF-8 text: the file is damaged"
    except ValueError as exc:
        return f"{RUN_FILE} is not valid JSON ({exc}): the file is damaged or was cut short"
    except OSError as exc:
        return f"{RUN_FILE} could not be read ({exc.strerror or exc})"
    if not isinstance(info, dict):
        return f"{RUN_FILE} holds a JSON {_json_kind(info)}, not an object: the file is damaged"
    return info


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
