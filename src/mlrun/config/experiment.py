"""The whole experiment config, and the checks that tie its blocks to the task.

Checks that need no data run when the config is validated; the task-dependent ones
(:func:`check_task`) run again once the task is known, inferred from the labels when
``task:`` is not given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, model_validator

from mlrun.config.architectures import ModelConfig, PerceptronConfig, model_has_dropout
from mlrun.config.base import Loss, Metric, Strict, Task
from mlrun.config.dataset import DatasetConfig
from mlrun.config.evaluation import EvaluationConfig
from mlrun.config.optimizers import AdamConfig, OptimizerConfig, ReduceOnPlateau, SGDConfig
from mlrun.config.runtime import RuntimeConfig
from mlrun.config.tracking import TrackingConfig
from mlrun.config.training import TrainingConfig
from mlrun.metrics import registry


class ExperimentConfig(Strict):
    """One experiment: data, model, loss, optimizer, training."""

    name: str = Field(min_length=1, max_length=200)
    """Shown in listings and used in the run id."""
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    """Seeds data splits, weights and shuffling (numpy and scikit-learn take 0 .. 2**32 - 1)."""
    task: Task | None = None
    """binary, multiclass, multilabel or regression; inferred from the labels when omitted."""
    dataset: DatasetConfig
    model: ModelConfig
    loss: Loss
    optimizer: OptimizerConfig = Field(default_factory=lambda: AdamConfig(name="adam"))
    training: TrainingConfig = Field(default_factory=lambda: TrainingConfig())
    metrics: list[Metric] | None = None
    """Metrics tracked per epoch (train and validation); default: accuracy for classification,
    mae for regression. Test metrics are always complete."""
    runtime: RuntimeConfig = Field(default_factory=lambda: RuntimeConfig())
    evaluation: EvaluationConfig = Field(default_factory=lambda: EvaluationConfig())
    """How the test set is evaluated (Monte Carlo dropout)."""
    tracking: TrackingConfig = Field(default_factory=lambda: TrackingConfig())
    """Also record the run in MLflow and TensorBoard (see README, Tracking)."""

    @model_validator(mode="before")
    @classmethod
    def _perceptron_defaults(cls, data: Any) -> Any:
        # The perceptron's loss, optimizer and batch size are Rosenblatt's rule; fill them
        # in when left out, so the resolved config.yaml shows what ran.
        if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
            return data
        if data["model"].get("architecture") != "perceptron":
            return data
        data = dict(data)
        data.setdefault("loss", "mse")
        data.setdefault("optimizer", {"name": "sgd", "learning_rate": 1.0})
        training = data.get("training")
        if training is None:
            data["training"] = {"batch_size": 1}
        elif isinstance(training, dict) and "batch_size" not in training:
            data["training"] = {**training, "batch_size": 1}
        return data

    @model_validator(mode="after")
    def _static_consistency(self) -> ExperimentConfig:
        # Checks that need no data; the task-dependent ones run once labels are known.
        if isinstance(self.model, PerceptronConfig):
            check_perceptron(self)
        bayesian = getattr(self.model, "bayesian", None) is not None
        if self.evaluation.mc_samples > 1 and not (model_has_dropout(self.model) or bayesian):
            raise ValueError(
                f"evaluation.mc_samples: {self.evaluation.mc_samples} samples of Monte Carlo dropout need dropout in "
                "the model, which has none: set model.dropout (e.g. 0.2) with hidden_units, or add "
                "{type: dropout, rate: 0.2} to model.layers, or make it Bayesian (model.bayesian: {}); "
                "or set evaluation.mc_samples: 1"
            )
        check_recalibration(self)
        if self.task is not None:
            check_task(self)
        else:
            check_monitors(self)
        return self


def has_predictive_std(cfg: ExperimentConfig) -> bool:
    """True when a run predicts a std: Monte Carlo samples, an ensemble's spread or a Gaussian head's variance."""
    return cfg.evaluation.mc_samples > 1 or cfg.training.ensemble > 1 or cfg.loss in GAUSSIAN_LOSSES


def check_recalibration(cfg: ExperimentConfig) -> None:
    """Raise ValueError when ``evaluation.recalibrate`` has no std to scale or no held-out rows to fit on,
    or when ``dataset.calibration_split`` holds rows out for it while it is off.

    (On a classifier it is refused by :func:`check_task`, once the task is known.)
    """
    calibration = cfg.dataset.calibration_split
    if not cfg.evaluation.recalibrate:
        if calibration > 0:
            raise ValueError(
                f"dataset.calibration_split: holds out rows for evaluation.recalibrate only, which is off; "
                f"set evaluation.recalibrate (true or coverage), or remove dataset.calibration_split (got "
                f"{calibration}: those rows would be neither trained on nor used)"
            )
        return
    if not has_predictive_std(cfg):
        raise ValueError(
            "evaluation.recalibrate: scales the predicted standard deviations, but this run predicts none "
            f"(loss {cfg.loss!r}, evaluation.mc_samples 1, no training.ensemble): use loss: gaussian_nll "
            "(or gaussian_beta_nll), training.ensemble: 4, or Monte Carlo samples (evaluation.mc_samples: 50 "
            "with model.dropout or model.bayesian); or remove evaluation.recalibrate"
        )
    if cfg.dataset.validation_split == 0 and calibration == 0:
        raise ValueError(
            "evaluation.recalibrate: fits its scale on the validation split, but dataset.validation_split "
            "is 0: hold out a calibration split for it (dataset.calibration_split, e.g. 0.15: rows that early "
            "stopping never watches), or set dataset.validation_split (e.g. 0.15), or remove "
            "evaluation.recalibrate (it is never fitted on the test set)"
        )


def output_head(task: str, loss: str, n_outputs: int) -> tuple[int, str]:
    """Return (units, activation) of the output layer for a task, a loss and the label count.

    ``n_outputs`` is the number of classes (binary, multiclass), labels
    (multilabel) or targets (regression).
    """
    if task == "binary":
        return (
            (2, "softmax")
            if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy")
            else (1, "sigmoid")
        )
    if task == "multiclass":
        return n_outputs, "softmax"
    if task == "multilabel":
        return n_outputs, "sigmoid"
    if loss in GAUSSIAN_LOSSES:
        return 2 * n_outputs, "linear"  # a mean and a raw variance per target (see mlrun.gaussian)
    return n_outputs, "linear"


#: The losses of a Gaussian head (a mean and a variance per target; see :mod:`mlrun.gaussian`).
GAUSSIAN_LOSSES: frozenset[str] = frozenset({"gaussian_nll", "gaussian_beta_nll"})

#: The losses that fit each task; :func:`mlrun.data.infer_task` asks it too, when no ``task:`` is given.
TASK_LOSSES: dict[str, frozenset[str]] = {
    "binary": frozenset(
        {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "mse", "mae"}
    ),
    "multiclass": frozenset({"categorical_crossentropy", "sparse_categorical_crossentropy", "mse", "mae"}),
    "multilabel": frozenset({"binary_crossentropy", "mse", "mae"}),
    "regression": frozenset({"mse", "mae"}) | GAUSSIAN_LOSSES,
}
_TASK_HINT = {
    "binary": "binary_crossentropy (one sigmoid unit) or sparse_categorical_crossentropy (two softmax units)",
    "multiclass": "sparse_categorical_crossentropy for integer labels, or categorical_crossentropy",
    "multilabel": "binary_crossentropy (one sigmoid unit per label)",
    "regression": "mse or mae (or gaussian_nll, gaussian_beta_nll: a mean and a variance per target)",
}


def check_perceptron(cfg: ExperimentConfig) -> None:
    """Raise ValueError when a perceptron's loss or optimizer is not Rosenblatt's rule."""
    if cfg.loss != "mse":
        raise ValueError(
            f"loss: {cfg.loss!r} does not apply to a perceptron, which learns by Rosenblatt's rule: "
            "leave `loss` out (it is recorded as mse: the fraction of misclassified samples)"
        )
    o = cfg.optimizer
    if not isinstance(o, SGDConfig) or o.momentum != 0:
        got = o.name if not isinstance(o, SGDConfig) else f"sgd with momentum {o.momentum}"
        raise ValueError(
            f"optimizer: a perceptron learns by Rosenblatt's rule, which is plain SGD (got {got}): "
            "use {name: sgd, learning_rate: 1.0} without momentum, or leave `optimizer` out"
        )


def tracked_metrics(cfg: ExperimentConfig, task: str | None) -> list[str]:
    """The per-epoch metrics of a config: ``metrics``, or the task's default (accuracy; mae for regression)."""
    if cfg.metrics is not None:
        return list(cfg.metrics)
    return registry.default_epoch_metrics(task)


