"""Interrupts, crashes, zombies, concurrency and reproducibility, with real processes (runs and sweeps)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlrun import store
from mlrun.cli import app
from tests.conftest import ROOT, digits_config

slow = pytest.mark.slow
linux_only = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="zombies and pid start times are read from /proc (Linux)"
)


def start_train(config: Path, runs_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "MLRUN_RUNS_DIR": str(runs_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "mlrun", "train", str(config), "--quiet", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


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


@slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_marks_run_interrupted_and_keeps_history(write_config, tmp_path: Path, sig, code) -> None:
    config = write_config(digits_config(training={"epochs": 5000, "batch_size": 16}))  # on JAX, 500 take 10 s
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


@slow
def test_a_ctrl_c_that_keras_swallows_still_stops_the_run_after_its_epoch(
    write_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keras' pythonify_logs converts each epoch's logs inside a bare ``except:``; a Ctrl-C landing there was lost."""
    from mlrun import interrupts
    from mlrun.config import load_config
    from mlrun.runner import run_experiment
    from mlrun.training import HistoryLogger

    logged = HistoryLogger.on_epoch_end

    def swallowing(self, epoch, logs=None):  # what Keras does when the signal lands in its bare except
        if epoch == 1:
            with contextlib.suppress(KeyboardInterrupt):
                interrupts.on_sigint(signal.SIGINT, None)
        logged(self, epoch, logs)

    monkeypatch.setattr(HistoryLogger, "on_epoch_end", swallowing)
    cfg = load_config(write_config(digits_config(training={"epochs": 50, "batch_size": 64})))
    runs_dir = tmp_path / "runs"
    with interrupts.handled(), pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, runs_dir)
    (run,) = runs_dir.iterdir()
    info = store.read_run_info(run)
    assert info["status"] == "interrupted" and info["epochs_completed"] == 2  # the epoch it came in is kept
    assert len(store.read_csv(run / "history.csv")) == 2


@slow
def test_sigkill_leaves_readable_files_and_shows_crashed(write_config, tmp_path: Path) -> None:
    config = write_config(digits_config(training={"epochs": 500, "batch_size": 16}))
    runs_dir = tmp_path / "killruns"
    proc = start_train(config, runs_dir)
    run = wait_for_epochs(runs_dir, 1, proc)
    start = store.process_start(proc.pid)
    proc.kill()
    proc.wait()
    assert [r.status for r in store.list_runs(runs_dir)] == ["crashed"]
    assert store.read_run_info(run)["pid_start"] == start  # recorded at creation, to tell a recycled pid apart
    assert yaml.safe_load((run / "config.yaml").read_text())["name"] == "digits_test"
    assert all(r["epoch"] for r in store.read_csv(run / "history.csv"))
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


@slow
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


@slow
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


# --------------------------------------------------------------------------- zombies and recycled pids


def running_run(runs_dir: Path, **process) -> Path:
    path = store.create_run_dir(runs_dir, "z")
    store.write_json(
        path / store.RUN_FILE,
        {
            "id": path.name,
            "name": "z",
            "status": "running",
            "started_at": store.now_iso(),
            "host": socket.gethostname(),
            **process,
        },
    )
    return path


def shown_status(runs_dir: Path) -> str:
    [run] = store.list_runs(runs_dir)
    return run.status


@linux_only
def test_a_run_whose_process_is_a_zombie_shows_as_crashed(tmp_path: Path) -> None:
    # A child that has exited but is not reaped yet (its parent, this test, still lives) is a zombie:
    # kill(pid, 0) still succeeds for it, but it will never finish the run.
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        running_run(tmp_path, pid=child.pid, pid_start=store.process_start(child.pid))
        assert shown_status(tmp_path) == "running"
        child.stdin.close()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # wait until it exits, without reaping it
        assert Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        os.kill(child.pid, 0)  # the old check: a zombie still "exists"
        assert shown_status(tmp_path) == "crashed"
    finally:
        child.wait()
    assert shown_status(tmp_path) == "crashed"


@linux_only
def test_a_recycled_pid_does_not_make_a_dead_run_look_alive(tmp_path: Path) -> None:
    me = store.host_info()
    assert isinstance(me["pid_start"], int) and me["pid"] == os.getpid()
    running_run(tmp_path, pid=me["pid"], pid_start=me["pid_start"] - 1)  # the run's process had this pid before us
    assert shown_status(tmp_path) == "crashed"
    for path in tmp_path.iterdir():
        store.write_json(path / store.RUN_FILE, {**store.read_run_info(path), "pid_start": me["pid_start"]})
    assert shown_status(tmp_path) == "running"


