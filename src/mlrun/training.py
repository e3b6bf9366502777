"""Fit a compiled model: Keras' own callbacks, mlrun's history writer, targets, class weights, tf.data.

This module imports Keras when it is imported (its callbacks subclass Keras'): reach it through
:func:`mlrun.backend.keras_modules`, after the run's backend is chosen (see :mod:`mlrun.backend`).

Divergence is Keras' :class:`~keras.callbacks.TerminateOnNaN`, and the best epoch is the one Keras'
:class:`~keras.callbacks.EarlyStopping` recorded (with its ``min_delta`` and mode); without early
stopping it is the epoch with the best ``val_loss`` (else ``loss``).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlrun import interrupts, store
from mlrun.backend import import_keras
from mlrun.config import ExperimentConfig
from mlrun.data import Dataset
from mlrun.metrics.registry import direction
from mlrun.model import uses_one_hot

keras = import_keras()

EpochCallback = Callable[[int, int, Mapping[str, float]], None]
"""Called after each epoch with (epoch (1-based), total epochs, logs)."""
StopHook = Callable[[int, Mapping[str, float]], bool]
"""Asked after each epoch with (epoch (1-based), logs); True stops the fit (a sweep's pruner)."""


@dataclass
class FitResult:
    """How fitting went: the epochs it ran, their logs and wall times, the best epoch, and divergence."""

    epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    """Wall time of each epoch, validation included (run.json's ``epoch_seconds``)."""
    best_epoch: int | None = None
    diverged: str | None = None
    """``NaN`` or ``infinite`` when the loss stopped being a finite number, else None."""
    stopped_at: int | None = None
    """The epoch (1-based) after which a ``should_stop`` hook stopped the fit (a pruned sweep trial), else None."""

    def divergence_error(self) -> str:
        """run.json's ``error`` for a diverged run."""
        return (
            f"the loss became {self.diverged} at epoch {self.epochs}: training stopped. "
            "Lower optimizer.learning_rate, or check dataset.scale"
        )


Callback: Any = keras.callbacks.Callback  # Keras' base class, reached through mlrun.backend


class HistoryLogger(Callback):
    """Append each epoch's logs (and the learning rate) to history.csv, flushed, and report progress.

    Like Keras' ``CSVLogger``, it owns its state: the rows go into ``result`` (a
    :class:`FitResult` that outlives an interrupted fit) as epochs finish.
    """

    def __init__(self, path: Path, result: FitResult, *, total: int, on_epoch: EpochCallback | None = None) -> None:
        super().__init__()
        self.path, self.result, self.total, self.on_epoch = path, result, total, on_epoch
        self._writer: store.HistoryWriter | None = None
        self._epoch_started = 0.0

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._writer = store.HistoryWriter(self.path)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.result.epoch_seconds.append(round(time.perf_counter() - self._epoch_started, 4))
        row = {k: float(v) for k, v in (logs or {}).items()}
        if "learning_rate" not in row:
            row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        assert self._writer is not None, "on_train_begin opens the history file"
        with _signals_held():  # the row on disk and the count in run.json agree, whenever Ctrl-C comes
            self._writer.append(epoch + 1, row)
            self.result.history.append(row)
            self.result.epochs = epoch + 1
        if self.on_epoch is not None:
            self.on_epoch(epoch + 1, self.total, row)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends (on the main thread of a POSIX system; else nothing)."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


class RaiseInterrupt(Callback):
    """After each epoch: raise again a Ctrl-C or SIGTERM that came during it (see :mod:`mlrun.interrupts`)."""

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        interrupts.raise_if_requested()


class StopWhenAsked(Callback):
    """After each epoch, ask ``should_stop(epoch, logs)``; when it answers True, stop the fit and record the epoch.

    A sweep's pruner gives the hook (see :mod:`mlrun.sweep.study`); the fit then ends as Keras'
    ``EarlyStopping`` ends one, by ``model.stop_training``, and the run is evaluated as it stands.
    """

    def __init__(self, should_stop: StopHook, result: FitResult) -> None:
        super().__init__()
        self.should_stop, self.result = should_stop, result

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.should_stop(epoch + 1, {k: float(v) for k, v in (logs or {}).items()}):
            self.result.stopped_at = epoch + 1
            self.model.stop_training = True


def fit(
    model: Any,
    cfg: ExperimentConfig,
    data: Dataset,
    *,
    run_dir: Path,
    result: FitResult,
    on_epoch: EpochCallback | None,
    should_stop: StopHook | None = None,
) -> FitResult:
    """Train ``model`` on ``data`` for ``training.epochs``, writing history.csv into ``run_dir`` as epochs end.

    ``result`` is filled in as epochs finish, so an interrupted fit still says how far it got.
    ``should_stop`` is asked after every epoch (see :class:`StopWhenAsked`); it reads ``val_*`` values
    from the logs, so a cross-validation fold without an inner validation split is then Keras'
    validation data: scored after each epoch, still never fit on.
    """
    early = _early_stopping(cfg)
    callbacks = [c for c in (early, _reduce_on_plateau(cfg)) if c is not None]
    callbacks.append(keras.callbacks.TerminateOnNaN())
    if should_stop is not None:
        callbacks.append(StopWhenAsked(should_stop, result))
    # Last but one: it records what the others changed (the learning rate), and the logs of a diverged epoch.
    callbacks.append(HistoryLogger(run_dir / store.HISTORY_FILE, result, total=cfg.training.epochs, on_epoch=on_epoch))
    callbacks.append(RaiseInterrupt())  # last: once the epoch is on disk, a Ctrl-C that Keras swallowed
    inputs = _inputs(cfg, data, watch_fold=should_stop is not None)
    with _quiet_keras():
        model.fit(**inputs, epochs=cfg.training.epochs, callbacks=callbacks, verbose=0)
    interrupts.raise_if_requested()  # one swallowed after the last epoch's check
    last_loss = result.history[-1].get("loss") if result.history else None
    if last_loss is not None and not math.isfinite(last_loss):  # TerminateOnNaN stopped the fit
        result.diverged = "NaN" if math.isnan(last_loss) else "infinite"
    result.best_epoch = best_epoch(result.history, early)
    return result


def best_epoch(history: list[dict[str, float]], early: Any = None) -> int | None:
    """The 1-based epoch with the best monitored value, or None when the monitor was not logged.

    With early stopping, the epoch Keras' ``EarlyStopping`` recorded (its monitor, mode and
    ``min_delta``); without, the best ``val_loss`` (else ``loss``) in the registry's direction.
    """
    if not history:
        return None
    if early is not None:
        return int(early.best_epoch) + 1 if early.monitor in history[0] else None
    monitor = "val_loss" if "val_loss" in history[0] else "loss"
    values = [h.get(monitor) for h in history]
    if any(v is None for v in values):
        return None
    worst = -math.inf if direction(monitor) == "max" else math.inf
    finite = [v if v is not None and math.isfinite(v) else worst for v in values]
    return int(np.argmax(finite) if direction(monitor) == "max" else np.argmin(finite)) + 1


@contextlib.contextmanager
def _quiet_keras() -> Iterator[None]:
    """Keep Keras from printing during the fit (TerminateOnNaN announces itself); the run reports divergence."""
    was = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    try:
        yield
    finally:
        if was:
            keras.config.enable_interactive_logging()


def _early_stopping(cfg: ExperimentConfig) -> Any:
    es = cfg.training.early_stopping
    if es is None:
        return None
    # The config's field names are EarlyStopping's keyword arguments.
    return keras.callbacks.EarlyStopping(**es.model_dump(), verbose=0)


def _reduce_on_plateau(cfg: ExperimentConfig) -> Any:
    sched = cfg.optimizer.schedule
    if sched is None or sched.type != "reduce_on_plateau":
        return None
    return keras.callbacks.ReduceLROnPlateau(**sched.model_dump(exclude={"type"}), verbose=0)


def _inputs(cfg: ExperimentConfig, data: Dataset, *, watch_fold: bool = False) -> dict[str, Any]:
    """``model.fit``'s data arguments: arrays, or tf.data pipelines with ``runtime.input_pipeline: tf_data``.

    ``watch_fold``: without a validation split, a held-out fold is the validation data (logged, never fit on).
    """
    t = cfg.training
    one_hot = uses_one_hot(data.task, cfg.loss)
    x, y = data.x_train, encode_targets(data.y_train, data, one_hot)
    validation = None
    if data.x_val is not None and data.y_val is not None:
        validation = (data.x_val, encode_targets(data.y_val, data, one_hot))
    elif watch_fold and data.x_fold is not None and data.y_fold is not None:
        validation = (data.x_fold, encode_targets(data.y_fold, data, one_hot))
    weights = class_weights(cfg, data)
    if cfg.runtime.input_pipeline != "tf_data":
        arrays = {"x": x, "y": y, "batch_size": t.batch_size, "shuffle": t.shuffle}
        return {**arrays, "validation_data": validation, "class_weight": weights}
    pipeline = tf_data_pipeline(x, y, batch_size=t.batch_size, shuffle=t.shuffle, seed=cfg.seed)
    if validation is not None:
        validation = tf_data_pipeline(*validation, batch_size=t.batch_size, shuffle=False, seed=cfg.seed)
    # The pipeline shuffles (and batches) itself.
    return {"x": pipeline, "shuffle": False, "validation_data": validation, "class_weight": weights}


def tf_data_pipeline(x: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle: bool, seed: int) -> Any:
    """A tf.data pipeline over in-memory (or memory-mapped) arrays: shuffled indices, batches, prefetching.

    The pipeline shuffles and batches sample indices and gathers each batch
    from the arrays as it is needed, so the arrays are never copied into the
    graph (``np.load(..., mmap_mode="r")`` arrays stay on disk), and gathers
    ahead of the model in parallel with training (prefetch).
    """
    import tensorflow as tf  # tf.data is TensorFlow's own (Keras is already loaded: see mlrun.backend)

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


def class_weights(cfg: ExperimentConfig, data: Dataset) -> dict[int, float] | None:
    """``model.fit``'s ``class_weight``: by class index, from ``training.class_weight`` (labels already checked).

    ``balanced`` weighs each class present in the training set as scikit-learn's
    ``compute_class_weight`` does; a class left out of a mapping keeps weight 1.
    """
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
    # mlrun.preflight refused unknown labels (and mappings for other tasks) before the run started.
    return {i: float(cw.get(name, 1.0)) for i, name in enumerate(data.classes)}
