"""Shared fixtures: an isolated runs directory, the offline data directory, a CLI runner."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SHARED_DATA = ROOT.parent / "shared" / "datasets"

# Property tests (tests/test_fuzz.py): `ci` is the default, reproducible and fast; `long` searches much further:
#   pytest tests/test_fuzz.py --hypothesis-profile=long
settings.register_profile(
    "ci", max_examples=80, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

# The offline MNIST copy beside the project (CI sets MLRUN_DATA_DIR to it as well).
if SHARED_DATA.is_dir():
    os.environ.setdefault("MLRUN_DATA_DIR", str(SHARED_DATA))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own runs directory."""
    monkeypatch.setenv("MLRUN_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config mapping (or YAML text) to a file and return its path."""

    def write(content: dict | str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path

    return write


def heteroscedastic_csv(path: Path, n: int, seed: int = 0) -> Path:
    """Regression data with known noise, which a Gaussian head can learn: y = x + N(0, (0.1 + 0.5|x|)²)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    y = x + rng.normal(0.0, 0.1 + 0.5 * np.abs(x))
    np.savetxt(path, np.c_[x, y], delimiter=",", header="x,y", comments="", fmt="%.6f")
    return path


def digits_config(**changes) -> dict:
    """A small, fast digits MLP config; keyword arguments replace top-level blocks."""
    cfg = {
        "name": "digits_test",
        "seed": 1,
        "dataset": {"name": "digits", "scale": 16, "validation_split": 0.2},
        "model": {"architecture": "mlp", "hidden_units": [32], "activation": "relu"},
        "loss": "sparse_categorical_crossentropy",
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "training": {"epochs": 3, "batch_size": 64},
        "metrics": ["accuracy"],
    }
    cfg.update(changes)
    return cfg


def minimal_config(dataset: dict) -> dict:
    """The smallest config around a ``dataset`` block: for tests of how the block validates."""
    return {
        "name": "t",
        "dataset": dataset,
        "model": {"architecture": "mlp", "hidden_units": [4]},
        "loss": "binary_crossentropy",
    }


def mnist_available() -> bool:
    d = os.environ.get("MLRUN_DATA_DIR")
    return bool(d) and (Path(d) / "mnist.npz").is_file()


#: Skips a test that needs the offline mnist.npz on a developer machine without it; in CI it must run.
requires_mnist = pytest.mark.skipif(
    not mnist_available() and not os.environ.get("CI"),
    reason="needs mnist.npz in $MLRUN_DATA_DIR (CI points it at ../shared/datasets)",
)


def descendants(pid: int) -> list[int]:
    """The pids of every process below ``pid`` (Linux's /proc; [] where there is none)."""
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids = [int(c) for c in children.read_text().split()]
        except OSError:  # the thread or process ended meanwhile
            continue
        for kid in kids:
            found += [kid, *descendants(kid)]
    return found


def kill_after_finished_trials(
    proc: subprocess.Popen, runs_dir: Path, n: int, *, timeout: float, children: list[int] | None = None
) -> list[Path]:
    """SIGKILL a running ``mlrun sweep`` once ``n`` of its trials have completed; return the completed trial dirs.

    ``children``, when given, gets the pids of the sweep's processes (workers, helpers) as they were at the kill.
    """
    from mlrun import store

    def completed() -> list[Path]:
        return [
            p.parent
            for p in runs_dir.glob("*/trials/*/run.json")
            if store.read_run_info(p.parent)["status"] == "completed"
        ]

    deadline = time.time() + timeout
    while len(completed()) < n and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    if children is not None:
        children += descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.5)  # workers notice their parent is gone within half a second; one may finish its trial first
    return completed()  # read again: a fast trial may have completed between the last look and the kill
