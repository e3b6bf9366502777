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
from mlrun.store.files import RUN_FILE, read_json

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
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for _ in range(100):
        run_id = f"{prefix}{stamp}-{slugify(name)}-{secrets.token_hex(2)}"
        path = runs_dir / run_id
        try:
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
    """Read a run's run.json; raise :class:`RunError` if it is missing or unreadable."""
    try:
        return read_json(Path(path) / RUN_FILE)
    except FileNotFoundError:
        raise RunError(f"{path} is not a run directory (no {RUN_FILE})") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot read {Path(path) / RUN_FILE}: {exc}") from None


def iter_runs(runs_dir: Path) -> Iterator[RunInfo]:
    """Yield every readable run directly under ``runs_dir``, oldest id first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            info = read_json(path / RUN_FILE)
        except (OSError, ValueError):
            continue  # not a run, or being created right now
        yield RunInfo(path, info)


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Return every readable run directly under ``runs_dir``, oldest id first."""
    return list(iter_runs(runs_dir))
