"""``runtime: {backend: auto, steps_per_execution: auto}``: the rule, what runs records, identical results, sweep workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlrun import runtime_choice
from mlrun.config import evolve, validate_config
from mlrun.runtime_choice import choose_backend, steps_per_execution
from tests.conftest import ROOT, digits_config

CNN = {
    "architecture": "cnn",
    "layers": [{"type": "conv2d", "filters": 4, "kernel_size": 3}, {"type": "flatten"}],
}


def _cfg(**changes):
    return validate_config(digits_config(**changes))


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without GPU, with both backends installed and no Keras imported yet."""
    monkeypatch.setattr(runtime_choice, "gpu_present", lambda: False)
    monkeypatch.setattr(runtime_choice, "installed", lambda backend: True)
    monkeypatch.setattr(runtime_choice, "_loaded_backend", lambda: None)


# --------------------------------------------------------------------------- the rule


def test_auto_picks_jax_for_dense_networks_and_tensorflow_for_convolutions_on_a_cpu(cpu_only) -> None:
    dense = choose_backend(_cfg())
    assert dense.backend == "jax" and dense.reason.startswith("auto: no convolutions") and dense.note is None
    conv = choose_backend(_cfg(model=CNN))
    assert conv.backend == "tensorflow" and "convolutions" in conv.reason
    assert choose_backend(_cfg(model={"architecture": "mlp", "hidden_units": []})).backend == "jax"