def test_a_run_without_a_recorded_start_time_falls_back_to_the_pid(tmp_path: Path) -> None:
    running_run(tmp_path, pid=os.getpid())  # run.json from before pid_start was recorded
    assert shown_status(tmp_path) == "running"


# --------------------------------------------------------------------------- sweeps: interrupt and resume


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (workers, the fork server), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found.update(children)
        todo.extend(children)
    return found


def process_running(pid: int) -> bool:
    return store.pid_alive(pid)


def interrupt_sweep_config() -> dict:
    """2 points x 2 folds on 400 digits: the 1-epoch point finishes at once, the 200-epoch one is still training when the signal comes.

    On TensorFlow with one step per call (about 8 s per long trial): on JAX (the default for this MLP)
    60 epochs of 400 digits took about a second, over before the signal could come.
    """
    block = {"grid": {"training.epochs": [1, 200]}, "cv": {"n_splits": 2}, "refit": False}
    return digits_config(
        dataset={"name": "digits", "scale": 16, "limit": 400},
        training={"epochs": 1, "batch_size": 32},
        runtime={"backend": "tensorflow", "steps_per_execution": 1},
        sweep=block,
    )


def trial_states(sweep_dir: Path) -> dict[str, str]:
    out = {}
    for trial in (sweep_dir / "trials").iterdir():
        try:
            out[trial.name] = store.read_run_info(trial)["status"]
        except Exception:
            out[trial.name] = "missing"
    return out


@slow
@linux_only
@pytest.mark.parametrize("how, code", [("ctrl-c", 130), ("sigterm", 143)])
def test_an_interrupted_sweep_stops_promptly_leaves_no_orphans_and_resumes(
    cli, write_config, tmp_path: Path, how: str, code: int
) -> None:
    config = write_config(interrupt_sweep_config())
    runs_dir = tmp_path / "sweeps"
    command = [
        sys.executable,
        "-m",
        "mlrun",
        "sweep",
        str(config),
        "--runs-dir",
        str(runs_dir),
        "--workers",
        "2",
        "--quiet",
    ]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:  # the short trials are done and the long ones have trained an epoch
            assert proc.poll() is None, proc.communicate()
            long_ones = list(runs_dir.glob("*/trials/p001-*/history.csv"))
            states = trial_states(next(runs_dir.glob("*-sweep-*"))) if long_ones else {}
            if len(long_ones) == 2 and list(states.values()).count("completed") == 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the sweep did not get to its long trials in time")
        tree = descendants(proc.pid)
        assert tree, "no worker processes found"
        signalled = time.time()
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the sweep and its workers get it
        else:
            proc.send_signal(signal.SIGTERM)  # kill PID: only the sweep process gets it
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == code, err
    stopped_after = time.time() - signalled
    assert stopped_after < 20, f"the sweep took {stopped_after:.1f} s to stop"
    assert "Traceback" not in err and ("interrupted (Ctrl-C)" if how == "ctrl-c" else "terminated (SIGTERM)") in err

    deadline = time.time() + 10
    while any(process_running(p) for p in tree) and time.time() < deadline:
        time.sleep(0.1)
    assert not [p for p in tree if process_running(p)], "worker processes outlived the sweep"

    sweep_dir = next(runs_dir.glob("*-sweep-*"))
    info = json.loads((sweep_dir / "sweep.json").read_text())
    assert info["status"] == "interrupted" and info["ended_at"]
    assert info["trials"]["total"] == 4 and info["trials"]["done"] == 2
    states = trial_states(sweep_dir)
    assert sorted(states.values()) == ["completed", "completed", "interrupted", "interrupted"], states
    for trial in (sweep_dir / "trials").iterdir():  # every file whole: no temporary files, every JSON readable
        assert not [p.name for p in trial.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]
        for path in trial.glob("*.json"):
            json.loads(path.read_text())
        rows = store.read_csv(trial / "history.csv")
        assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    if how == "sigterm":
        return

    # Running it again resumes: the finished trials are kept, the interrupted ones train again.
    kept = {p: (p / "run.json").read_bytes() for p in (sweep_dir / "trials").iterdir() if states[p.name] == "completed"}
    result = cli.invoke(
        app, ["sweep", str(config), "--runs-dir", str(runs_dir), "--workers", "2", "--quiet"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "2 trials run, 2 already done, 0 failed" in result.output
    assert {p: (p / "run.json").read_bytes() for p in kept} == kept
    assert set(trial_states(sweep_dir).values()) == {"completed"}
    rows = store.read_csv(sweep_dir / "results.csv")
    assert [r["training.epochs"] for r in rows] == ["1", "200"] and all(r["rank"] for r in rows)
    assert all(r["val_accuracy_fold0"] and r["val_accuracy_fold1"] for r in rows)
    assert json.loads((sweep_dir / "sweep.json").read_text())["status"] == "completed"
