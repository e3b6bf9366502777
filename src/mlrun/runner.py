"""Run one experiment: load data, build, train, evaluate, and record everything in a run directory.

Everything that can be wrong with the config or the data is found before the
run directory is created, so a bad config leaves nothing behind. Once the run
directory exists, its ``run.json`` always ends in a final status: completed,
failed, interrupted or diverged.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlrun import __version__, store
from mlrun.config import ExperimentConfig, check_task, config_to_dict, tracked_metrics
from mlrun.data import Dataset, Fold, load_dataset
from mlrun.errors import ConfigError, RunError

EpochCallback = Callable[[int, int, Mapping[str, float]], None]
"""Called after each epoch with (epoch (1-based), total epochs, logs)."""

SMOKE_LIMIT = 200


@dataclass
class RunResult:
    """What :func:`run_experiment` returns: where the run is and how it ended."""

    run_dir: Path
    status: str
    metrics: dict[str, Any]
    headline: tuple[str, float | None]

    @property
    def run_id(self) -> str:
        return self.run_dir.name


@dataclass
class Prepared:
    """A config's data and its built, compiled model, ready to fit."""

    cfg: ExperimentConfig
    data: Dataset
    model: Any  # keras.Model
    strategy: Any = None  # the tf.distribute strategy of runtime.distribution, if any


def smoke_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """The same pipeline on a tiny subset for 1 epoch: for checking that a config runs end to end."""
    limit = min(cfg.dataset.limit or SMOKE_LIMIT, SMOKE_LIMIT)
    dataset = cfg.dataset.model_copy(update={"limit": limit})
    training = cfg.training.model_copy(update={"epochs": 1})
    return cfg.model_copy(update={"dataset": dataset, "training": training})


def prepare(cfg: ExperimentConfig, *, base_dir: Path | None = None, fold: Fold | None = None) -> Prepared:
    """Load the data, check the config against it, build and compile the model.

    ``fold`` holds out that cross-validation fold of the training set as the
    validation set (see :func:`mlrun.data.load_dataset`).

    Raises:
        ConfigError: the loss, activation or layers do not fit the data's task or shape.
        DataError: the data cannot be loaded or its labels do not fit the task.
    """
    from mlrun.backend import configure_runtime, distribution_strategy, loaded_backend

    if loaded_backend() is None:
        # The data comes first, so data errors do not wait for TensorFlow to start; a Keras
        # dataset download while loading imports Keras, which must then be on the config's backend.
        os.environ["KERAS_BACKEND"] = cfg.runtime.backend
    data = load_dataset(cfg.dataset, seed=cfg.seed, task=cfg.task, base_dir=base_dir, fold=fold)
    try:
        check_task(cfg, data.task)
    except ValueError as exc:
        raise ConfigError(
            f"error: the config does not fit the data ({data.source}, a {data.task} task)\n  {exc}"
        ) from None
    if cfg.training.class_weight not in (None, "balanced") and data.task == "multilabel":
        raise ConfigError("error: training.class_weight: not supported for multilabel tasks; remove it")
    problem = class_weight_problem(cfg, data)
    if problem:
        raise ConfigError(f"error: {problem}")
    resolved = cfg.model_copy(update={"task": data.task, "metrics": tracked_metrics(cfg, data.task)})
    configure_runtime(cfg.runtime, cfg.seed)  # imports Keras on the config's backend, seeds, sets threads
    from mlrun.model import build_model, compile_model

    strategy = distribution_strategy(cfg.runtime)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        # Under a tf.distribute strategy, variables (model and optimizer) must be created in its scope.
        model = build_model(resolved, data.input_shape, task=data.task, n_outputs=data.n_outputs)
        steps = math.ceil(len(data.x_train) / cfg.training.batch_size)
        compile_model(model, resolved, task=data.task, steps_per_epoch=steps)
    return Prepared(resolved, data, model, strategy)


def class_weight_problem(cfg: ExperimentConfig, data: Dataset) -> str | None:
    """Say what is wrong when ``training.class_weight`` names labels the data does not have (None when nothing is)."""
    cw = cfg.training.class_weight
    if not isinstance(cw, Mapping) or data.task not in ("binary", "multiclass"):
        return None
    unknown = [label for label in cw if label not in data.classes]
    if not unknown:
        return None
    shown = ", ".join(repr(c) for c in data.classes[:20]) + (
        f", ... ({len(data.classes)} in all)" if len(data.classes) > 20 else ""
    )
    return (
        f"training.class_weight: unknown label{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
        f"the labels of {data.source} are {shown}: give weights for those (a label left out keeps weight 1)"
    )


