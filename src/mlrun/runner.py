"""Run one experiment: load data, build, train, evaluate, and record everything in a run directory.

Everything that can be wrong with the config or the data is found before the
run directory is created, so a bad config leaves nothing behind. Once the run
directory exists, its ``run.json`` always ends in a final status: completed,
failed, interrupted or diverged.
"""

from __future__ import annotations

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
from mlrun.config import ExperimentConfig, check_task, config_to_dict
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
    from mlrun.backend import configure_runtime
    from mlrun.model import build_model, compile_model

    configure_runtime(cfg.runtime, cfg.seed)
    data = load_dataset(cfg.dataset, seed=cfg.seed, task=cfg.task, base_dir=base_dir, fold=fold)
    try:
        check_task(cfg, data.task)
    except ValueError as exc:
        raise ConfigError(f"error: the config does not fit the data ({data.source}, a {data.task} task)\n  {exc}") from None
    if cfg.training.class_weight not in (None, "balanced") and data.task == "multilabel":
        raise ConfigError("error: training.class_weight: not supported for multilabel tasks; remove it")
    resolved = cfg.model_copy(update={"task": data.task})
    model = build_model(resolved, data.input_shape, task=data.task, n_outputs=data.n_outputs)
    steps = math.ceil(len(data.x_train) / cfg.training.batch_size)
    compile_model(model, resolved, task=data.task, steps_per_epoch=steps)
    return Prepared(resolved, data, model)


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
    cfg, data, model = prep.cfg, prep.data, prep.model
    if evaluate_on == "validation" and data.x_val is None:
        raise ConfigError("error: evaluating on validation data needs a validation set: set dataset.validation_split above 0, or use folds")

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
    store.write_json(run_dir / store.PREPROCESSING_FILE, {
        "task": data.task, "classes": data.classes, "input_shape": list(data.input_shape),
        "loss": cfg.loss, "scaling": data.preprocessing.to_dict(),
    })

    recorder = _EpochRecorder(run_dir, cfg.training.epochs, on_epoch)
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
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=es.monitor, patience=es.patience, min_delta=es.min_delta, mode=es.mode,
            restore_best_weights=es.restore_best_weights, verbose=0,
        ))
    sched = cfg.optimizer.schedule
    if sched is not None and sched.type == "reduce_on_plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=sched.monitor, factor=sched.factor, patience=sched.patience,
            min_delta=sched.min_delta, min_lr=sched.min_lr, verbose=0,
        ))
    callbacks.append(recorder.keras_callback())  # last: it records what the others changed (learning rate)
    one_hot = uses_one_hot(data.task, cfg.loss)
    validation = None
    if data.x_val is not None:
        validation = (data.x_val, encode_targets(data.y_val, data, one_hot))
    model.fit(
        data.x_train, encode_targets(data.y_train, data, one_hot),
        validation_data=validation,
        epochs=t.epochs,
        batch_size=t.batch_size,
        shuffle=t.shuffle,
        class_weight=_class_weight(cfg, data),
        callbacks=callbacks,
        verbose=0,
    )


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

    def keras_callback(self) -> Any:
        import keras

        recorder = self

        class _Callback(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
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
    from mlrun.metrics import evaluate_predictions
    from mlrun.model import uses_one_hot

    x, y = (data.x_val, data.y_val) if on == "validation" else (data.x_test, data.y_test)
    one_hot = uses_one_hot(data.task, cfg.loss)
    batch = max(cfg.training.batch_size, 256)
    scores = model.predict(x, batch_size=batch, verbose=0)
    loss = model.evaluate(x, encode_targets(y, data, one_hot), batch_size=batch, verbose=0, return_dict=True)["loss"]
    return evaluate_predictions(y, scores, task=data.task, classes=data.classes, loss=float(loss))


def _write_evaluation(run_dir: Path, ev: Any) -> None:
    store.write_json(run_dir / store.METRICS_FILE, ev.metrics)
    store.write_csv(run_dir / store.PREDICTIONS_FILE, *ev.predictions)
    if ev.confusion is not None:
        store.write_csv(run_dir / store.CONFUSION_FILE, *ev.confusion)
    if ev.metrics.get("task") != "regression":
        store.write_csv(run_dir / store.ROC_FILE, *ev.roc)
        store.write_csv(run_dir / store.PR_FILE, *ev.pr)


def _save_model(model: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _finish(run_dir: Path, info: dict[str, Any], started: float) -> None:
    info["ended_at"] = store.now_iso()
    info["duration_s"] = round(time.time() - started, 3)
    store.write_json(run_dir / store.RUN_FILE, info)


def _versions() -> dict[str, str]:
    import keras
    import sklearn
    import tensorflow as tf

    return {
        "python": platform.python_version(), "mlrun": __version__, "tensorflow": tf.__version__,
        "keras": keras.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__,
    }


def _platform() -> dict[str, Any]:
    import tensorflow as tf

    return {
        "system": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "devices": [d.name for d in tf.config.list_logical_devices()],
    }


def load_run_model(run_dir: Path) -> Any:
    """Load a run's saved model with Keras' safe mode on (no arbitrary code from the file)."""
    from mlrun.backend import import_keras

    keras = import_keras()
    path = Path(run_dir) / store.MODEL_FILE
    if not path.is_file():
        raise RunError(f"error: {run_dir} has no {store.MODEL_FILE} (the run did not complete)")
    return keras.models.load_model(path, safe_mode=True)
