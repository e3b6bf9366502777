"""Two `mlrun sweep` processes on the same sweep: trials are claimed, none is trained twice, both end complete."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlrun import store
from mlrun.sweep.claims import Claims
from tests.conftest import ROOT, digits_config


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def write_claim(claims: Claims, name: str, **record) -> None:
    claims.dir.mkdir(parents=True, exist_ok=True)
    claims.path(name).write_text(json.dumps(record))


def test_a_trial_is_claimed_once_while_its_owner_lives(tmp_path: Path) -> None:
    mine, other = Claims(tmp_path), Claims(tmp_path)  # two invocations (here: in one live process)
    assert mine.state("p000-f0-a") == "free"
    assert mine.claim("p000-f0-a", done=lambda: False)
    assert not other.claim("p000-f0-a", done=lambda: False) and other.state("p000-f0-a") == "running"
    mine.release("p000-f0-a", "failed")
    assert other.state("p000-f0-a") == "ended"  # its owner still runs: a failed trial is not tried again meanwhile
    assert not other.claim("p000-f1-b", done=lambda: True)  # a finished trial is never claimed
    assert not (tmp_path / "claims" / "p000-f1-b.json").exists()


@pytest.mark.parametrize(
    "ended, claimed_before_start, state",
    [
        (None, True, "free"),  # killed mid-trial by an earlier run: take it over
        (None, False, "free"),  # killed mid-trial while this invocation ran: take it over
        ("failed", True, "free"),  # failed in an earlier run: a resume trains it again
        ("failed", False, "ended"),  # failed while this invocation ran: not trained twice
    ],
)
def test_a_claim_of_a_dead_process(tmp_path: Path, ended: str | None, claimed_before_start: bool, state: str) -> None:
    started = time.time()
    claims = Claims(tmp_path, started=started)
    claimed_at = started - 60 if claimed_before_start else started + 1
    record = {**store.host_info(), "pid": dead_pid(), "claimed_at": claimed_at}
    write_claim(claims, "p001-f0-c", **record, **({"ended": ended} if ended else {}))
    assert claims.state("p001-f0-c") == state
    assert claims.claim("p001-f0-c", done=lambda: False) == (state == "free")


def test_a_claim_of_another_host_counts_as_live(tmp_path: Path) -> None:
    claims = Claims(tmp_path)
    write_claim(claims, "p002-f0-d", host="elsewhere.example", pid=dead_pid(), pid_start=1, claimed_at=0)
    assert claims.state("p002-f0-d") == "running"


@pytest.mark.slow
def test_two_sweep_processes_on_one_sweep_train_each_trial_once(write_config, tmp_path: Path) -> None:
    block = {
        "grid": {"optimizer.learning_rate": [0.01, 0.003], "model.hidden_units": [[8], [16]]},
        "cv": {"n_splits": 2},
        "refit": True,
    }
    config = write_config(digits_config(training={"epochs": 2, "batch_size": 64}, sweep=block))
    runs_dir = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "250"}
    command = [sys.executable, "-m", "mlrun", "sweep", str(config), "--runs-dir", str(runs_dir), "--workers", "1"]
    procs = [
        subprocess.Popen([*command, "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=540)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out
        assert "Traceback" not in out
    ran = [int(re.search(r"completed; (\d+) trials run, \d+ already done", out).group(1)) for out in outputs]
    assert sum(ran) == 8, outputs  # 4 points x 2 folds, each trained by exactly one of the two

    (sweep_dir,) = [p for p in runs_dir.iterdir() if (p / "sweep.json").is_file()]
    trials = sorted((sweep_dir / "trials").iterdir())
    assert len(trials) == 8 and all(store.read_run_info(t)["status"] == "completed" for t in trials)
    claims = [json.loads((sweep_dir / "claims" / f"{t.name}.json").read_text()) for t in trials]
    assert {c["ended"] for c in claims} == {"completed"}  # one claim per trial, by the process that trained it
    assert {c["pid"] for c in claims} <= {p.pid for p in procs}
    assert store.read_run_info(sweep_dir / "refit")["status"] == "completed"

    info = json.loads((sweep_dir / "sweep.json").read_text())
    assert info["status"] == "completed" and info["trials"] == {"total": 8, "done": 8, "failed": 0, "pending": 0}
    with (sweep_dir / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and sorted(int(r["rank"]) for r in rows)[0] == 1
    assert all(float(r["val_accuracy_fold0"]) > 0 and float(r["val_accuracy_fold1"]) > 0 for r in rows)