def run_experiment(
    cfg: ExperimentConfig,
    runs_dir: Path,
    *,
    smoke: bool = False,
    on_epoch: EpochCallback | None = None,
    command: Sequence[str] | None = None,
    base_dir: Path | None = None,
    run_dir: Path | None = None,
    fold: Fold | None = None,
    evaluate_on: Literal["test", "validation"] = "test",
) -> RunResult:
    """Train one model from ``cfg`` and record it in a new run directory under ``runs_dir``.

    Args:
        cfg: a validated config.
        runs_dir: where the run directory is created.
        smoke: train on a tiny subset for one epoch, and mark the run as a smoke run.
        on_epoch: progress callback, called after each finished epoch.
        command: the command line recorded in run.json (default ``sys.argv``).
        base_dir: relative dataset paths are resolved against it.
        run_dir: use this (existing, empty) directory instead of creating one.
        fold: validate on this cross-validation fold of the training set
            instead of ``dataset.validation_split``; recorded in run.json.
        evaluate_on: the data metrics.json and the other evaluation files are
            computed on: ``test``, or ``validation`` (a sweep's trials, which
            never touch the test set).

    Returns:
        The run's directory, final status and metrics (on ``evaluate_on``).

    Raises:
        ConfigError, DataError: before anything is written.
        KeyboardInterrupt: after marking the run ``interrupted``.
    """
    if smoke:
        cfg = smoke_config(cfg)
    started = time.time()
    prep = prepare(cfg, base_dir=base_dir, fold=fold)
    from mlrun.backend import runtime_info

    cfg, data, model = prep.cfg, prep.data, prep.model
    if evaluate_on == "validation" and data.x_val is None:
        raise ConfigError(
            "error: evaluating on validation data needs a validation set: set dataset.validation_split above 0, or use folds"
        )

    run_dir = Path(run_dir) if run_dir is not None else store.create_run_dir(runs_dir, cfg.name)
    info: dict[str, Any] = {
        "id": run_dir.name,
        "name": cfg.name,
        "status": "running",
        "started_at": store.now_iso(),
        "ended_at": None,
        "duration_s": None,
        "seed": cfg.seed,
        "task": data.task,
        "smoke": smoke,
        "command": list(command if command is not None else sys.argv),
        **store.host_info(),
        "versions": _versions(),
        "platform": _platform(),
        "runtime": runtime_info(cfg.runtime, prep.strategy),
        "dataset": data.summary(),
        "fold": {"index": fold.index, "n_splits": fold.n_splits} if fold is not None else None,
        "evaluated_on": evaluate_on,
        "params": int(model.count_params()),
        "epochs_completed": 0,
        "best_epoch": None,
        "headline": None,
        "error": None,
    }
    from mlrun.model import summary_text

    store.write_yaml(run_dir / store.CONFIG_FILE, config_to_dict(cfg))
    store.write_json(run_dir / store.RUN_FILE, info)
    store.write_atomic(run_dir / store.SUMMARY_FILE, summary_text(model))
    store.write_json(
        run_dir / store.PREPROCESSING_FILE,
        {
            "task": data.task,
            "classes": data.classes,
            "input_shape": list(data.input_shape),
            "loss": cfg.loss,
            "scaling": data.preprocessing.to_dict(),
            "features": data.features,
            "label": cfg.dataset.label,
        },
    )
    from mlrun.datasummary import write_data_files

    write_data_files(run_dir, data, name=cfg.name, seed=cfg.seed)  # data.json, and samples.npz for images

    recorder = _EpochRecorder(run_dir, cfg.training.epochs, on_epoch)
    info["epoch_seconds"] = recorder.epoch_seconds  # filled in as epochs finish; written with run.json
    try:
        _fit(model, cfg, data, recorder)
        info["epochs_completed"] = recorder.epochs
        info["best_epoch"] = _best_epoch(recorder.history, cfg)
        if recorder.diverged:
            info["status"] = "diverged"
            info["error"] = (
                f"the loss became {recorder.diverged} at epoch {recorder.epochs}: training stopped. "
                "Lower optimizer.learning_rate, or check dataset.scale"
            )
            evaluation = None
        else:
            evaluation = _evaluate(model, cfg, data, on=evaluate_on)
            _write_evaluation(run_dir, evaluation)
            _write_weights(run_dir, model, cfg, data)
            _save_model(model, run_dir / store.MODEL_FILE)
            info["status"] = "completed"
    except KeyboardInterrupt:
        info["status"] = "interrupted"
        info["epochs_completed"] = recorder.epochs
        _finish(run_dir, info, started)
        raise
    except Exception as exc:
        info["status"] = "failed"
        info["error"] = f"{type(exc).__name__}: {exc}"
        info["epochs_completed"] = recorder.epochs
        _finish(run_dir, info, started)
        raise
    metrics = evaluation.metrics if evaluation else {}
    headline = headline_metric(metrics)
    info["headline"] = {"metric": headline[0], "value": headline[1]} if evaluation else None
    _finish(run_dir, info, started)
    return RunResult(run_dir, info["status"], metrics, headline)


