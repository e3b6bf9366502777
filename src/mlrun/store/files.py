"""The files of a run directory: their names, atomic writes, reading them back, the per-epoch history."""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import errno
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mlrun.errors import DiskFullError

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
PACKAGES_FILE = "packages.txt"


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

    A reader (or a crash) sees either the old file or the whole new one, never half of it;
    the temporary file is removed when anything fails.

    Raises:
        DiskFullError: the disk or the quota is full (the temporary file is gone).
    """
    path = Path(path)
    with disk_full_as_error(path):
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


#: The errno values that mean "no room left": the disk, or the user's quota.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, is an OSError for a full disk or quota."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL:
            return True
        current = current.__cause__ or current.__context__
    return False


def disk_full_message(path: Path, exc: BaseException) -> str:
    """The message of a write that failed on a full disk: which file, the OS error, what to do."""
    return (
        f"error: no space left on device writing {path}: {exc}; "
        f"free some space on the disk holding {Path(path).parent} (or use another --runs-dir) and run again"
    )


@contextlib.contextmanager
def disk_full_as_error(path: Path) -> Iterator[None]:
    """Turn an OSError for a full disk (or one raised from it, e.g. by Keras) into :class:`DiskFullError`."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise DiskFullError(disk_full_message(path, exc)) from exc


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
        """Write the row for ``epoch`` (1-based) with the values in ``logs``.

        Raises:
            DiskFullError: the disk is full; the file is cut back to its last whole row.
        """
        keys = sorted(logs) if self._keys is None else self._keys
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if self._keys is None:
            writer.writerow(["epoch", *keys])
        writer.writerow([epoch, *(_history_cell(logs.get(k)) for k in keys)])
        with disk_full_as_error(self.path):
            _append_whole(self.path, buf.getvalue().encode("utf-8"))
        self._keys = keys


def _append_whole(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` and fsync it; on failure cut the file back, so no partial row stays."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        end = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)  # shrinking needs no space
            raise
    finally:
        os.close(fd)


def _history_cell(value: Any) -> str:
    """A logged value as history.csv holds it: every digit of the float, empty when absent."""
    if value is None:
        return ""
    return repr(float(value))
