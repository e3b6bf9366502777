"""`mlrun sweep --backend ray --retries N` on a real two-node Ray cluster started by the test: a trial whose
worker process is killed is retried and not lost; a trial that fails by itself (divergence) is not retried."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrun import store
from tests.conftest import ROOT, digits_config
from tests.test_sweep import diverging_config, requires_ray

pytestmark = [requires_ray, pytest.mark.slow]

#: Token authentication: Ray 2.60's `ray start` may require it for a joining node (and then for the driver).
RAY_ENV = {**os.environ, "RAY_AUTH_MODE": "token", "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "250"}


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        pid, ppid, *args = line.split(None, 2)
        table[int(pid)] = (int(ppid), args[0] if args else "")
    return table


def descendants(roots: set[int]) -> set[int]:
    table, found = processes(), set(roots)
    while True:
        more = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        if not more:
            return found
        found |= more


def ray_start(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ray", "start", "--disable-usage-stats", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", *args],
        env=RAY_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head node and a second node joining it, on 127.0.0.1; stopped afterwards, always.

    Teardown ends the processes this fixture started (and their children) by pid rather than with
    `ray stop`, which would also stop any other Ray instance on the machine.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="mlrt-", dir="/tmp")  # short: Ray's socket paths must stay under 108 bytes
    before = set(processes())
    try:
        head = ray_start("--head", "--port", str(port), "--include-dashboard=false", "--temp-dir", temp)
        assert head.returncode == 0, head.stdout + head.stderr
        joined = ray_start("--address", f"127.0.0.1:{port}")
        assert joined.returncode == 0, joined.stdout + joined.stderr
        yield f"127.0.0.1:{port}"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # looked up again each round: Ray's helpers start late
            table = processes()
            ours = {
                pid for pid, (_, args) in table.items() if pid not in before and ("ray" in args.lower() or temp in args)
            }
            for pid in descendants(ours):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(3)
        shutil.rmtree(temp, ignore_errors=True)


def sweep(config: Path, runs_dir: Path, address: str, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "mlrun", "sweep", str(config), "--runs-dir", str(runs_dir), "--quiet"]
    command += ["--backend", "ray", "--ray-address", address, "--set", "sweep.refit=false", *args]
    return subprocess.Popen(command, env=RAY_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def trials(runs_dir: Path) -> list[Path]:
    (sweep_dir,) = [p for p in runs_dir.iterdir() if (p / "sweep.json").is_file()]
    return sorted((sweep_dir / "trials").iterdir())


def test_a_trial_whose_ray_worker_is_killed_is_retried(write_config, tmp_path: Path, ray_cluster: str) -> None:
    block = {"grid": {"model.hidden_units": [[8], [16]]}, "cv": {"n_splits": 2}}
    config = write_config(digits_config(training={"epochs": 40, "batch_size": 16}, sweep=block))
    proc = sweep(config, tmp_path / "runs", ray_cluster, "--workers", "2", "--retries", "1")
    killed = None
    deadline = time.time() + 300
    while killed is None and time.time() < deadline and proc.poll() is None:
        running = [pid for pid, (_, args) in processes().items() if args.startswith("ray::run_trial_packed")]
        if running:
            time.sleep(2)  # mid-trial: TensorFlow imported, training
            os.kill(running[0], signal.SIGKILL)
            killed = running[0]
        time.sleep(0.2)
    out = proc.communicate(timeout=540)[0]
    assert killed is not None, out
    assert proc.returncode == 0, out
    done = trials(tmp_path / "runs")
    assert len(done) == 4 and all(store.read_run_info(t)["status"] == "completed" for t in done), out
    attempts = sorted(json.loads((t / "trial.json").read_text())["attempts"] for t in done)
    assert attempts == [1, 1, 1, 2]  # the killed trial ran again, once; the others once
    assert "4 trials run, 0 already done, 0 failed" in out


def test_a_diverging_trial_is_not_retried(write_config, tmp_path: Path, ray_cluster: str) -> None:
    config = write_config(diverging_config(grid={"optimizer.learning_rate": [1e6, 0.01]}))
    proc = sweep(config, tmp_path / "runs", ray_cluster, "--retries", "2")
    out = proc.communicate(timeout=540)[0]
    assert proc.returncode == 1, out
    states = {
        store.read_run_info(t)["status"]: json.loads((t / "trial.json").read_text()) for t in trials(tmp_path / "runs")
    }
    assert set(states) == {"diverged", "completed"}, out
    assert states["diverged"]["attempts"] == 1 and states["completed"]["attempts"] == 1
