"""``mlrun export``: write a run's model in a serving format, with its scaling inside, and verify it.

:func:`export_run` wraps the trained model so that it takes raw inputs
(:mod:`mlrun.export.graph`), writes it with Keras' ``model.export`` into a temporary
name beside the output, writes the sidecar ``<output>.json`` (classes, features, input
shape), runs the run's raw test inputs (:mod:`mlrun.export.reference`) through the
written file with the format's own runtime (:mod:`mlrun.export.formats`), and only when
the largest absolute difference from predictions.csv is within :data:`TOLERANCE` moves
the model into place. Keras runs on the TensorFlow backend here, whatever the run's
``runtime.backend``: SavedModel, LiteRT and tf2onnx are TensorFlow tools.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlrun import store
from mlrun.errors import ConfigError, RunError
from mlrun.export.formats import Format, check_installed, get_format, run_exported, runtime_name, sidecar_path
from mlrun.export.reference import Reference, output_columns, reference_inputs
from mlrun.predict import gaussian_head, mc_samples, read_preprocessing, std_scale

#: The largest absolute difference from predictions.csv an exported model may show.
TOLERANCE = 1e-4


@dataclass
class ExportResult:
    """What :func:`export_run` wrote and how well the written model reproduced the run."""

    output: Path
    sidecar: Path
    format: str
    runtime: str
    n: int
    """Raw test inputs run through the exported model."""
    max_abs_diff: float
    against: str
    """What the exported outputs were compared with (predictions.csv, or the Keras model for MC dropout)."""
    seconds: float
    notes: list[str] = field(default_factory=list)
    """What a user of the exported model must know: MC dropout, cleaning to do before it."""


def export_run(run_dir: Path, fmt: str, output: Path | None = None, *, base_dir: Path | None = None) -> ExportResult:
    """Export a completed run's model as ``fmt`` (onnx, saved_model, litert), taking raw inputs; verify it.

    Args:
        run_dir: a completed run directory.
        fmt: ``onnx``, ``saved_model`` or ``litert``.
        output: the file (a directory for saved_model) to write; default ``<run_dir>/export/<model.onnx |
            saved_model | model.tflite>``. The sidecar JSON goes beside it as ``<output name>.json``.
        base_dir: where a relative ``dataset.path`` is looked up, to reload the test inputs.

    Returns:
        Where the model went and the largest absolute difference from the run's predictions.

    Raises:
        ConfigError: ``output`` does not suit the format.
        RunError: the packages the format needs are missing, the run has no model, a layer cannot be
            exported, or the exported model's outputs differ from the run's by more than :data:`TOLERANCE`.
    """
    from mlrun.backend import loaded_backend

    if loaded_backend() not in (None, "tensorflow"):
        return _in_fresh_process(run_dir, fmt, output, base_dir=base_dir)
    started = time.perf_counter()
    spec = get_format(fmt)
    run_dir = Path(run_dir)
    output = Path(output) if output is not None else run_dir / "export" / spec.default_name
    _check_output(spec, output)
    check_installed(spec)
    preprocessing = read_preprocessing(run_dir)
    reference = reference_inputs(run_dir, preprocessing, base_dir=base_dir)
    keras_model = _load_on_tensorflow(run_dir)
    from mlrun.export import graph

    wrapped = graph.exported_model(keras_model, preprocessing, gaussian=gaussian_head(preprocessing))
    notes = export_notes(run_dir, preprocessing)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=output.parent) as tmp:
        written = Path(tmp) / output.name
        graph.write(wrapped, spec, written, run_id=run_dir.name)
        try:
            got = run_exported(spec, written, reference.x)
        except Exception as exc:  # a runtime that cannot load or run what its converter wrote
            raise RunError(graph.cannot_export(wrapped, spec, run_dir.name, exc)) from None
        expected, against = _expected(reference, wrapped, mc=mc_samples(run_dir) > 1)
        diff = _max_abs_diff(got, expected, spec, run_dir.name)
        if diff > TOLERANCE:
            raise RunError(
                f"error: {run_dir.name}: the {spec.name} model's outputs differ from {against} by up to {diff:.3g} "
                f"on the {len(reference.x)} {reference.split} inputs (tolerance {TOLERANCE:g}); nothing was written"
            )
        _move_into_place(written, output)
    sidecar = sidecar_path(output)
    store.write_json(sidecar, sidecar_record(run_dir, spec, output, preprocessing, notes, diff=diff, against=against))
    seconds = time.perf_counter() - started
    return ExportResult(output, sidecar, spec.name, runtime_name(spec), len(reference.x), diff, against, seconds, notes)


def _check_output(spec: Format, output: Path) -> None:
    if spec.name == "litert" and output.suffix != ".tflite":
        raise ConfigError(f"error: --output {output}: a LiteRT model's file name must end in .tflite")
    if spec.name != "saved_model" and output.is_dir():
        raise ConfigError(f"error: --output {output} is a directory; give the {spec.name} file to write")
    if output.is_dir() and any(output.iterdir()) and not (output / "saved_model.pb").is_file():
        raise ConfigError(
            f"error: --output {output} is a directory that holds something other than a SavedModel; "
            "give a new directory (a SavedModel directory there is replaced)"
        )
    if spec.name == "saved_model" and output.is_file():
        raise ConfigError(f"error: --output {output} is a file; a SavedModel is a directory")


def _in_fresh_process(run_dir: Path, fmt: str, output: Path | None, *, base_dir: Path | None) -> ExportResult:
    """:func:`export_run` in a new Python process, for a process whose Keras runs on another backend.

    Export needs Keras on TensorFlow (SavedModel, LiteRT and tf2onnx are TensorFlow tools), and Keras
    picks its backend once per process: a notebook that trained on JAX exports this way.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(export_run, run_dir, fmt, output, base_dir=base_dir).result()


