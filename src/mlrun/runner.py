"""Run one experiment: the pipeline config -> data -> model -> fit -> evaluate -> write the run, each stage once.

The stages live in their own modules: the data in :mod:`mlrun.data` (checked
against the config by :mod:`mlrun.preflight`), the model in :mod:`mlrun.model`,
fitting in :mod:`mlrun.training`, predictions and metrics in
:mod:`mlrun.evaluation`, and every file of the run directory in
:mod:`mlrun.artifacts`. This module only calls them in order.

Everything that can be wrong with the config or the data is found before the
run directory is created, so a bad config leaves nothing behind. Once the run
directory exists, its ``run.json`` always ends in a final status: completed,
failed, interrupted or diverged.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlrun import artifacts, store
from mlrun.config import ExperimentConfig, evolve, smoke_config, tracked_metrics, watches_validation
from mlrun.data import Dataset, Fold, load_dataset
from mlrun.errors import ConfigError, MlrunError
from mlrun.metrics.registry import headline
from mlrun.preflight import check_fits_data
from mlrun.runtime_choice import BackendChoice, choose_backend, concrete_runtime
from mlrun.tracking.live import track_run

if TYPE_CHECKING:
    from mlrun.training import EpochCallback, StopHook


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
    choice: BackendChoice | None = None  # the backend that runs, and why (run.json's runtime block)


def prepare(
    cfg: ExperimentConfig,
    *,
    base_dir: Path | None = None,
    fold: Fold | None = None,
    inner_validation: float | None = None,
) -> Prepared:
    """Load the data, check the config against it, build and compile the model.

    ``fold`` holds out that cross-validation fold of the training set, only
    scored (see :func:`mlrun.data.load_dataset`). When a callback monitors a
    ``val_*`` quantity, it watches an ``inner_validation`` fraction of the
    fold's training part instead, so the fold is never seen before it is scored;
    ``evaluation.recalibrate`` fits its std scale on that fraction too.

    Raises:
        ConfigError: the loss, activation or layers do not fit the data's task or shape.
        DataError: the data cannot be loaded or its labels do not fit the task.
    """
    from mlrun.backend import configure_runtime, distribution_strategy, keras_modules, loaded_backend

    choice = choose_backend(cfg)
    cfg = evolve(cfg, runtime=concrete_runtime(cfg, choice))  # config.yaml records what ran: rerun reproduces it
    if loaded_backend() is None:
        # The data comes first, so data errors do not wait for TensorFlow to start; a Keras
        # dataset download while loading imports Keras, which must then be on the config's backend.
        os.environ["KERAS_BACKEND"] = cfg.runtime.backend
    # A fold's inner validation split is what callbacks watch and what recalibration fits on (never the fold).
    needs_inner = watches_validation(cfg) or cfg.evaluation.recalibrate
    inner = inner_validation if fold is not None and needs_inner else None
    if fold is not None and inner is None and watches_validation(cfg):
        raise ConfigError(
            "error: a callback monitors validation data but a cross-validation fold is only scored: "
            "give an inner validation fraction (sweep.cv.inner_validation)"
        )
    data = load_dataset(
        cfg.dataset, seed=cfg.seed, task=cfg.task, loss=cfg.loss, base_dir=base_dir, fold=fold, inner_validation=inner
    )
    check_fits_data(cfg, data)
    resolved = evolve(cfg, task=data.task, metrics=tracked_metrics(cfg, data.task))
    configure_runtime(cfg.runtime, cfg.seed)  # imports Keras on the config's backend, seeds, sets threads
    builders = keras_modules(cfg.runtime.backend).model
    strategy = distribution_strategy(cfg.runtime)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        # Under a tf.distribute strategy, variables (model and optimizer) must be created in its scope.
        model = builders.build_model(
            resolved, data.input_shape, task=data.task, n_outputs=data.n_outputs, n_train=len(data.x_train)
        )
        steps = math.ceil(len(data.x_train) / cfg.training.batch_size)
        builders.compile_model(model, resolved, task=data.task, steps_per_epoch=steps)
    return Prepared(resolved, data, model, strategy, choice)


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
    inner_validation: float | None = None,
    evaluate_on: Literal["test", "validation"] = "test",
    rerun_of: str | None = None,
    should_stop: StopHook | None = None,
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
        fold: hold out this cross-validation fold of the training set instead
            of ``dataset.validation_split``: it is only scored; recorded in run.json.
        inner_validation: with a ``fold`` and a callback monitoring ``val_*``,
            the fraction of the fold's training part those callbacks watch.
        evaluate_on: the data metrics.json and the other evaluation files are
            computed on: ``test``, or ``validation`` (the held-out fold, else
            the validation set: a sweep's trials, which never touch the test set).
        rerun_of: the id of the run this one repeats (``mlrun rerun``), recorded in run.json.
        should_stop: asked after every epoch (a sweep's pruner, see :func:`mlrun.training.fit`);
            when it stops the fit, run.json records ``pruned_at_epoch`` and the run is evaluated as it stands.

    Returns:
        The run's directory, final status and metrics (on ``evaluate_on``).

    Raises:
        ConfigError, DataError: before anything is written.
        KeyboardInterrupt: after marking the run ``interrupted``.
    """
    started = time.time()
    prep = prepare(smoke_config(cfg) if smoke else cfg, base_dir=base_dir, fold=fold, inner_validation=inner_validation)
    if prep.data.scored(evaluate_on)[0] is None:
        raise ConfigError(
            "error: evaluating on validation data needs a validation set: set dataset.validation_split above 0, or use folds"
        )
    run_dir = Path(run_dir) if run_dir is not None else store.create_run_dir(runs_dir, prep.cfg.name)
    info = _run_info(run_dir, prep, smoke=smoke, command=command, fold=fold, evaluate_on=evaluate_on)
    info.update(base_dir=str(Path(base_dir).resolve()) if base_dir is not None else None, rerun_of=rerun_of)
    start = functools.partial(artifacts.write_run_start, run_dir, info, cfg=prep.cfg, data=prep.data, model=prep.model)
    with track_run(prep.cfg, run_dir, info, on_epoch) as on_epoch:  # MLflow, TensorBoard: see tracking.live
        _failing_records(run_dir, info, started, start)
        metrics = _fit_and_evaluate(
            prep, run_dir, info, started=started, on_epoch=on_epoch, evaluate_on=evaluate_on, should_stop=should_stop
        )
        result = headline_metric(metrics)
        info["headline"] = {"metric": result[0], "value": result[1]} if metrics else None
        _failing_records(run_dir, info, started, functools.partial(artifacts.finish, run_dir, info, started))
    return RunResult(run_dir, info["status"], metrics, result)


