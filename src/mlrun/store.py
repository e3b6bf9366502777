"""The runs directory: create run directories, write files atomically, read and list runs.

A run directory is a plain folder a person can read::

    runs/<run_id>/
      config.yaml           fully resolved config
      run.json              identity, status, times, versions, dataset fingerprint
      history.csv           one row per finished epoch, appended and flushed
      metrics.json          test-set metrics
      confusion_matrix.csv  classification only
      roc_curve.csv, pr_curve.csv
      predictions.csv
      model.keras, summary.txt, preprocessing.json
      calibration.csv       binary and multiclass: reliability bins behind metrics.json's ece
      weights.json          single-layer models (perceptron, linear): learned weights and bias

Nothing here imports Keras: listing and reporting runs must stay fast.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import re
import secrets
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlrun.errors import RunError, RunNotFound

RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
CONFUSION_FILE = "confusion_matrix.csv"
ROC_FILE = "roc_curve.csv"
PR_FILE = "pr_curve.csv"
PREDICTIONS_FILE = "predictions.csv"
MODEL_FILE = "model.keras"
SUMMARY_FILE = "summary.txt"
PREPROCESSING_FILE = "preprocessing.json"
CALIBRATION_FILE = "calibration.csv"
WEIGHTS_FILE = "weights.json"
DATA_FILE = "data.json"
SAMPLES_FILE = "samples.npz"

#: Statuses written to run.json. ``crashed`` is never written: it is how a
#: ``running`` run whose process is gone is shown (see :func:`effective_status`).
STATUSES = ("running", "completed", "failed", "interrupted", "diverged")


def default_runs_dir() -> Path:
    """Return ``$MLRUN_RUNS_DIR`` if set, else ``./runs``."""
    return Path(os.environ.get("MLRUN_RUNS_DIR") or "runs")


def now_iso() -> str:
    """Return the current local time as an ISO 8601 string with offset, to the second."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


# --------------------------------------------------------------------------- atomic writes


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place.

    A reader (or a crash) sees either the old file or the whole new one, never half of it.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        if isinstance(data, bytes):
            with os.fdopen(fd, "wb") as fb:
                fb.write(data)
                fb.flush()
                os.fsync(fb.fileno())
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as ft:
                ft.write(data)
                ft.flush()
                os.fsync(ft.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays, Paths: written as plain JSON values.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _nan_to_none(value: Any) -> Any:
    """Replace NaN and infinities by None, recursively: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically. NaN and infinities become ``null``."""
    text = json.dumps(_nan_to_none(json.loads(json.dumps(data, default=_json_default))), indent=2)
    write_atomic(path, text + "\n")


def write_yaml(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as block-style YAML in insertion order, atomically."""
    write_atomic(path, yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True))


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write a CSV file with a header row, atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(path, buf.getvalue())


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_csv(path: Path) -> list[dict[str, str]]:
    """Read a CSV file with a header row into a list of dicts (values stay strings)."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- history


class HistoryWriter:
    """Append one row per finished epoch to ``history.csv`` and flush it to disk.

    The header is fixed by the first row (``epoch`` then the sorted log keys),
    like Keras' ``CSVLogger``; a killed run keeps every epoch it finished.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._keys: list[str] | None = None

    def append(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Write the row for ``epoch`` (1-based) with the values in ``logs``."""
        new = self._keys is None
        keys = self._keys = sorted(logs) if self._keys is None else self._keys
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            if new:
                writer.writerow(["epoch", *keys])
            writer.writerow([epoch, *(_history_cell(logs.get(k)) for k in keys)])
            f.flush()
            os.fsync(f.fileno())


def _history_cell(value: Any) -> str:
    """A logged value as history.csv holds it: every digit of the float, empty when absent."""
    if value is None:
        return ""
    return repr(float(value))


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


def _pid_alive(pid: int, start: int | None = None) -> bool:
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
        and not _pid_alive(pid, start if isinstance(start, int) else None)
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


def resolve_run(ref: str, runs_dir: Path, *, sweeps: bool = False) -> Path:
    """Resolve a run reference to a run directory: the one place that decides what RUN means.

    ``ref`` is a run id, a unique prefix of one, ``latest`` (the newest run),
    or a path to a run directory. With ``sweeps``, a reference no run matches
    may name a sweep directory instead (see :func:`is_sweep_dir`): by path, or
    by its id or a unique prefix, directly in ``runs_dir`` or one level down.

    Raises:
        RunNotFound: nothing matches, several runs match, or ``ref`` points
            outside ``runs_dir`` without being a real run directory.
    """
    runs_dir = Path(runs_dir)
    try:
        return _resolve_run_dir(ref, runs_dir)
    except RunNotFound:
        sweep = _resolve_sweep_dir(ref, runs_dir) if sweeps else None
        if sweep is None:
            raise
        return sweep


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