def check_task(cfg: ExperimentConfig, task: str | None = None) -> None:
    """Raise ValueError when the loss, output activation, metrics or a ``monitor`` contradict the task.

    Args:
        cfg: the validated config.
        task: the task inferred from the labels; default ``cfg.task``, which must then be given.
    """
    task = task or cfg.task
    if task is None:
        raise TypeError("check_task needs a task: pass the one inferred from the labels")
    if isinstance(cfg.model, PerceptronConfig) and task != "binary":
        raise ValueError(
            f"model.architecture: a perceptron is a binary classifier (one unit with output 0 or 1), "
            f"but this is a {task} task: use architecture: mlp (or linear) for {task}, or give binary labels"
        )
    if cfg.loss in GAUSSIAN_LOSSES and task != "regression":
        raise ValueError(
            f"loss: {cfg.loss!r} is a regression loss (the output is a mean and a variance per target), "
            f"but this is a {task} task: use {_TASK_HINT[task]}; for the spread of class probabilities, "
            "use training.ensemble, model.bayesian or Monte Carlo dropout (evaluation.mc_samples)"
        )
    if cfg.loss not in TASK_LOSSES[task]:
        raise ValueError(f"loss: {cfg.loss!r} does not fit a {task} task: use {_TASK_HINT[task]}")
    _, expected = output_head(task, cfg.loss, 3)
    given = getattr(cfg.model, "output_activation", None)
    if given is not None and given != expected:
        ok_regression = task == "regression" and given not in ("softmax",)
        if not ok_regression:
            raise ValueError(
                f"model.output_activation: {given!r} contradicts a {task} task with loss {cfg.loss!r}: "
                f"the output layer needs {expected!r} (or leave output_activation out)"
            )
    allowed = registry.epoch_metrics(task)
    bad = [m for m in tracked_metrics(cfg, task) if m not in allowed]
    if bad:
        raise ValueError(
            f"metrics: {bad} cannot be tracked per epoch for a {task} task "
            f"(allowed: {sorted(allowed)}); test-set precision, recall and AUC "
            "are always in metrics.json"
        )
    if cfg.evaluation.recalibrate and task != "regression":
        raise ValueError(
            f"evaluation.recalibrate: scales a regression run's predicted standard deviations, but this is "
            f"a {task} task: remove it (a classifier's calibration is measured by its ece)"
        )
    if cfg.dataset.positive_label is not None and task != "binary":
        raise ValueError(
            f"dataset.positive_label: applies to binary tasks only, but this is a {task} task "
            "(its metrics average over every class): remove it"
        )
    if task == "regression" and cfg.training.class_weight is not None:
        raise ValueError("training.class_weight: applies to classification only; remove it for regression")
    check_monitors(cfg, task)


