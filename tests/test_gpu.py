"""Mixed precision and MirroredStrategy on real GPUs; skipped on machines without one.

Run on a GPU machine with ``python -m pytest tests/test_gpu.py -v``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlrun import store
from mlrun.config import load_config
from tests.conftest import ROOT, digits_config


def _has_gpu() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "" or shutil.which("nvidia-smi") is None:
        return False  # decided without importing Keras, so collecting the suite stays fast
    from mlrun.backend import gpu_devices, import_keras

    import_keras()
    return bool(gpu_devices())


pytestmark = pytest.mark.skipif(not _has_gpu(), reason="needs a GPU")


def test_mixed_precision_trains_in_float16_with_a_float32_head(write_config, runs_dir: Path) -> None:
    import keras

    from mlrun.runner import prepare, run_experiment

    cfg = load_config(write_config(digits_config(runtime={"mixed_precision": True})))
    model = prepare(cfg).model
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    hidden = [layer for layer in model.layers if layer.name.startswith("dense")]
    assert hidden and all(layer.compute_dtype == "float16" and layer.variable_dtype == "float32" for layer in hidden)
    assert model.get_layer("output").compute_dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    result = run_experiment(cfg, runs_dir)
    info = store.read_run_info(result.run_dir)
    assert result.status == "completed" and result.metrics["accuracy"] > 0.5
    assert info["runtime"]["dtype_policy"] == "mixed_float16" and info["runtime"]["gpus"] >= 1
    # the next run in the same process is back to float32
    plain = run_experiment(load_config(write_config(digits_config(), name="plain.yaml")), runs_dir)
    assert store.read_run_info(plain.run_dir)["runtime"]["dtype_policy"] == "float32"


def test_mirrored_uses_every_gpu(write_config, runs_dir: Path) -> None:
    from mlrun.backend import gpu_devices
    from mlrun.runner import prepare, run_experiment

    cfg = load_config(write_config(digits_config(runtime={"distribution": "mirrored"})))
    prep = prepare(cfg)
    assert prep.strategy.num_replicas_in_sync == len(gpu_devices())
    result = run_experiment(cfg, runs_dir)
    info = store.read_run_info(result.run_dir)
    assert result.status == "completed" and info["runtime"]["replicas"] == len(gpu_devices())


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax")
def test_jax_backend_finds_the_gpu(write_config, tmp_path: Path) -> None:
    path = write_config(digits_config(runtime={"backend": "jax", "mixed_precision": True}))
    env = {**os.environ, "MLRUN_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "mlrun", "train", str(path), "--quiet"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (run,) = (tmp_path / "runs").iterdir()
    rt = store.read_run_info(run)["runtime"]
    assert rt["backend"] == "jax" and rt["gpus"] >= 1 and rt["dtype_policy"] == "mixed_float16"