def test_an_explicit_backend_always_wins(cpu_only, monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_backend(_cfg(model=CNN, runtime={"backend": "jax"})).backend == "jax"
    monkeypatch.setattr(runtime_choice, "gpu_present", lambda: True)
    chosen = choose_backend(_cfg(runtime={"backend": "jax"}))
    assert (chosen.backend, chosen.reason) == ("jax", "runtime.backend in the config")


@pytest.mark.parametrize(
    ("runtime", "why"),
    [
        ({"distribution": "mirrored"}, "tf.distribute"),
        ({"input_pipeline": "tf_data"}, "tf_data"),
        ({"mixed_precision": True}, "GPU"),
    ],
)
def test_tensorflow_only_features_pick_tensorflow(cpu_only, runtime: dict, why: str) -> None:
    chosen = choose_backend(_cfg(runtime=runtime))
    assert chosen.backend == "tensorflow" and why in chosen.reason


def test_on_a_gpu_auto_keeps_tensorflow(cpu_only, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_choice, "gpu_present", lambda: True)
    chosen = choose_backend(_cfg())
    assert chosen.backend == "tensorflow" and "GPU" in chosen.reason


def test_a_missing_backend_falls_back_with_a_note(cpu_only, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_choice, "installed", lambda backend: backend != "jax")
    chosen = choose_backend(_cfg())
    assert chosen.backend == "tensorflow"
    assert chosen.note == "jax is not installed (pip install jax), so tensorflow runs instead"
    assert chosen.line().startswith("backend tensorflow (auto, wanted jax: no convolutions")


def test_keras_already_imported_decides_in_this_process_only(cpu_only, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_choice, "_loaded_backend", lambda: "tensorflow")
    here = choose_backend(_cfg())
    assert here.backend == "tensorflow" and "already imported" in here.reason
    assert choose_backend(_cfg(), here=False).backend == "jax"  # a sweep trial runs in a fresh worker


def test_gpu_present_respects_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_choice.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert runtime_choice.gpu_present()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not runtime_choice.gpu_present()


def test_steps_per_execution_auto_and_explicit() -> None:
    assert steps_per_execution(_cfg().runtime) == runtime_choice.AUTO_STEPS_PER_EXECUTION
    assert steps_per_execution(_cfg(runtime={"steps_per_execution": 3}).runtime) == 3
    assert steps_per_execution(_cfg(runtime={"distribution": "mirrored"}).runtime) == 1


@pytest.mark.parametrize("value", [0, -1, "fast", 2.5, True])
def test_bad_steps_per_execution_is_a_config_error(value, write_config, cli) -> None:
    from mlrun.cli import app

    result = cli.invoke(app, ["validate", str(write_config(digits_config(runtime={"steps_per_execution": value})))])
    assert result.exit_code == 2, result.output
    assert "runtime.steps_per_execution" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------- runs


def _train(runs_dir: Path, config: Path, *sets: str) -> tuple[subprocess.CompletedProcess, Path]:
    """``mlrun train`` in a fresh process (Keras picks its backend once per process); returns its run directory."""
    before = set(runs_dir.iterdir()) if runs_dir.exists() else set()
    args = [sys.executable, "-m", "mlrun", "train", str(config), "--runs-dir", str(runs_dir)]
    for s in sets:
        args += ["--set", s]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = set(runs_dir.iterdir()) - before
    return proc, run_dir


@pytest.mark.slow
def test_a_run_says_which_backend_ran_and_why(write_config, runs_dir: Path) -> None:
    config = write_config(digits_config(training={"epochs": 1, "batch_size": 64}))
    proc, run_dir = _train(runs_dir, config)
    first = proc.stderr.splitlines()[0]
    info = json.loads((run_dir / "run.json").read_text())["runtime"]
    assert info["backend"] in first and info["backend_reason"] in first
    assert info["steps_per_execution"] == runtime_choice.AUTO_STEPS_PER_EXECUTION
    validated = validate_config(digits_config())
    expected = choose_backend(evolve(validated), here=False)
    assert (info["backend"], info["backend_reason"]) == (expected.backend, expected.reason)
    # config.yaml records what ran, so `mlrun rerun` (and a copy of the config) reproduces it
    assert f"backend: {expected.backend}" in (run_dir / "config.yaml").read_text()
    proc, run_dir = _train(runs_dir, config, "runtime.backend=tensorflow")
    assert proc.stderr.splitlines()[0] == "backend tensorflow (runtime.backend in the config)"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_steps_per_execution_auto_computes_exactly_what_one_step_per_call_does(
    backend: str, write_config, runs_dir: Path
) -> None:
    config = write_config(
        digits_config(
            training={"epochs": 4, "batch_size": 32, "early_stopping": {"monitor": "val_loss", "patience": 1}},
            runtime={"backend": backend, "deterministic": True},
        )
    )
    _, auto = _train(runs_dir, config)
    _, one = _train(runs_dir, config, "runtime.steps_per_execution=1")
    assert json.loads((auto / "run.json").read_text())["runtime"]["steps_per_execution"] == 32
    assert json.loads((one / "run.json").read_text())["runtime"]["steps_per_execution"] == 1
    for name in ("history.csv", "predictions.csv", "metrics.json"):
        assert (auto / name).read_text() == (one / name).read_text(), name


# --------------------------------------------------------------------------- sweep workers


@pytest.mark.slow
def test_sweep_workers_run_trial_after_trial_per_backend_and_keep_trials_isolated(write_config, tmp_path: Path) -> None:
    """One worker slot: trials of one backend share a worker; a trial on the other backend replaces it."""
    from mlrun.config import load_config
    from mlrun.sweep import plan_sweep, read_sweep_config
    from mlrun.sweep.executors import LocalBackend
    from mlrun.sweep.trials import trial_task

    sweep = {"grid": {"seed": [1, 2]}, "metric": "val_accuracy", "refit": False}
    config = write_config(digits_config(training={"epochs": 2, "batch_size": 64}, sweep=sweep))
    plan = plan_sweep(read_sweep_config(config), tmp_path, check_models=False)
    base = plan.spec.points[0].config
    cnn = load_config(write_config(digits_config(model=CNN, training={"epochs": 1, "batch_size": 64}), name="c.yaml"))
    configs = [base, evolve(base, seed=2), cnn, base, base]
    tasks = []
    for i, cfg in enumerate(configs):
        (tmp_path / f"t{i}").mkdir()
        task = trial_task(
            plan, f"t{i}", f"k{i}", cfg, None, tmp_path / f"t{i}", evaluate_on="validation", threads=1, command=["t"]
        )
        tasks.append(task)
    assert [t["backend"] for t in tasks] == ["jax", "jax", "tensorflow", "jax", "jax"]
    outcomes = {task["name"]: outcome for task, outcome in LocalBackend().run(tasks, workers=1, threads=1)}
    assert all(o["status"] == "completed" for o in outcomes.values()), outcomes
    pid = [outcomes[f"t{i}"]["pid"] for i in range(5)]
    assert pid[0] == pid[1] and pid[3] == pid[4] and len({pid[0], pid[2], pid[3]}) == 3
    runtime = [json.loads((tmp_path / f"t{i}" / "run.json").read_text())["runtime"] for i in range(5)]
    assert [r["backend"] for r in runtime] == ["jax", "jax", "tensorflow", "jax", "jax"]
    history = [(tmp_path / f"t{i}" / "history.csv").read_text() for i in range(5)]
    # the same config gives the same numbers in a fresh worker and after other trials in the same worker
    assert history[0] == history[3] == history[4] and history[0] != history[1]


# --------------------------------------------------------------------------- JAX's compilation cache


def test_jax_compiled_programs_are_cached_on_disk_unless_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from mlrun.backend import compilation_cache_environment

    for var in (
        "JAX_COMPILATION_CACHE_DIR",
        "MLRUN_JAX_CACHE",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
        "JAX_COMPILATION_CACHE_MAX_SIZE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    compilation_cache_environment()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "mlrun" / "jax")
    assert os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.setenv("MLRUN_JAX_CACHE", "off")
    compilation_cache_environment()
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ
    monkeypatch.setenv("MLRUN_JAX_CACHE", str(tmp_path / "here"))
    compilation_cache_environment()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "here")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/elsewhere")  # JAX's own setting wins
    compilation_cache_environment()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == "/elsewhere"
