"""A full disk: the write that fails says which file and what to do, and nothing is left half written.

The error is injected where the bytes reach the disk (``os.fsync`` on the
file's descriptor, or the model's save), so every layer above it runs as it
would on a real full disk.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlrun import store
from mlrun.artifacts import save_model
from mlrun.cli import app
from mlrun.errors import DiskFullError
from tests.conftest import digits_config


class Disk:
    """A disk that can be made full for one file name: fsync of that file (or its temporary file) fails."""

    def __init__(self) -> None:
        self.full_for: str | None = None

    def fsync(self, fd: int) -> None:
        written = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        name = self.full_for
        if name is not None and (written == name or written.startswith(f".{name}.")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        _REAL_FSYNC(fd)


_REAL_FSYNC = os.fsync


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    found = Disk()
    monkeypatch.setattr(os, "fsync", found.fsync)
    return found


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp")


def test_write_atomic_on_a_full_disk_keeps_the_old_file_and_no_temporary(tmp_path: Path, disk: Disk) -> None:
    target = tmp_path / "metrics.json"
    store.write_json(target, {"accuracy": 0.5})
    disk.full_for = "metrics.json"
    with pytest.raises(DiskFullError, match=r"no space left on device writing .*metrics\.json: .*free some space"):
        store.write_json(target, {"accuracy": 0.9})
    assert store.read_json(target) == {"accuracy": 0.5}
    assert leftovers(tmp_path) == []


def test_history_on_a_full_disk_keeps_only_whole_rows(tmp_path: Path, disk: Disk) -> None:
    path = tmp_path / store.HISTORY_FILE
    writer = store.HistoryWriter(path)
    writer.append(1, {"loss": 0.5, "accuracy": 0.75})
    before = path.read_bytes()
    disk.full_for = store.HISTORY_FILE
    with pytest.raises(DiskFullError, match=r"writing .*history\.csv"):
        writer.append(2, {"loss": 0.25, "accuracy": 0.875})
    assert path.read_bytes() == before


class _ModelOnAFullDisk:
    """A model whose save writes part of the file, then hits a full disk (as Keras' zip writer would)."""

    def save(self, path: Path) -> None:
        Path(path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_save_model_on_a_full_disk_leaves_no_partial_model(tmp_path: Path) -> None:
    with pytest.raises(DiskFullError, match=r"writing .*model\.keras: \[Errno 28\]"):
        save_model(_ModelOnAFullDisk(), tmp_path / store.MODEL_FILE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("full_at", [store.HISTORY_FILE, store.METRICS_FILE])
def test_a_run_on_a_full_disk_fails_cleanly_and_the_next_one_completes(
    cli: CliRunner, write_config, runs_dir: Path, disk: Disk, full_at: str
) -> None:
    config = write_config(digits_config(training={"epochs": 2, "batch_size": 64}))
    disk.full_for = full_at
    result = cli.invoke(app, ["train", str(config), "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"error: no space left on device writing {runs_dir}" in result.output
    assert full_at in result.output and "free some space" in result.output
    (failed,) = runs_dir.iterdir()
    info = store.read_json(failed / store.RUN_FILE)
    assert info["status"] == "failed" and "[Errno 28] No space left on device" in info["error"]
    assert full_at in info["error"]
    assert leftovers(runs_dir) == []
    if full_at == store.METRICS_FILE:
        assert not (failed / store.METRICS_FILE).exists()

    disk.full_for = None  # space freed: the same command now completes
    result = cli.invoke(app, ["train", str(config), "--quiet"])
    assert result.exit_code == 0, result.output
    done = sorted(set(runs_dir.iterdir()) - {failed})
    assert len(done) == 1 and store.read_json(done[0] / store.RUN_FILE)["status"] == "completed"
