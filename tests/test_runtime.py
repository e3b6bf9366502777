"""The ``runtime:`` block: backend selection, compile settings, input pipelines, distribution, precision."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlrun import store
from mlrun.config import load_config, validate_config
from mlrun.errors import ConfigError, RunError
from tests.conftest import CONFIGS, ROOT, digits_config

HAS_JAX = importlib.util.find_spec("jax") is not None
#: The jax extra is part of CI's install; on a developer machine without it these tests skip.
requires_jax = pytest.mark.skipif(not HAS_JAX and not os.environ.get("CI"), reason="needs jax: pip install -e '.[jax]'")


def _only_run(runs_dir: Path) -> Path:
    (run,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    return run


def _subprocess(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python (its own Keras backend), in tmp_path, and return the finished process."""
    full_env = {**os.environ, "MLRUN_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT), **env}
    full_env.pop("KERAS_BACKEND", None) if "KERAS_BACKEND" not in env else None
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out


# --------------------------------------------------------------------------- schema


def test_runtime_defaults() -> None:
    rt = validate_config(digits_config()).runtime
    assert (
        rt.backend,
        rt.steps_per_execution,
        rt.jit_compile,
        rt.mixed_precision,
        rt.distribution,
        rt.input_pipeline,
    ) == ("auto", "auto", "auto", False, None, "numpy")


@pytest.mark.parametrize(
    "runtime, match",
    [
        ({"backend": "torch"}, r"runtime\.backend"),
        ({"steps_per_execution": 0}, r"runtime\.steps_per_execution.*greater than or equal to 1"),
        ({"jit_compile": "yes"}, r"runtime\.jit_compile"),
        ({"distribution": "multi_worker"}, r"runtime\.distribution"),
        ({"input_pipeline": "tfdata"}, r"runtime\.input_pipeline"),
        ({"mixed_precision": "fp16"}, r"runtime\.mixed_precision"),
        ({"backnd": "jax"}, r"runtime\.backnd.*did you mean 'backend'"),
        ({"backend": "jax", "distribution": "mirrored"}, r"runtime.*tf\.distribute and needs backend: tensorflow"),
    ],
)
def test_bad_runtime_values_are_config_errors(write_config, runtime: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(write_config(digits_config(runtime=runtime)))


def test_valid_runtime_block_round_trips(write_config) -> None:
    runtime = {
        "backend": "jax",
        "steps_per_execution": 8,
        "jit_compile": True,
        "input_pipeline": "tf_data",
        "intra_op_threads": 2,
    }
    cfg = load_config(write_config(digits_config(runtime=runtime)))
    assert cfg.runtime.model_dump(include=set(runtime)) == runtime


def test_sweeping_the_backend_is_refused() -> None:
    from mlrun.sweep.grid import check_grid

    with pytest.raises(ConfigError, match=r"runtime\.backend: a worker process imports Keras once"):
        check_grid({"runtime.backend": ["tensorflow", "jax"]})


# --------------------------------------------------------------------------- backend selection


def test_a_second_backend_in_one_process_is_refused() -> None:
    from mlrun.backend import import_keras

    keras = import_keras()  # this test process uses TensorFlow (as the rest of the suite)
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    with pytest.raises(RunError, match=rf"runtime\.backend: '{other}', but Keras was already imported .* new process"):
        import_keras(other)
    assert import_keras(keras.backend.backend()) is keras


@pytest.mark.slow
def test_config_backend_wins_over_the_environment(tmp_path: Path, write_config) -> None:
    # KERAS_BACKEND in the environment says jax; the config says tensorflow: the config decides, before Keras loads.
    path = write_config(digits_config(training={"epochs": 1, "batch_size": 64}, runtime={"backend": "tensorflow"}))
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mlrun.cli import app\n"
        f"r = CliRunner().invoke(app, ['train', {str(path)!r}, '--quiet'])\nassert r.exit_code == 0, (r.output, repr(r.exception))\n"
        "import keras\nprint('backend', keras.backend.backend())\n"
    )
    out = _subprocess(code, tmp_path, KERAS_BACKEND="jax")
    assert "backend tensorflow" in out.stdout
    assert store.read_run_info(_only_run(tmp_path / "runs"))["runtime"]["backend"] == "tensorflow"


@requires_jax
@pytest.mark.slow
def test_jax_backend_reaches_keras_without_tensorflow(tmp_path: Path, write_config) -> None:
    path = write_config(
        digits_config(training={"epochs": 2, "batch_size": 64}, runtime={"backend": "jax", "steps_per_execution": 4})
    )
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mlrun.cli import app\n"
        f"r = CliRunner().invoke(app, ['train', {str(path)!r}, '--quiet'])\nassert r.exit_code == 0, (r.output, repr(r.exception))\n"
        "import keras\nprint('backend', keras.backend.backend())\n"
        "print('tensorflow imported', 'tensorflow' in sys.modules)\n"
    )
    out = _subprocess(code, tmp_path)
    assert "backend jax" in out.stdout
    assert "tensorflow imported False" in out.stdout  # the jax path never loads TensorFlow
    run = _only_run(tmp_path / "runs")
    info = store.read_run_info(run)
    assert info["status"] == "completed" and info["runtime"]["backend"] == "jax"
    assert info["runtime"]["devices"] and info["epochs_completed"] == 2
    assert 0.0 <= json.loads((run / store.METRICS_FILE).read_text())["accuracy"] <= 1.0
    # the saved model loads on the other backend
    from mlrun.artifacts import load_run_model

    model = load_run_model(run)
    shape = tuple(info["dataset"]["input_shape"])
    assert model.predict(np.zeros((2, *shape), dtype=np.float32), verbose=0).shape == (2, 10)