def _failing_records(run_dir: Path, info: dict[str, Any], started: float, write: Callable[[], None]) -> None:
    """Call ``write`` (files of the run); when it fails (a full disk), mark the run failed in run.json if it fits."""
    try:
        write()
    except Exception as exc:
        _record_end(run_dir, info, started, status="failed", error=exc)
        raise


def headline_metric(metrics: Mapping[str, Any]) -> tuple[str, float | None]:
    """The metric a run is summarized by (the registry's headline for its task) and its value."""
    name = headline(metrics.get("task"))
    return name, metrics.get(name)


def _fit_and_evaluate(
    prep: Prepared,
    run_dir: Path,
    info: dict[str, Any],
    *,
    started: float,
    on_epoch: EpochCallback | None,
    evaluate_on: Literal["test", "validation"],
    should_stop: StopHook | None = None,
) -> dict[str, Any]:
    """Fit, evaluate and write the results; record how it ended in ``info``. Return the metrics ({} if none).

    A failure or an interrupt is recorded in run.json (status, error, epochs) before it propagates.
    """
    from mlrun import ensemble
    from mlrun.backend import keras_modules
    from mlrun.evaluation import evaluate

    training = keras_modules().training
    fitted = training.FitResult()
    info["epoch_seconds"] = fitted.epoch_seconds  # filled in as epochs finish; written with run.json
    try:
        training.fit(
            prep.model, prep.cfg, prep.data, run_dir=run_dir, result=fitted, on_epoch=on_epoch, should_stop=should_stop
        )
        info.update(epochs_completed=fitted.epochs, best_epoch=fitted.best_epoch)
        if fitted.stopped_at is not None:
            info["pruned_at_epoch"] = fitted.stopped_at
        if fitted.diverged:
            info.update(status="diverged", error=fitted.divergence_error())
            return {}
        models = [prep.model]
        if prep.cfg.training.ensemble > 1 and fitted.stopped_at is None:  # a pruned trial stops at member 0
            members = ensemble.fit_members(prep, run_dir, info)
            if members is None:
                return {}
            models = members
        evaluation = evaluate(models if len(models) > 1 else prep.model, prep.cfg, prep.data, on=evaluate_on)
        artifacts.write_results(run_dir, evaluation, model=prep.model, cfg=prep.cfg, data=prep.data)
        if len(models) > 1:
            ensemble.save_members(run_dir, models)
        info["status"] = "completed"
        return evaluation.metrics
    except KeyboardInterrupt:
        info.update(epochs_completed=fitted.epochs)
        _record_end(run_dir, info, started, status="interrupted")
        raise
    except Exception as exc:
        info.update(epochs_completed=fitted.epochs)
        _record_end(run_dir, info, started, status="failed", error=exc)
        raise


def _record_end(
    run_dir: Path, info: dict[str, Any], started: float, *, status: str, error: BaseException | None = None
) -> None:
    """Write run.json with the run's final ``status`` (and ``error``), if it can still be written.

    A full disk that stopped the run may stop this write too: then the original
    error is what the caller raises, not this one.
    """
    info["status"] = status
    if error is not None:
        text = str(error).removeprefix("error: ")
        info["error"] = text if isinstance(error, MlrunError) else f"{type(error).__name__}: {text}"
    with contextlib.suppress(OSError, MlrunError):
        artifacts.finish(run_dir, info, started)


def _run_info(
    run_dir: Path,
    prep: Prepared,
    *,
    smoke: bool,
    command: Sequence[str] | None,
    fold: Fold | None,
    evaluate_on: str,
) -> dict[str, Any]:
    """run.json as the run starts: what runs, where, on what, with which versions; status ``running``."""
    from mlrun.backend import runtime_info

    cfg, data = prep.cfg, prep.data
    return {
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
        "versions": artifacts.versions(),
        "platform": artifacts.platform_info(),
        "runtime": runtime_info(cfg.runtime, prep.strategy, prep.choice),
        "dataset": data.summary(evaluate_on=evaluate_on),
        "fold": {"index": fold.index, "n_splits": fold.n_splits} if fold is not None else None,
        "evaluated_on": evaluate_on,
        "params": int(prep.model.count_params()),
        "epochs_completed": 0,
        "best_epoch": None,
        "headline": None,
        "error": None,
    }
