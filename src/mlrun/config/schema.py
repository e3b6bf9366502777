"""The experiment config schema: strict pydantic models, one per config block.

Every model forbids unknown keys, so a typo is an error, never a silently
ignored setting. The field docstrings are the config reference.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

Task = Literal["binary", "multiclass", "multilabel", "regression"]
Activation = Literal[
    "linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu",
    "softplus", "softsign", "swish", "hard_sigmoid", "softmax",
]
Initializer = Literal[
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
    "lecun_normal", "random_normal", "random_uniform", "truncated_normal",
    "orthogonal", "zeros", "ones",
]
Loss = Literal[
    "mse", "mae", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy",
]
Metric = Literal["accuracy", "auc", "precision", "recall", "mse", "mae", "rmse"]
Padding = Literal["same", "valid"]
IntOrPair = Union[Annotated[int, Field(ge=1)], list[Annotated[int, Field(ge=1)]]]

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")


class Strict(BaseModel):
    """Base of every config block: unknown keys are errors, values are re-validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- dataset


class DatasetConfig(Strict):
    """Where the data comes from and how it is prepared."""

    name: str | None = None
    """A built-in dataset: keras (mnist, fashion_mnist, cifar10, cifar100) or sklearn
    (digits, iris, wine, breast_cancer, diabetes). Give ``name`` or ``path``."""
    path: Path | None = None
    """A CSV file (one row per sample, the label in column ``label``) or an NPZ file
    (arrays ``x``/``y``, or ``x_train``/``y_train``/``x_test``/``y_test``). A relative
    path is looked up in the current directory, then beside the config file."""
    label: str | list[str] = "label"
    """CSV only: the label column, or a list of columns (multilabel or multi-output)."""
    data_dir: Path | None = None
    """Directory searched first for keras datasets' files (``mnist.npz``, ...);
    default ``$MLRUN_DATA_DIR``, then Keras' own loader (downloads)."""
    scale: float | Literal["standard", "minmax", "none"] = "none"
    """Input scaling: a number to divide by (e.g. 255), ``standard`` (zero mean, unit
    variance), ``minmax`` (to [0, 1]) or ``none``. Statistics come from the training set."""
    validation_split: float = Field(0.2, ge=0.0, lt=1.0)
    """Fraction of the training set held out for validation (0 for none)."""
    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    """Fraction held out as the test set, for sources without one."""
    limit: int | None = Field(None, ge=2)
    """Use at most this many training samples and at most this many test samples."""
    stratify: bool = True
    """Stratify test split and subsampling by class (classification only)."""

    @field_validator("scale", mode="before")
    @classmethod
    def _check_scale(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("must be a number to divide by, or one of 'standard', 'minmax', 'none'")
        if isinstance(value, str) and value not in ("standard", "minmax", "none"):
            raise ValueError(f"must be a number to divide by, or one of 'standard', 'minmax', 'none' (got {value!r})")
        if isinstance(value, (int, float)) and value <= 0:
            raise ValueError(f"must be greater than 0 to divide by (got {value})")
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        known = KERAS_DATASETS + SKLEARN_DATASETS
        if value is not None and value not in known:
            hint = difflib.get_close_matches(value, known, n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ValueError(f"unknown dataset {value!r}{did}; known: {', '.join(known)}; or give `path:` to a CSV/NPZ file")
        return value

    @model_validator(mode="after")
    def _name_or_path(self) -> DatasetConfig:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of `name` (a built-in dataset) or `path` (a CSV or NPZ file)")
        return self


# --------------------------------------------------------------------------- layers


class _Weights(Strict):
    kernel_initializer: Initializer = "glorot_uniform"
    """How the weights start (keras initializer name)."""
    l1: float = Field(0.0, ge=0.0)
    """L1 penalty on the weights."""
    l2: float = Field(0.0, ge=0.0)
    """L2 penalty on the weights (weight decay)."""
    use_bias: bool = True


class DenseLayer(_Weights):
    """A fully connected layer."""

    type: Literal["dense"]
    units: int = Field(ge=1)
    activation: Activation = "linear"


class _Conv(_Weights):
    filters: int = Field(ge=1)
    """Number of filters (output channels)."""
    kernel_size: IntOrPair
    strides: IntOrPair = 1
    padding: Padding = "valid"
    activation: Activation = "linear"


class Conv1DLayer(_Conv):
    """A 1-D convolution over (steps, channels) inputs."""

    type: Literal["conv1d"]


class Conv2DLayer(_Conv):
    """A 2-D convolution over (height, width, channels) images."""

    type: Literal["conv2d"]


class _Pooling(Strict):
    pool_size: IntOrPair = 2
    strides: IntOrPair | None = None
    padding: Padding = "valid"


class MaxPooling1DLayer(_Pooling):
    type: Literal["max_pooling1d"]


class MaxPooling2DLayer(_Pooling):
    type: Literal["max_pooling2d"]


class AveragePooling1DLayer(_Pooling):
    type: Literal["average_pooling1d"]


class AveragePooling2DLayer(_Pooling):
    type: Literal["average_pooling2d"]


class GlobalAveragePooling1DLayer(Strict):
    type: Literal["global_average_pooling1d"]


class GlobalAveragePooling2DLayer(Strict):
    type: Literal["global_average_pooling2d"]


class FlattenLayer(Strict):
    type: Literal["flatten"]


class DropoutLayer(Strict):
    """Randomly zero a fraction ``rate`` of the inputs while training."""

    type: Literal["dropout"]
    rate: float = Field(ge=0.0, lt=1.0)


class BatchNormalizationLayer(Strict):
    type: Literal["batch_normalization"]
    momentum: float = Field(0.99, gt=0.0, lt=1.0)
    epsilon: float = Field(0.001, gt=0.0)


class ReshapeLayer(Strict):
    type: Literal["reshape"]
    target_shape: list[Annotated[int, Field(ge=-1)]] = Field(min_length=1)


class GaussianNoiseLayer(Strict):
    """Add zero-mean Gaussian noise to the inputs while training (a regularizer)."""

    type: Literal["gaussian_noise"]
    stddev: float = Field(gt=0.0)


class ActivationLayer(Strict):
    type: Literal["activation"]
    activation: Activation


Layer = Annotated[
    Union[
        DenseLayer, Conv1DLayer, Conv2DLayer, MaxPooling1DLayer, MaxPooling2DLayer,
        AveragePooling1DLayer, AveragePooling2DLayer, GlobalAveragePooling1DLayer,
        GlobalAveragePooling2DLayer, FlattenLayer, DropoutLayer, BatchNormalizationLayer,
        ReshapeLayer, GaussianNoiseLayer, ActivationLayer,
    ],
    Field(discriminator="type"),
]
LAYER_TYPES = typing.get_args(typing.get_args(Layer)[0])


# --------------------------------------------------------------------------- models


class _ModelBase(Strict):
    layers: list[Layer] | None = None
    """The hidden layers, one per line, in order. The output layer is added from the task."""
    output_activation: Activation | None = None
    """Output activation; default from the task and loss (softmax, sigmoid or linear).
    Giving one that contradicts the task is an error."""


class MLPConfig(_ModelBase):
    """A multilayer perceptron: inputs are flattened, then dense layers."""

    architecture: Literal["mlp"]
    hidden_units: list[Annotated[int, Field(ge=1)]] | None = None
    """Units of each hidden dense layer, e.g. [256, 64, 32]. Or give ``layers``."""
    activation: Activation = "relu"
    """Activation of the hidden layers given by ``hidden_units``."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """Dropout rate after each hidden layer given by ``hidden_units`` (0 for none)."""
    batch_normalization: bool = False
    """Batch normalization after each hidden layer given by ``hidden_units``."""
    kernel_initializer: Initializer = "glorot_uniform"
    l1: float = Field(0.0, ge=0.0)
    l2: float = Field(0.0, ge=0.0)

    @model_validator(mode="after")
    def _units_or_layers(self) -> MLPConfig:
        if self.hidden_units is not None and self.layers is not None:
            raise ValueError("give `hidden_units` or `layers`, not both")
        return self


class CNNConfig(_ModelBase):
    """A convolutional network; declare its layers explicitly."""

    architecture: Literal["cnn"]
    layers: list[Layer] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_conv(self) -> CNNConfig:
        if not any(isinstance(layer, (Conv1DLayer, Conv2DLayer)) for layer in self.layers):
            raise ValueError("a cnn needs at least one conv1d or conv2d layer (or use `architecture: mlp`)")
        return self


ModelConfig = Annotated[Union[MLPConfig, CNNConfig], Field(discriminator="architecture")]


# --------------------------------------------------------------------------- optimizers


class ExponentialDecay(Strict):
    """lr * decay_rate ** (step / decay_steps)."""

    type: Literal["exponential_decay"]
    decay_steps: int = Field(ge=1)
    decay_rate: float = Field(gt=0.0, le=1.0)
    staircase: bool = False


class CosineDecay(Strict):
    """Cosine decay from learning_rate to alpha * learning_rate over decay_steps."""

    type: Literal["cosine_decay"]
    decay_steps: int = Field(ge=1)
    alpha: float = Field(0.0, ge=0.0, le=1.0)


class ReduceOnPlateau(Strict):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving."""

    type: Literal["reduce_on_plateau"]
    monitor: str = "val_loss"
    factor: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(5, ge=0)
    min_delta: float = Field(1e-4, ge=0.0)
    min_lr: float = Field(0.0, ge=0.0)


Schedule = Annotated[Union[ExponentialDecay, CosineDecay, ReduceOnPlateau], Field(discriminator="type")]


class _OptimizerBase(Strict):
    learning_rate: float = Field(0.001, gt=0.0)
    """Step size of gradient descent."""
    schedule: Schedule | None = None
    """How the learning rate changes while training."""
    clipnorm: float | None = Field(None, gt=0.0)
    """Clip each gradient to this norm."""


class SGDConfig(_OptimizerBase):
    """Stochastic gradient descent, with optional (Nesterov) momentum."""

    name: Literal["sgd"]
    learning_rate: float = Field(0.01, gt=0.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGDConfig:
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: true needs momentum > 0 (e.g. momentum: 0.9)")
        return self


class AdagradConfig(_OptimizerBase):
    name: Literal["adagrad"]
    initial_accumulator_value: float = Field(0.1, ge=0.0)
    epsilon: float = Field(1e-7, gt=0.0)


class AdadeltaConfig(_OptimizerBase):
    name: Literal["adadelta"]
    rho: float = Field(0.95, gt=0.0, lt=1.0)
    epsilon: float = Field(1e-7, gt=0.0)


class RMSpropConfig(_OptimizerBase):
    name: Literal["rmsprop"]
    rho: float = Field(0.9, gt=0.0, lt=1.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    epsilon: float = Field(1e-7, gt=0.0)
    centered: bool = False


class _AdamFamily(_OptimizerBase):
    beta_1: float = Field(0.9, gt=0.0, lt=1.0)
    beta_2: float = Field(0.999, gt=0.0, lt=1.0)
    epsilon: float = Field(1e-7, gt=0.0)


class AdamConfig(_AdamFamily):
    name: Literal["adam"]
    amsgrad: bool = False


class AdamWConfig(_AdamFamily):
    name: Literal["adamw"]
    weight_decay: float = Field(0.004, ge=0.0)
    amsgrad: bool = False


class AdamaxConfig(_AdamFamily):
    name: Literal["adamax"]


class NadamConfig(_AdamFamily):
    name: Literal["nadam"]


OptimizerConfig = Annotated[
    Union[SGDConfig, AdagradConfig, AdadeltaConfig, RMSpropConfig, AdamConfig, AdamWConfig, AdamaxConfig, NadamConfig],
    Field(discriminator="name"),
]


# --------------------------------------------------------------------------- training


class EarlyStoppingConfig(Strict):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    monitor: str = "val_loss"
    patience: int = Field(5, ge=0)
    min_delta: float = Field(0.0, ge=0.0)
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = True


class TrainingConfig(Strict):
    """How the model is fitted."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    shuffle: bool = True
    """Shuffle the training samples before each epoch."""
    early_stopping: EarlyStoppingConfig | None = None
    class_weight: Literal["balanced"] | dict[str, Annotated[float, Field(gt=0.0)]] | None = None
    """Weight the loss per class: ``balanced`` (inverse class frequency) or
    {label: weight}; classification only."""


class RuntimeConfig(Strict):
    """How a run executes (not what it computes)."""

    deterministic: bool = False
    """Turn on TensorFlow op determinism: same config and seed, same results (slower)."""
    intra_op_threads: int | None = Field(None, ge=1)
    inter_op_threads: int | None = Field(None, ge=1)


class ExperimentConfig(Strict):
    """One experiment: data, model, loss, optimizer, training."""

    name: str = Field(min_length=1, max_length=200)
    """Shown in listings and used in the run id."""
    seed: int = Field(42, ge=0)
    task: Task | None = None
    """binary, multiclass, multilabel or regression; inferred from the labels when omitted."""
    dataset: DatasetConfig
    model: ModelConfig
    loss: Loss
    optimizer: OptimizerConfig = Field(default_factory=lambda: AdamConfig(name="adam"))
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    metrics: list[Metric] = Field(default_factory=lambda: ["accuracy"])
    """Metrics tracked per epoch (train and validation). Test metrics are always complete."""
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)

    @model_validator(mode="after")
    def _static_consistency(self) -> ExperimentConfig:
        # Checks that need no data; the task-dependent ones run once labels are known.
        if self.task is not None:
            check_task(self)
        es = self.training.early_stopping
        if es is not None and es.monitor.startswith("val_") and self.dataset.validation_split == 0:
            raise ValueError(
                f"training.early_stopping.monitor: {es.monitor!r} needs validation data but dataset.validation_split is 0: "
                "set a validation split (e.g. 0.2) or monitor a training metric such as 'loss'"
            )
        return self


# --------------------------------------------------------------------------- task checks

CLASSIFICATION_LOSSES = {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"}


def output_head(task: str, loss: str, n_outputs: int) -> tuple[int, str]:
    """Return (units, activation) of the output layer for a task, a loss and the label count.

    ``n_outputs`` is the number of classes (binary, multiclass), labels
    (multilabel) or targets (regression).
    """
    if task == "binary":
        return (2, "softmax") if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy") else (1, "sigmoid")
    if task == "multiclass":
        return n_outputs, "softmax"
    if task == "multilabel":
        return n_outputs, "sigmoid"
    return n_outputs, "linear"


_TASK_LOSSES = {
    "binary": {"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "mse", "mae"},
    "multiclass": {"categorical_crossentropy", "sparse_categorical_crossentropy", "mse", "mae"},
    "multilabel": {"binary_crossentropy", "mse", "mae"},
    "regression": {"mse", "mae"},
}
_TASK_HINT = {
    "binary": "binary_crossentropy (one sigmoid unit) or sparse_categorical_crossentropy (two softmax units)",
    "multiclass": "sparse_categorical_crossentropy for integer labels, or categorical_crossentropy",
    "multilabel": "binary_crossentropy (one sigmoid unit per label)",
    "regression": "mse or mae",
}
_METRICS_FOR = {
    "binary": {"accuracy", "auc", "precision", "recall", "mse", "mae", "rmse"},
    "multiclass": {"accuracy", "mse", "mae", "rmse"},
    "multilabel": {"accuracy", "auc", "precision", "recall", "mse", "mae", "rmse"},
    "regression": {"mse", "mae", "rmse"},
}


def check_task(cfg: ExperimentConfig, task: str | None = None) -> None:
    """Raise ValueError when the loss, output activation or metrics contradict the task."""
    task = task or cfg.task
    if cfg.loss not in _TASK_LOSSES[task]:
        raise ValueError(f"loss: {cfg.loss!r} does not fit a {task} task: use {_TASK_HINT[task]}")
    _, expected = output_head(task, cfg.loss, 3)
    given = cfg.model.output_activation
    if given is not None and given != expected:
        ok_regression = task == "regression" and given not in ("softmax",)
        if not ok_regression:
            raise ValueError(
                f"model.output_activation: {given!r} contradicts a {task} task with loss {cfg.loss!r}: "
                f"the output layer needs {expected!r} (or leave output_activation out)"
            )
    bad = [m for m in cfg.metrics if m not in _METRICS_FOR[task]]
    if bad:
        raise ValueError(
            f"metrics: {bad} cannot be tracked per epoch for a {task} task "
            f"(allowed: {sorted(_METRICS_FOR[task])}); test-set precision, recall and AUC "
            "are always in metrics.json"
        )
    if task == "regression" and cfg.training.class_weight is not None:
        raise ValueError("training.class_weight: applies to classification only; remove it for regression")