# --------------------------------------------------------------------------- compile settings, pipelines, precision


def test_steps_per_execution_and_jit_compile_reach_compile(write_config) -> None:
    from mlrun.runner import prepare

    cfg = load_config(write_config(digits_config(runtime={"steps_per_execution": 4, "jit_compile": False})))
    model = prepare(cfg).model
    assert model.steps_per_execution == 4
    assert model.jit_compile is False
    default = prepare(load_config(write_config(digits_config(), name="default.yaml"))).model
    assert default.steps_per_execution == 32  # auto


def test_tf_data_pipeline_yields_every_sample_once_per_epoch(tmp_path: Path) -> None:
    from mlrun.training import tf_data_pipeline

    x = np.arange(103 * 3, dtype=np.float32).reshape(103, 3)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")  # out-of-core: gathered batch by batch, never copied whole
    y = np.arange(103)
    ds = tf_data_pipeline(mapped, y, batch_size=10, shuffle=True, seed=3)
    epochs = []
    for _ in range(2):
        batches = [(bx.numpy(), by.numpy()) for bx, by in ds]
        assert [len(b) for b, _ in batches] == [10] * 10 + [3]
        xs = np.concatenate([b for b, _ in batches])
        ys = np.concatenate([b for _, b in batches])
        np.testing.assert_array_equal(xs, x[ys])  # inputs stay paired with their targets
        assert sorted(ys.tolist()) == list(range(103))
        epochs.append(ys)
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch


@pytest.mark.slow
def test_tf_data_input_pipeline_trains_like_numpy(write_config, runs_dir: Path) -> None:
    from mlrun.runner import run_experiment

    histories = {}
    for pipeline in ("numpy", "tf_data"):
        cfg = load_config(write_config(digits_config(runtime={"input_pipeline": pipeline}), name=f"{pipeline}.yaml"))
        result = run_experiment(cfg, runs_dir / pipeline)
        assert result.status == "completed"
        assert store.read_run_info(result.run_dir)["runtime"]["input_pipeline"] == pipeline
        with open(result.run_dir / store.HISTORY_FILE, newline="") as f:
            histories[pipeline] = list(csv.DictReader(f))
        assert result.metrics["accuracy"] > 0.5
    assert len(histories["numpy"]) == len(histories["tf_data"]) == 3
    assert histories["numpy"][0].keys() == histories["tf_data"][0].keys()