def _load_on_tensorflow(run_dir: Path) -> Any:
    """The run's model.keras, or a deep ensemble's members (a list), loaded by Keras on TensorFlow (see
    :func:`_in_fresh_process`)."""
    from mlrun.backend import import_keras

    import_keras("tensorflow")
    from mlrun.artifacts import load_run_model
    from mlrun.ensemble import load_members

    return load_members(run_dir) or load_run_model(run_dir)


def _expected(reference: Reference, wrapped: Any, *, mc: bool) -> tuple[np.ndarray, str]:
    """What the exported outputs must match: predictions.csv, or for MC dropout (whose predictions.csv averages
    random passes) the wrapped Keras model's deterministic outputs on the same raw inputs."""
    if not mc:
        return reference.expected, "predictions.csv"
    scores = np.asarray(wrapped.predict(reference.x.astype(np.float32), batch_size=256, verbose=0), dtype=np.float64)
    return scores.reshape(len(scores), -1), "the Keras model's deterministic outputs"


def _max_abs_diff(got: np.ndarray, expected: np.ndarray, spec: Format, run_id: str) -> float:
    got = got.reshape(len(got), -1)
    if got.shape != expected.shape:
        raise RunError(
            f"error: {run_id}: the {spec.name} model outputs shape {got.shape}, but the run's predictions have "
            f"shape {expected.shape}"
        )
    return float(np.max(np.abs(got - expected))) if got.size else 0.0


def _move_into_place(written: Path, output: Path) -> None:
    if output.is_dir():
        shutil.rmtree(output)  # an earlier SavedModel (_check_output refused any other directory)
    written.replace(output)


def export_notes(run_dir: Path, preprocessing: dict[str, Any]) -> list[str]:
    """What the exported model does not do that the run did: Monte Carlo dropout, CSV cleaning."""
    notes = []
    from mlrun.ensemble import member_model_paths

    members = len(member_model_paths(run_dir))
    if members > 1:
        notes.append(
            f"deep ensemble (training.ensemble: {members}): exported the mean of its {members} members, all in one "
            "graph; it gives no predictive standard deviations (mlrun predict gives their spread)"
        )
    if gaussian_head(preprocessing):
        notes.append(
            "Gaussian head: exported the predicted means (predictions.csv's y_pred); the variances it also "
            "predicts are left out (mlrun predict gives y_std)"
        )
    samples = mc_samples(run_dir)
    if samples > 1:
        notes.append(
            f"Monte Carlo dropout run (evaluation.mc_samples: {samples}): exported its deterministic mean model "
            "(dropout off); it gives no predictive standard deviations"
        )
    scale = std_scale(run_dir)
    if scale != 1.0:
        notes.append(
            f"recalibrated run (evaluation.recalibrate): mlrun predict multiplies its standard deviations by "
            f"{scale:.4g} (metrics.json's recalibration.scale); the exported model gives the mean prediction only"
        )
    cleaning = preprocessing.get("cleaning")
    if cleaning:
        steps = "; ".join(cleaning_steps(cleaning))
        notes.append(
            "this run cleaned its CSV (dataset.cleaning): the exported model takes the cleaned numeric features "
            f"{cleaning.get('features')}; before it, clean raw rows as the run did: {steps} "
            f"(recorded under 'cleaning' in {store.PREPROCESSING_FILE} and the sidecar)"
        )
    return notes


def cleaning_steps(cleaning: dict[str, Any]) -> list[str]:
    """The cleaning a raw CSV row needs before the exported model, in order, from preprocessing.json's record."""
    steps = []
    if cleaning.get("dropped_columns"):
        steps.append(f"drop columns {cleaning['dropped_columns']}")
    if cleaning.get("na_values"):
        steps.append(f"read {cleaning['na_values']} as missing")
    fill = cleaning.get("fill") or {}
    drop = [c for c, how in (cleaning.get("missing") or {}).items() if how == "drop"]
    if fill:
        steps.append("fill missing values " + ", ".join(f"{c}={v!r}" for c, v in fill.items()))
    if drop:
        steps.append(f"drop rows with a missing {', '.join(drop)}")
    if cleaning.get("one_hot"):
        steps.append("one-hot encode " + ", ".join(f"{c} {cats}" for c, cats in cleaning["one_hot"].items()))
    steps.append(f"order the columns as {cleaning.get('features')}")
    return steps


def sidecar_record(
    run_dir: Path,
    spec: Format,
    output: Path,
    preprocessing: dict[str, Any],
    notes: list[str],
    *,
    diff: float,
    against: str,
) -> dict[str, Any]:
    """The sidecar JSON: what the exported model takes and gives, and how it was checked."""
    task = preprocessing["task"]
    names = [str(c) for c in preprocessing["classes"]]
    gives = {
        "regression": "predicted values, one column per target",
        "multilabel": "the probability of each label, one column per label in `classes` order",
    }.get(task, "class probabilities, one column per class in `classes` order (a binary model too: [1 - p, p])")
    return {
        "format": spec.name,
        "file": output.name,
        "run": run_dir.name,
        "task": task,
        "classes": names if task != "regression" else [],
        "targets": names if task == "regression" else [],
        "features": preprocessing.get("features"),
        "input_shape": list(preprocessing["input_shape"]),
        "input": "raw inputs, float32, shape (n, *input_shape): the run's scaling is inside the model",
        "scaling_inside": preprocessing["scaling"],
        "output": gives,
        "output_columns": output_columns(preprocessing),
        "cleaning": preprocessing.get("cleaning"),
        "notes": notes,
        "verified": {"runtime": runtime_name(spec), "against": against, "max_abs_diff": diff, "tolerance": TOLERANCE},
    }