def headline_metric(metrics: Mapping[str, Any]) -> tuple[str, float | None]:
    """The metric a run is summarized by: accuracy for classification, r2 for regression."""
    name = "r2" if metrics.get("task") == "regression" else "accuracy"
    return name, metrics.get(name)


# --------------------------------------------------------------------------- training


def _fit(model: Any, cfg: ExperimentConfig, data: Dataset, recorder: Any) -> None:
    import keras

    from mlrun.model import uses_one_hot

    t = cfg.training
    callbacks: list[Any] = []
    if t.early_stopping is not None:
        es = t.early_stopping
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=es.monitor,
                patience=es.patience,
                min_delta=es.min_delta,
                mode=es.mode,
                restore_best_weights=es.restore_best_weights,
                verbose=0,
            )
        )
    sched = cfg.optimizer.schedule
    if sched is not None and sched.type == "reduce_on_plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=sched.monitor,
                factor=sched.factor,
                patience=sched.patience,
                min_delta=sched.min_delta,
                min_lr=sched.min_lr,
                verbose=0,
            )
        )
    callbacks.append(recorder.keras_callback())  # last: it records what the others changed (learning rate)
    one_hot = uses_one_hot(data.task, cfg.loss)
    validation = None
    if data.x_val is not None:
        validation = (data.x_val, encode_targets(data.y_val, data, one_hot))
    inputs: dict[str, Any] = {
        "x": data.x_train,
        "y": encode_targets(data.y_train, data, one_hot),
        "batch_size": t.batch_size,
        "shuffle": t.shuffle,
    }
    if cfg.runtime.input_pipeline == "tf_data":
        pipeline = tf_data_pipeline(inputs["x"], inputs["y"], batch_size=t.batch_size, shuffle=t.shuffle, seed=cfg.seed)
        inputs = {"x": pipeline, "shuffle": False}  # the pipeline shuffles
        if validation is not None:
            validation = tf_data_pipeline(*validation, batch_size=t.batch_size, shuffle=False, seed=cfg.seed)
    model.fit(
        **inputs,
        validation_data=validation,
        epochs=t.epochs,
        class_weight=_class_weight(cfg, data),
        callbacks=callbacks,
        verbose=0,
    )


