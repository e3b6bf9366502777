"""Everything written into a run directory, and reading a run's model back.

A run directory holds config.yaml, run.json (status and provenance: versions,
platform, runtime), packages.txt (every installed distribution), summary.txt, preprocessing.json, data.json, history.csv (written
by :mod:`mlrun.training` as epochs end), the evaluation files (metrics.json,
predictions.csv, confusion/ROC/PR/calibration tables), weights.json for one-layer
models, and model.keras. Paths and atomic writes come from :mod:`mlrun.store`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun import __version__, store
from mlrun.config import ExperimentConfig, config_to_dict
from mlrun.data import Dataset
from mlrun.errors import RunError

if TYPE_CHECKING:
    from mlrun.metrics.compute import Evaluation

#: The distributions whose versions run.json and sweep.json record.
VERSIONED = ("tensorflow", "keras", "jax", "numpy", "scikit-learn")


def versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Python's, mlrun's and the installed libraries' versions (``extra``: more distributions, e.g. ray).

    Read from package metadata, which imports nothing (no TensorFlow on the jax backend, or in a sweep's process).
    """
    from importlib import metadata

    out = {"python": platform.python_version(), "mlrun": __version__}
    for dist in (*VERSIONED, *extra):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


@functools.cache
def installed_packages() -> str:
    """packages.txt: every installed distribution as ``name==version``, one a line, sorted as ``pip freeze`` sorts.

    Read once per process from package metadata (importlib.metadata), which imports nothing.
    """
    from importlib import metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in found:  # the first on sys.path wins, as at import
            found[name.lower()] = f"{name}=={dist.version}"
    return "".join(f"{found[key]}\n" for key in sorted(found))


def platform_info() -> dict[str, Any]:
    """The machine a run executed on: OS, CPU, and the loaded backend's devices."""
    from mlrun.backend import devices

    return {
        "system": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "devices": devices(),
    }


def preprocessing_record(cfg: ExperimentConfig, data: Dataset) -> dict[str, Any]:
    """preprocessing.json: what ``mlrun predict`` needs to feed new inputs to the model as the run did."""
    return {
        "task": data.task,
        "classes": data.classes,
        "input_shape": list(data.input_shape),
        "loss": cfg.loss,
        "scaling": data.preprocessing.to_dict(),
        "features": data.features,
        "label": cfg.dataset.label,
        # dataset.cleaning fitted on the training rows: predict replays it on raw CSV rows
        "cleaning": data.cleaner.to_dict() if data.cleaner is not None else None,
    }


def write_run_start(run_dir: Path, info: dict[str, Any], *, cfg: ExperimentConfig, data: Dataset, model: Any) -> None:
    """Write what is known before training: config.yaml, run.json, packages.txt, summary.txt, preprocessing.json, data files."""
    from mlrun.backend import keras_modules
    from mlrun.datasummary import write_data_files

    store.write_yaml(run_dir / store.CONFIG_FILE, config_to_dict(cfg))
    store.write_json(run_dir / store.RUN_FILE, info)
    store.write_atomic(run_dir / store.PACKAGES_FILE, installed_packages())
    store.write_atomic(run_dir / store.SUMMARY_FILE, keras_modules().model.summary_text(model))
    store.write_json(run_dir / store.PREPROCESSING_FILE, preprocessing_record(cfg, data))
    write_data_files(run_dir, data, name=cfg.name, seed=cfg.seed)  # data.json, and samples.npz for images


def write_results(run_dir: Path, evaluation: Evaluation, *, model: Any, cfg: ExperimentConfig, data: Dataset) -> None:
    """Write a completed run's evaluation files, weights.json (one-layer models) and model.keras."""
    write_evaluation(run_dir, evaluation)
    write_weights(run_dir, model, cfg, data)
    save_model(model, run_dir / store.MODEL_FILE)


def write_evaluation(run_dir: Path, ev: Evaluation) -> None:
    """metrics.json, predictions.csv, and the confusion, ROC, PR and calibration tables that apply."""
    store.write_json(run_dir / store.METRICS_FILE, ev.metrics)
    store.write_csv(run_dir / store.PREDICTIONS_FILE, *ev.predictions)
    if ev.confusion is not None:
        store.write_csv(run_dir / store.CONFUSION_FILE, *ev.confusion)
    if ev.metrics.get("task") != "regression":
        store.write_csv(run_dir / store.ROC_FILE, *ev.roc)
        store.write_csv(run_dir / store.PR_FILE, *ev.pr)
    if ev.calibration is not None:
        store.write_csv(run_dir / store.CALIBRATION_FILE, *ev.calibration)


def write_weights(run_dir: Path, model: Any, cfg: ExperimentConfig, data: Dataset) -> None:
    """Write weights.json for a model that is one layer of units on its inputs (perceptron, linear).

    ``weights`` lists one weight per input feature (in ``features`` order) and
    ``bias`` is a number when there is one output unit; with several units
    (softmax regression, several targets) ``weights`` has one such list per
    unit and ``bias`` one number per unit, in ``outputs`` order.
    """
    from mlrun.backend import keras_modules

    found = keras_modules().model.single_layer_weights(model)
    if found is None:
        return
    kernel, bias = found["kernel"], found["bias"]
    n_in, n_out = kernel.shape
    features = data.features if data.features and len(data.features) == n_in else [f"x{i + 1}" for i in range(n_in)]
    if data.task == "binary" and n_out == 1:
        outputs = [data.classes[1]]  # the unit says "1" for the second class
    else:
        outputs = list(data.classes)[:n_out]
    single = n_out == 1
    out: dict[str, Any] = {
        "architecture": cfg.model.architecture,
        "activation": found["activation"],
        "features": features,
        "outputs": outputs,
        "weights": kernel[:, 0].tolist() if single else kernel.T.tolist(),
        "bias": float(bias[0]) if single else bias.tolist(),
    }
    if found["activation"] == "step":
        out["threshold"] = -float(bias[0])
        out["rule"] = f"output {outputs[0]!r} when w·x + b >= 0, i.e. when w·x >= threshold"
    store.write_json(run_dir / store.WEIGHTS_FILE, out)


def save_model(model: Any, path: Path) -> None:
    """Save the model in Keras' format, through a temporary file renamed into place.

    Raises:
        DiskFullError: the disk is full; the temporary file is removed.
    """
    from mlrun.backend import tensorflow_left_out

    tmp = path.with_name(f".{path.stem}.tmp.keras")
    with store.disk_full_as_error(path):
        try:
            with tensorflow_left_out():
                model.save(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def finish(run_dir: Path, info: dict[str, Any], started: float) -> None:
    """Stamp run.json with its end time and duration and write it: the run's final record."""
    info["ended_at"] = store.now_iso()
    info["duration_s"] = round(time.time() - started, 3)
    store.write_json(run_dir / store.RUN_FILE, info)


def load_run_model(run_dir: Path) -> Any:
    """Load a run's saved model with Keras' safe mode on (no arbitrary code from the file).

    Raises:
        RunError: the run has no model.keras (it did not complete).
    """
    from mlrun.backend import keras_modules

    keras = keras_modules().keras  # mlrun.model too: it registers mlrun's own layers (Perceptron) for loading
    path = Path(run_dir) / store.MODEL_FILE
    if not path.is_file():
        raise RunError(f"error: {run_dir} has no {store.MODEL_FILE} (the run did not complete)")
    return keras.models.load_model(path, safe_mode=True)
