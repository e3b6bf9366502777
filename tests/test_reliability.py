"""Interrupts, concurrency and reproducibility, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlrun import store
from tests.conftest import digits_config

pytestmark = pytest.mark.slow


def start_train(config: Path, runs_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "MLRUN_RUNS_DIR": str(runs_dir)}
    return subprocess.Popen([sys.executable, "-m", "mlrun", "train", str(config), "--quiet", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_epochs(runs_dir: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        for run in runs_dir.glob("*/history.csv"):
            if len(run.read_text().splitlines()) > n:
                return run.parent
        time.sleep(0.1)
    proc.kill()
    pytest.fail("training did not reach the epoch in time")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_marks_run_interrupted_and_keeps_history(write_config, tmp_path: Path, sig, code) -> None:
    config = write_config(digits_config(training={"epochs": 500, "batch_size": 16}))
    runs_dir = tmp_path / "sigruns"
    proc = start_train(config, runs_dir)
    run = wait_for_epochs(runs_dir, 2, proc)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)  # promptly
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("mlrun did not exit within 30 s of the signal")
    assert proc.returncode == code, err
    assert "Traceback" not in err
    info = store.read_run_info(run)
    assert info["status"] == "interrupted" and info["ended_at"]
    rows = store.read_csv(run / "history.csv")
    assert len(rows) >= 2 and len(rows) == info["epochs_completed"]
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))


def test_sigkill_leaves_readable_files_and_shows_crashed(write_config, tmp_path: Path) -> None:
    config = write_config(digits_config(training={"epochs": 500, "batch_size": 16}))
    runs_dir = tmp_path / "killruns"
    proc = start_train(config, runs_dir)
    run = wait_for_epochs(runs_dir, 1, proc)
    proc.kill()
    proc.wait()
    assert [r.status for r in store.list_runs(runs_dir)] == ["crashed"]
    assert yaml.safe_load((run / "config.yaml").read_text())["name"] == "digits_test"
    assert all(r["epoch"] for r in store.read_csv(run / "history.csv"))
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_parallel_trainings_get_distinct_complete_runs(write_config, tmp_path: Path) -> None:
    config = write_config(digits_config(training={"epochs": 2, "batch_size": 64}))
    runs_dir = tmp_path / "parallel"
    procs = [start_train(config, runs_dir) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    runs = store.list_runs(runs_dir)
    assert len({r.run_id for r in runs}) == 3
    for r in runs:
        assert r.status == "completed"
        assert {"metrics.json", "model.keras", "predictions.csv"} <= {p.name for p in r.path.iterdir()}


def test_deterministic_runs_are_identical(write_config, tmp_path: Path) -> None:
    config = write_config(digits_config(training={"epochs": 3, "batch_size": 32}, runtime={"deterministic": True}))
    runs_dir = tmp_path / "det"
    for _ in range(2):
        p = start_train(config, runs_dir)
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    a, b = sorted(runs_dir.iterdir())
    assert (a / "history.csv").read_text() == (b / "history.csv").read_text()
    assert (a / "metrics.json").read_text() == (b / "metrics.json").read_text()