def test_mixed_precision_without_a_gpu_is_a_config_error_before_any_file(write_config, runs_dir: Path) -> None:
    from mlrun.backend import gpu_devices, import_keras
    from mlrun.runner import run_experiment

    import_keras()
    if gpu_devices():
        pytest.skip("this machine has a GPU: tests/test_gpu.py covers mixed precision")
    cfg = load_config(write_config(digits_config(runtime={"mixed_precision": True})))
    with pytest.raises(ConfigError, match=r"runtime\.mixed_precision: true needs a GPU"):
        run_experiment(cfg, runs_dir)
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"


def test_run_json_records_how_the_run_executed(write_config, runs_dir: Path) -> None:
    from mlrun.runner import run_experiment

    result = run_experiment(load_config(write_config(digits_config(training={"epochs": 1}))), runs_dir)
    info = store.read_run_info(result.run_dir)
    rt = info["runtime"]
    assert rt["backend"] == "tensorflow" and rt["dtype_policy"] == "float32" and rt["replicas"] == 1
    assert rt["devices"] == info["platform"]["devices"] and any("CPU" in d.upper() for d in rt["devices"])
    assert {"tensorflow", "keras", "numpy", "scikit-learn"} <= set(info["versions"])


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path: Path, write_config) -> None:
    path = write_config(digits_config(training={"epochs": 2, "batch_size": 64}, runtime={"distribution": "mirrored"}))
    code = (
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from pathlib import Path\nfrom mlrun.config import load_config\nfrom mlrun.runner import prepare, run_experiment\n"
        f"cfg = load_config(Path({str(path)!r}))\n"
        "prep = prepare(cfg)\n"
        "print('replicas', prep.strategy.num_replicas_in_sync)\n"
        "print('variable device', prep.model.trainable_variables[0].value.device)\n"
        "r = run_experiment(cfg, Path('runs'))\nprint('status', r.status)\n"
    )
    out = _subprocess(code, tmp_path)
    assert "replicas 2" in out.stdout and "status completed" in out.stdout
    info = store.read_run_info(_only_run(tmp_path / "runs"))
    assert info["runtime"]["distribution"] == "mirrored" and info["runtime"]["replicas"] == 2
    assert info["epochs_completed"] == 2


# --------------------------------------------------------------------------- fast commands stay TensorFlow-free


@pytest.mark.slow
def test_help_validate_schema_only_and_runs_do_not_import_keras(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mlrun.cli import app\n"
        "for args in (['--help'], ['train', '--help'], ['runs'], "
        f"['validate', {str(CONFIGS / 'mnist_mlp.yaml')!r}, '--schema-only']):\n"
        "    r = CliRunner().invoke(app, args)\n    assert r.exit_code == 0, (args, r.output)\n"
        "    bad = [m for m in ('tensorflow', 'keras', 'jax', 'scipy.stats') if m in sys.modules]\n"
        "    assert not bad, (args, bad)\n"
        "print('ok')\n"
    )
    assert "ok" in _subprocess(code, tmp_path).stdout


def test_validate_schema_only_reports_config_errors(cli, write_config) -> None:
    from mlrun.cli import app

    ok = cli.invoke(app, ["validate", str(write_config(digits_config())), "--schema-only"])
    assert ok.exit_code == 0, ok.output
    assert "valid config (schema only" in ok.output
    bad = cli.invoke(
        app,
        ["validate", str(write_config(digits_config(runtime={"backend": "torch"}), name="bad.yaml")), "--schema-only"],
    )
    assert bad.exit_code == 2, bad.output
    assert "runtime.backend" in bad.output