def monitors(cfg: ExperimentConfig) -> list[tuple[str, str]]:
    """The quantities a run watches while training, as (dotted key, logged name): early stopping's
    ``monitor`` and the reduce_on_plateau schedule's."""
    out = []
    if cfg.training.early_stopping is not None:
        out.append(("training.early_stopping.monitor", cfg.training.early_stopping.monitor))
    if isinstance(cfg.optimizer.schedule, ReduceOnPlateau):
        out.append(("optimizer.schedule.monitor", cfg.optimizer.schedule.monitor))
    return out


def watches_validation(cfg: ExperimentConfig) -> bool:
    """True when a callback (early stopping, the reduce_on_plateau schedule) monitors a ``val_*`` quantity."""
    return any(monitor.startswith("val_") for _, monitor in monitors(cfg))


def check_monitors(cfg: ExperimentConfig, task: str | None = None) -> None:
    """Raise ValueError when a ``monitor`` names a quantity the run will not log.

    A run logs ``loss`` and each tracked metric, and their ``val_`` twins when it has validation
    data. While the task is unknown (no ``task:``; it is inferred from the labels later) and
    ``metrics:`` is not given, the tracked metrics are not known yet: then only a name that no
    task's run would log is refused, and :func:`check_task` checks again once the task is known.
    """
    task = task or cfg.task
    validation = cfg.dataset.validation_split > 0
    for key, monitor in monitors(cfg):
        if monitor.startswith("val_") and not validation:
            raise ValueError(
                f"{key}: {monitor!r} needs validation data but dataset.validation_split is 0: "
                "set a validation split (e.g. 0.2) or monitor a training metric such as 'loss'"
            )
        if task is not None or cfg.metrics is not None:
            allowed = registry.logged_names(tracked_metrics(cfg, task), validation=validation)
            trackable = registry.epoch_metrics(task) if task is not None else list(registry.EPOCH_METRIC_NAMES)
            note = ""
        else:
            defaults: dict[str, list[str]] = {t: registry.default_epoch_metrics(t) for t in registry.TASKS}
            any_default = dict.fromkeys(name for names in defaults.values() for name in names)
            allowed = registry.logged_names(list(any_default), validation=validation)
            trackable = list(registry.EPOCH_METRIC_NAMES)
            note = f" (no `task:` given, so the metrics are the task's default: {_by_task(defaults)})"
        if monitor not in allowed:
            raise ValueError(_monitor_error(key, monitor, allowed, trackable) + note)


def _by_task(metrics: dict[str, list[str]]) -> str:
    """``accuracy for binary/multiclass/multilabel, mae for regression``."""
    tasks: dict[str, list[str]] = {}
    for task, names in metrics.items():
        tasks.setdefault(", ".join(names), []).append(task)
    return ", ".join(f"{names} for {'/'.join(group)}" for names, group in tasks.items())


def _monitor_error(key: str, monitor: str, allowed: Sequence[str], trackable: Sequence[str]) -> str:
    message = (
        f"{key}: {monitor!r} is not logged by this run{registry.did_you_mean(monitor, allowed)}; "
        f"monitor one of: {', '.join(allowed)}"
    )
    base = registry.base_name(monitor)
    if base in trackable and base not in allowed:
        message += f"; or add {base!r} to `metrics:` to track it"
    return message