def tf_data_pipeline(x: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle: bool, seed: int) -> Any:
    """A tf.data pipeline over in-memory (or memory-mapped) arrays: shuffled indices, batches, prefetching.

    The pipeline shuffles and batches sample indices and gathers each batch
    from the arrays as it is needed, so the arrays are never copied into the
    graph (``np.load(..., mmap_mode="r")`` arrays stay on disk), and gathers
    ahead of the model in parallel with training (prefetch).
    """
    import tensorflow as tf

    n = len(x)
    x_spec = tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))
    y_spec = tf.TensorSpec((None, *y.shape[1:]), tf.as_dtype(y.dtype))

    def take(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.sort(idx)  # same batch; sorted reads are sequential on a memory-mapped file
        return x[idx], y[idx]

    def gather(idx: Any) -> tuple[Any, Any]:
        bx, by = tf.numpy_function(take, [idx], (x_spec.dtype, y_spec.dtype), stateful=False)
        bx.set_shape(x_spec.shape)
        by.set_shape(y_spec.shape)
        return bx, by

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def encode_targets(y: np.ndarray, data: Dataset, one_hot: bool) -> np.ndarray:
    """Targets in the form the loss expects: class indices, one-hot rows, or floats."""
    if one_hot:
        return np.eye(len(data.classes), dtype=np.float32)[y]
    if data.task == "binary":
        return y.astype(np.float32)
    return y


def _class_weight(cfg: ExperimentConfig, data: Dataset) -> dict[int, float] | None:
    cw = cfg.training.class_weight
    if cw is None:
        return None
    if cw == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(data.y_train)
        weights = compute_class_weight("balanced", classes=present, y=data.y_train)
        out = {int(c): 1.0 for c in range(len(data.classes))}
        out.update({int(c): float(w) for c, w in zip(present, weights)})
        return out
    unknown = [k for k in cw if k not in data.classes]
    if unknown:
        raise ConfigError(f"error: training.class_weight: unknown class {unknown[0]!r}; the classes are {data.classes}")
    return {i: float(cw.get(name, 1.0)) for i, name in enumerate(data.classes)}


class _EpochRecorder:
    """Writes history.csv after every epoch, reports progress, and stops on a non-finite loss."""

    def __init__(self, run_dir: Path, total: int, on_epoch: EpochCallback | None) -> None:
        self.writer = store.HistoryWriter(run_dir / store.HISTORY_FILE)
        self.total = total
        self.on_epoch = on_epoch
        self.epochs = 0
        self.history: list[dict[str, float]] = []
        self.diverged: str | None = None
        self.epoch_seconds: list[float] = []  # wall time of each epoch, validation included (run.json)
        self._epoch_started = 0.0

    def keras_callback(self) -> Any:
        import keras

        recorder = self

        class _Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
                recorder._epoch_started = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
                recorder.epoch_seconds.append(round(time.perf_counter() - recorder._epoch_started, 4))
                logs = {k: float(v) for k, v in (logs or {}).items()}
                if "learning_rate" not in logs:
                    logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
                recorder.record(epoch + 1, logs)
                if recorder.diverged:
                    self.model.stop_training = True

        return _Callback()

    def record(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs = epoch
        self.history.append(logs)
        self.writer.append(epoch, logs)
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.diverged = "NaN" if math.isnan(loss) else "infinite"
        if self.on_epoch is not None:
            self.on_epoch(epoch, self.total, logs)


def _best_epoch(history: list[dict[str, float]], cfg: ExperimentConfig) -> int | None:
    """1-based epoch with the best monitored value (early stopping's monitor, else val_loss, else loss)."""
    if not history:
        return None
    es = cfg.training.early_stopping
    monitor = es.monitor if es else ("val_loss" if "val_loss" in history[0] else "loss")
    values = [h.get(monitor) for h in history]
    if any(v is None for v in values):
        return None
    maximize = (es is not None and es.mode == "max") or (
        (es is None or es.mode == "auto") and any(s in monitor for s in ("acc", "auc", "precision", "recall", "r2"))
    )
    finite = [(v if math.isfinite(v) else (-math.inf if maximize else math.inf)) for v in values]
    return int(np.argmax(finite) if maximize else np.argmin(finite)) + 1


# --------------------------------------------------------------------------- evaluation and files


def _evaluate(model: Any, cfg: ExperimentConfig, data: Dataset, *, on: str = "test"):
    from mlrun.metrics.compute import evaluate_predictions
    from mlrun.model import uses_one_hot

    x, y = (data.x_val, data.y_val) if on == "validation" else (data.x_test, data.y_test)
    one_hot = uses_one_hot(data.task, cfg.loss)
    batch = max(cfg.training.batch_size, 256)
    n_samples = cfg.evaluation.mc_samples
    if n_samples > 1:
        scores, std = mc_dropout_predict(model, x, n_samples, batch_size=batch)
        loss = _loss_of(cfg.loss, encode_targets(y, data, one_hot), scores)
        ev = evaluate_predictions(y, scores, task=data.task, classes=data.classes, loss=loss, score_std=std)
        ev.metrics["mc_samples"] = n_samples
        return ev
    scores = model.predict(x, batch_size=batch, verbose=0)
    # The loss from the predictions, as model.evaluate computes it (mean loss plus the weights' penalties),
    # without a second pass over the data (and, on jax, a second compilation).
    loss = _loss_of(cfg.loss, encode_targets(y, data, one_hot), scores) + _penalties(model)
    return evaluate_predictions(y, scores, task=data.task, classes=data.classes, loss=float(loss))


def _penalties(model: Any) -> float:
    """The sum of the model's regularization losses (l1/l2 on the weights), as added to the training loss."""
    import keras

    return float(sum(float(keras.ops.convert_to_numpy(v)) for v in model.losses))


def mc_dropout_predict(
    model: Any, x: np.ndarray, n_samples: int, *, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo dropout: predict ``x`` ``n_samples`` times with dropout on; return the mean and std of the outputs."""
    from mlrun.model import mc_dropout_model

    mc = mc_dropout_model(model)
    samples = np.stack(
        [np.asarray(mc.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64) for _ in range(n_samples)]
    )
    return samples.mean(axis=0), samples.std(axis=0)


def _loss_of(loss: str, targets: np.ndarray, scores: np.ndarray) -> float:
    """The configured loss of (Monte Carlo mean) predictions, without regularization terms."""
    import keras

    targets = np.asarray(targets)
    if loss != "sparse_categorical_crossentropy" and targets.ndim < scores.ndim:
        targets = targets.reshape(scores.shape)
    values = keras.losses.get(loss)(
        keras.ops.convert_to_tensor(targets, dtype="float32"), keras.ops.convert_to_tensor(scores, dtype="float32")
    )
    return float(np.mean(keras.ops.convert_to_numpy(values)))


def _write_evaluation(run_dir: Path, ev: Any) -> None:
    store.write_json(run_dir / store.METRICS_FILE, ev.metrics)
    store.write_csv(run_dir / store.PREDICTIONS_FILE, *ev.predictions)
    if ev.confusion is not None:
        store.write_csv(run_dir / store.CONFUSION_FILE, *ev.confusion)
    if ev.metrics.get("task") != "regression":
        store.write_csv(run_dir / store.ROC_FILE, *ev.roc)
        store.write_csv(run_dir / store.PR_FILE, *ev.pr)
    if ev.calibration is not None:
        store.write_csv(run_dir / store.CALIBRATION_FILE, *ev.calibration)


def _write_weights(run_dir: Path, model: Any, cfg: ExperimentConfig, data: Dataset) -> None:
    """Write weights.json for a model that is one layer of units on its inputs (perceptron, linear).

    ``weights`` lists one weight per input feature (in ``features`` order) and
    ``bias`` is a number when there is one output unit; with several units
    (softmax regression, several targets) ``weights`` has one such list per
    unit and ``bias`` one number per unit, in ``outputs`` order.
    """
    from mlrun.model import single_layer_weights

    found = single_layer_weights(model)
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


def _save_model(model: Any, path: Path) -> None:
    from mlrun.backend import tensorflow_left_out

    tmp = path.with_name(f".{path.stem}.tmp.keras")
    with tensorflow_left_out():
        model.save(tmp)
    os.replace(tmp, path)


def _finish(run_dir: Path, info: dict[str, Any], started: float) -> None:
    info["ended_at"] = store.now_iso()
    info["duration_s"] = round(time.time() - started, 3)
    store.write_json(run_dir / store.RUN_FILE, info)


def _versions() -> dict[str, str]:
    # Installed versions from package metadata: reading them imports nothing (no TensorFlow on the jax backend).
    from importlib import metadata

    out = {"python": platform.python_version(), "mlrun": __version__}
    for dist in ("tensorflow", "keras", "jax", "numpy", "scikit-learn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _platform() -> dict[str, Any]:
    from mlrun.backend import devices

    return {
        "system": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "devices": devices(),
    }


def load_run_model(run_dir: Path) -> Any:
    """Load a run's saved model with Keras' safe mode on (no arbitrary code from the file)."""
    from mlrun.backend import import_keras

    keras = import_keras()
    import mlrun.model  # noqa: F401  (registers mlrun's own layers, such as Perceptron, for loading)

    path = Path(run_dir) / store.MODEL_FILE
    if not path.is_file():
        raise RunError(f"error: {run_dir} has no {store.MODEL_FILE} (the run did not complete)")
    return keras.models.load_model(path, safe_mode=True)
