"""The experiment config schema: strict pydantic models, one per config block.

Every model forbids unknown keys, so a typo is an error, never a silently
ignored setting. The field docstrings are the config reference.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

Task = Literal["binary", "multiclass", "multilabel", "regression"]
Activation = Literal[
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "softplus",
    "softsign",
    "swish",
    "hard_sigmoid",
    "softmax",
]
Initializer = Literal[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "orthogonal",
    "zeros",
    "ones",
]
Loss = Literal[
    "mse",
    "mae",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
]
Metric = Literal["accuracy", "auc", "precision", "recall", "mse", "mae", "rmse"]
Padding = Literal["same", "valid"]
IntOrPair = Annotated[int, Field(ge=1)] | list[Annotated[int, Field(ge=1)]]

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
SYNTHETIC = "synthetic"
#: The generators of ``dataset.name: synthetic`` and the parameters each takes, with their defaults.
GENERATOR_PARAMS: dict[str, dict[str, Any]] = {
    "classification": {
        "n_samples": 500,
        "n_features": 2,
        "n_informative": 2,
        "n_redundant": 0,
        "n_classes": 2,
        "n_clusters_per_class": 1,
        "class_sep": 1.0,
        "flip_y": 0.01,
    },
    "moons": {"n_samples": 500, "noise": 0.1},
    "circles": {"n_samples": 500, "noise": 0.1, "factor": 0.5},
    "blobs": {"n_samples": 500, "n_features": 2, "n_classes": 3, "cluster_std": 1.0},
    "regression": {
        "n_samples": 500,
        "n_features": 1,
        "n_informative": None,
        "n_targets": 1,
        "noise": 10.0,
        "bias": 0.0,
        "outliers": 0.0,
    },
    "multilabel": {"n_samples": 500, "n_features": 20, "n_classes": 5, "n_labels": 2},
    "gate": {"gate": None, "n_inputs": 2, "repeat": 1, "noise": 0.0},
}
GENERATORS = tuple(GENERATOR_PARAMS)
GATES = ("and", "or", "nand", "nor", "xor")
_SYNTHETIC_KEYS = ("generator", *dict.fromkeys(k for params in GENERATOR_PARAMS.values() for k in params))
MissingStrategy = Literal["drop", "mean", "median", "most_frequent"]
DEFAULT_NA_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")


class Strict(BaseModel):
    """Base of every config block: unknown keys are errors, values are re-validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------- dataset


class CleaningConfig(Strict):
    """Cleaning steps for a CSV file, applied in this order before the splits; what they did is recorded."""

    drop_columns: list[str] = Field(default_factory=list)
    """Columns to remove (identifiers, leaks, free text)."""
    dtypes: dict[str, Literal["float", "int", "bool"]] = Field(default_factory=dict)
    """Convert columns: ``float`` and ``int`` also accept thousands separators, currency signs and a
    trailing %, ``bool`` reads true/false, yes/no, y/n, t/f, on/off, 1/0 as 1/0."""
    drop_duplicates: bool = False
    """Drop rows identical to an earlier row (after dropping columns and converting types)."""
    na_values: list[str] = Field(default_factory=lambda: list(DEFAULT_NA_VALUES))
    """Cell values that count as missing (compared after stripping spaces)."""
    missing: MissingStrategy | dict[str, MissingStrategy] | None = None
    """What to do with missing feature values: ``drop`` the row, fill with the column's ``mean`` or
    ``median`` (numeric columns; text columns get ``most_frequent``), or ``most_frequent``; or a
    mapping {column: strategy}. Statistics come from the whole file; rows without a label are
    always dropped. None: a missing value is an error."""
    one_hot: list[str] | Literal["auto"] = Field(default_factory=list)
    """Categorical columns to one-hot encode (one 0/1 column per value, named ``column=value``);
    ``auto``: every feature column that is not numeric."""


class DatasetConfig(Strict):
    """Where the data comes from and how it is prepared."""

    name: str | None = None
    """A built-in dataset: keras (mnist, fashion_mnist, cifar10, cifar100), sklearn
    (digits, iris, wine, breast_cancer, diabetes) or ``synthetic`` (see ``generator``).
    Give ``name`` or ``path``."""
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
    test_size: float = Field(0.2, ge=0.0, lt=1.0)
    """Fraction held out as the test set, for sources without one. 0: no held-out test set, the
    test metrics are computed on the training data (does the model represent the data at all?)."""
    limit: int | None = Field(None, ge=2)
    """Use at most this many training samples and at most this many test samples."""
    stratify: bool = True
    """Stratify test split and subsampling by class (classification only)."""
    cleaning: CleaningConfig | None = None
    """CSV only: drop columns and duplicates, convert types, fill or drop missing values,
    one-hot encode categorical columns. Recorded in run.json (``dataset.cleaning``)."""

    # --- name: synthetic (each generator takes only its own parameters; see GENERATOR_PARAMS)
    generator: Literal["classification", "moons", "circles", "blobs", "regression", "multilabel", "gate"] | None = None
    """Synthetic data: scikit-learn's ``make_<generator>`` (classification, moons, circles, blobs,
    regression, multilabel) or ``gate``, the truth table of a logic gate. Seeded by the config's seed."""
    n_samples: int | None = Field(None, ge=4)
    """Samples generated (before the test split). Default 500."""
    n_features: int | None = Field(None, ge=1)
    """Input features (classification default 2, blobs 2, regression 1, multilabel 20)."""
    n_informative: int | None = Field(None, ge=1)
    """Features that carry the signal (classification default 2; regression default all)."""
    n_redundant: int | None = Field(None, ge=0)
    """classification: linear combinations of the informative features (default 0)."""
    n_classes: int | None = Field(None, ge=2)
    """Classes (classification default 2, blobs 3) or, for multilabel, labels (default 5)."""
    n_clusters_per_class: int | None = Field(None, ge=1)
    """classification: Gaussian clusters per class (default 1)."""
    class_sep: float | None = Field(None, gt=0.0)
    """classification: how far apart the classes are (default 1.0; larger is easier)."""
    flip_y: float | None = Field(None, ge=0.0, le=1.0)
    """classification: fraction of labels assigned at random (label noise; default 0.01)."""
    cluster_std: float | None = Field(None, gt=0.0)
    """blobs: standard deviation of each class's cluster (default 1.0)."""
    noise: float | None = Field(None, ge=0.0)
    """Standard deviation of Gaussian noise: on the points (moons, circles; default 0.1), on the
    targets (regression; default 10) or on the inputs of the training rows (gate; default 0)."""
    factor: float | None = Field(None, gt=0.0, lt=1.0)
    """circles: radius of the inner circle relative to the outer one (default 0.5)."""
    n_targets: int | None = Field(None, ge=1)
    """regression: target values per sample (default 1)."""
    bias: float | None = None
    """regression: the intercept of the true linear function (default 0)."""
    outliers: float | None = Field(None, ge=0.0, lt=1.0)
    """regression: fraction of training samples whose target is shifted up by 10 standard deviations
    (the test set stays clean, so it measures the fit to the true function). Default 0."""
    n_labels: int | None = Field(None, ge=1)
    """multilabel: average number of labels per sample (default 2)."""
    gate: Literal["and", "or", "nand", "nor", "xor"] | None = None
    """gate: the logic gate whose truth table is the data (required for ``generator: gate``)."""
    n_inputs: int | None = Field(None, ge=1, le=12)
    """gate: number of 0/1 inputs (default 2; and/or/nand/nor/xor of all of them, xor = parity)."""
    repeat: int | None = Field(None, ge=1)
    """gate: copies of the truth table in the training set (default 1). The test set is always the
    clean truth table itself, and test_size and validation_split default to 0."""

    @model_validator(mode="before")
    @classmethod
    def _generator_defaults(cls, data: Any) -> Any:
        # Fill in the chosen generator's defaults, so the resolved config shows every value used.
        if not isinstance(data, dict) or data.get("name") != SYNTHETIC or data.get("generator") not in GENERATOR_PARAMS:
            return data
        data = dict(data)
        generator = data["generator"]
        for key, default in GENERATOR_PARAMS[generator].items():
            if data.get(key) is None and default is not None:
                data[key] = default
        if generator == "regression" and data.get("n_informative") is None and isinstance(data.get("n_features"), int):
            data["n_informative"] = data["n_features"]
        if generator == "gate":
            data.setdefault("test_size", 0.0)
            data.setdefault("validation_split", 0.0)
        return data

    @field_validator(*_SYNTHETIC_KEYS[1:])
    @classmethod
    def _check_generator_param(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or "name" not in info.data:
            return value  # not given, or `name` is already reported as invalid
        name, generator, key = info.data["name"], info.data.get("generator"), info.field_name
        if name != SYNTHETIC:
            raise ValueError(
                f"is a parameter of synthetic data: it needs `name: synthetic` and a `generator:` (got name {name!r})"
            )
        if generator is None:
            return value  # the missing or invalid generator is reported on its own
        if key not in GENERATOR_PARAMS[generator]:
            takes = ", ".join(GENERATOR_PARAMS[generator])
            users = [g for g, params in GENERATOR_PARAMS.items() if key in params]
            raise ValueError(
                f"the {generator} generator does not take {key!r} (it takes {takes}; {key} is for {', '.join(users)})"
            )
        return value

    @model_serializer(mode="wrap")
    def _drop_unused(self, handler: Any) -> dict[str, Any]:
        # Synthetic parameters and cleaning appear in a resolved config only where they are used.
        data = handler(self)
        for key in ("cleaning", *_SYNTHETIC_KEYS):
            if data.get(key) is None:
                data.pop(key, None)
        return data

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
        known = KERAS_DATASETS + SKLEARN_DATASETS + (SYNTHETIC,)
        if value is not None and value not in known:
            hint = difflib.get_close_matches(value, known, n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ValueError(
                f"unknown dataset {value!r}{did}; known: {', '.join(known)}; or give `path:` to a CSV/NPZ file"
            )
        return value

    @model_validator(mode="after")
    def _name_or_path(self) -> DatasetConfig:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of `name` (a built-in dataset) or `path` (a CSV or NPZ file)")
        if self.name == SYNTHETIC and self.generator is None:
            raise ValueError(f"name: synthetic needs a `generator:` ({', '.join(GENERATORS)}), e.g. generator: moons")
        if self.name != SYNTHETIC and self.generator is not None:
            raise ValueError(f"generator: {self.generator!r} makes synthetic data: set `name: synthetic` (and no path)")
        if self.generator == "gate" and self.gate is None:
            raise ValueError(f"generator: gate needs `gate:` ({', '.join(GATES)}), e.g. gate: xor")
        if self.generator == "gate" and self.test_size != 0:
            raise ValueError(
                f"test_size must be 0 for a logic gate (got {self.test_size}): its test set is its whole truth table, "
                "so the test metrics say whether the model can represent the gate; remove test_size"
            )
        if self.generator == "classification":
            _check_classification(self)
        if (
            self.generator == "regression"
            and self.n_informative is not None
            and self.n_features is not None
            and self.n_informative > self.n_features
        ):
            raise ValueError(f"n_informative ({self.n_informative}) cannot exceed n_features ({self.n_features})")
        if self.cleaning is not None and (self.path is None or self.path.suffix.lower() not in (".csv", ".txt")):
            raise ValueError("cleaning: applies to CSV files only (dataset.path: a .csv file); remove it")
        return self


def _check_classification(ds: DatasetConfig) -> None:
    """sklearn's make_classification constraints, as config errors."""
    informative, redundant, features = ds.n_informative or 2, ds.n_redundant or 0, ds.n_features or 2
    if informative + redundant > features:
        raise ValueError(
            f"n_informative ({informative}) + n_redundant ({redundant}) cannot exceed n_features ({features}); raise n_features"
        )
    clusters = (ds.n_classes or 2) * (ds.n_clusters_per_class or 1)
    if clusters > 2**informative:
        raise ValueError(
            f"n_classes x n_clusters_per_class ({clusters}) must be at most 2 ** n_informative ({2**informative}); "
            "raise n_informative or lower n_clusters_per_class"
        )


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
    DenseLayer
    | Conv1DLayer
    | Conv2DLayer
    | MaxPooling1DLayer
    | MaxPooling2DLayer
    | AveragePooling1DLayer
    | AveragePooling2DLayer
    | GlobalAveragePooling1DLayer
    | GlobalAveragePooling2DLayer
    | FlattenLayer
    | DropoutLayer
    | BatchNormalizationLayer
    | ReshapeLayer
    | GaussianNoiseLayer
    | ActivationLayer,
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
    """Units of each hidden dense layer, e.g. [256, 64, 32]. Or give ``layers``. ``[]``: no
    hidden layer, the output units straight on the inputs (as ``architecture: linear``)."""
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


class LinearConfig(Strict):
    """One layer of output units straight on the (flattened) inputs, no hidden layers.

    With a regression task and ``loss: mse`` (or ``mae``) this is linear regression:
    one linear unit per target, ``y = w·x + b``. For classification it is logistic
    (sigmoid) or softmax regression. The learned weights and bias are written to
    ``weights.json``. The same model as ``{architecture: mlp, hidden_units: []}``.
    """

    architecture: Literal["linear"]
    output_activation: Activation | None = None
    """Output activation; default from the task (identity for regression, sigmoid or softmax
    for classification). Giving one that contradicts the task is an error."""
    kernel_initializer: Initializer = "glorot_uniform"
    l1: float = Field(0.0, ge=0.0)
    """L1 penalty on the weights (lasso)."""
    l2: float = Field(0.0, ge=0.0)
    """L2 penalty on the weights (ridge)."""
    use_bias: bool = True
    """Learn the bias (intercept) ``b``; false fits ``y = w·x`` through the origin."""


class PerceptronConfig(Strict):
    """Rosenblatt's perceptron: one unit ``step(w·x + b)`` with output 0 or 1, for binary classification.

    It learns by Rosenblatt's rule, ``w += learning_rate * (y - step(w·x + b)) * x``
    (and the same for ``b`` with x = 1), one sample at a time, epoch after epoch.
    Leave ``loss`` and ``optimizer`` out: they default to the rule (``loss: mse``,
    which on 0/1 outputs is the fraction of misclassified samples, and plain
    ``sgd`` with ``learning_rate: 1.0``); ``training.batch_size`` defaults to 1
    (per-sample updates; a larger batch averages the updates: the batch perceptron).
    The bias plays the threshold's role (threshold = -bias). The learned weights
    and bias are written to ``weights.json``.
    """

    architecture: Literal["perceptron"]
    kernel_initializer: Initializer = "zeros"
    """How the weights start: ``zeros`` as in Rosenblatt's rule, or a random initializer."""


ModelConfig = Annotated[MLPConfig | CNNConfig | LinearConfig | PerceptronConfig, Field(discriminator="architecture")]


def model_has_dropout(model: MLPConfig | CNNConfig | LinearConfig | PerceptronConfig) -> bool:
    """True when the model has a dropout layer (needed for Monte Carlo dropout)."""
    if isinstance(model, MLPConfig) and model.dropout > 0 and model.hidden_units:
        return True
    layers = getattr(model, "layers", None) or []
    return any(isinstance(layer, DropoutLayer) and layer.rate > 0 for layer in layers)


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


Schedule = Annotated[ExponentialDecay | CosineDecay | ReduceOnPlateau, Field(discriminator="type")]


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
    SGDConfig | AdagradConfig | AdadeltaConfig | RMSpropConfig | AdamConfig | AdamWConfig | AdamaxConfig | NadamConfig,
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

    @field_validator("class_weight", mode="before")
    @classmethod
    def _check_class_weight(cls, value: Any) -> Any:
        # Labels are matched as text: YAML reads `{0: 1.0, 1: 5.0}` with integer keys.
        if value is None or value == "balanced":
            return value
        if not isinstance(value, dict) or not value:
            raise ValueError(
                f"must be 'balanced' or a mapping {{label: weight}}, e.g. {{0: 1.0, 1: 5.0}} (got {value!r})"
            )
        out = {}
        for label, weight in value.items():
            name = str(int(label)) if isinstance(label, float) and label.is_integer() else str(label)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
                raise ValueError(f"the weight of label {name!r} must be a number greater than 0 (got {weight!r})")
            out[name] = weight
        return out


class RuntimeConfig(Strict):
    """How a run executes (not what it computes): backend, devices, precision, input pipeline."""

    backend: Literal["tensorflow", "jax"] = "tensorflow"
    """Keras backend: ``tensorflow``, or ``jax`` (pip install 'mlrun[jax]'; often faster
    for MLPs on a CPU, while TensorFlow's oneDNN convolutions are faster for CNNs)."""
    deterministic: bool = False
    """Same config and seed, same results (slower): TensorFlow op determinism, or XLA's
    deterministic GPU ops on jax (JAX on a CPU is deterministic anyway)."""
    intra_op_threads: int | None = Field(None, ge=1)
    """Threads one operation may use (default: all cores; on jax, 1 makes XLA single-threaded
    and other values use all cores)."""
    inter_op_threads: int | None = Field(None, ge=1)
    """Operations run at once (TensorFlow only; jax ignores it; default: chosen by TensorFlow)."""
    steps_per_execution: int = Field(1, ge=1)
    """Training steps run per call into the compiled graph: larger values cut Python
    overhead for small models (same results; per-batch callbacks see fewer batches)."""
    jit_compile: Literal["auto"] | StrictBool = "auto"
    """Compile the training step with XLA: ``auto`` (Keras' choice: on for jax and on
    TensorFlow with a GPU), ``true`` or ``false``."""
    mixed_precision: bool = False
    """Compute in float16 with float32 weights and output layer (``mixed_float16``),
    with loss scaling; needs a GPU. A GPU, when present, is used in any case."""
    distribution: Literal["mirrored"] | None = None
    """``mirrored``: train one model on all GPUs of this host (tf.distribute.MirroredStrategy;
    tensorflow backend). ``training.batch_size`` is then the global batch, split across GPUs."""
    input_pipeline: Literal["numpy", "tf_data"] = "numpy"
    """How batches reach the model: ``numpy`` (in-memory arrays, the default) or ``tf_data``
    (a tf.data pipeline with shuffling and prefetching, overlapping input with compute)."""

    @model_validator(mode="after")
    def _backend_features(self) -> RuntimeConfig:
        if self.backend == "jax" and self.distribution is not None:
            raise ValueError(
                f"distribution: {self.distribution!r} is TensorFlow's tf.distribute and needs backend: tensorflow "
                "(got backend: jax); remove distribution, or set backend: tensorflow"
            )
        return self


class EvaluationConfig(Strict):
    """How the test set is evaluated."""

    mc_samples: int = Field(1, ge=1)
    """Monte Carlo dropout: predict each test sample this many times with dropout kept on
    (batch normalization stays in inference mode) and use the mean as the prediction;
    ``predictions.csv`` gets the predictive standard deviation per class (``std_<class>``,
    regression ``y_std``) and ``metrics.json`` the mean predictive std. 1 (the default)
    predicts once, without dropout. More than 1 needs dropout in the model."""


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
    metrics: list[Metric] | None = None
    """Metrics tracked per epoch (train and validation); default: accuracy for classification,
    mae for regression. Test metrics are always complete."""
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    """How the test set is evaluated (Monte Carlo dropout)."""

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
        if self.evaluation.mc_samples > 1 and not model_has_dropout(self.model):
            raise ValueError(
                f"evaluation.mc_samples: {self.evaluation.mc_samples} samples of Monte Carlo dropout need dropout in "
                "the model, which has none: set model.dropout (e.g. 0.2) with hidden_units, or add "
                "{type: dropout, rate: 0.2} to model.layers; or set evaluation.mc_samples: 1"
            )
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
        return (
            (2, "softmax")
            if loss in ("categorical_crossentropy", "sparse_categorical_crossentropy")
            else (1, "sigmoid")
        )
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


def tracked_metrics(cfg: ExperimentConfig, task: str) -> list[str]:
    """The per-epoch metrics of a config: ``metrics``, or the task's default (accuracy; mae for regression)."""
    if cfg.metrics is not None:
        return list(cfg.metrics)
    return ["mae"] if task == "regression" else ["accuracy"]


def check_task(cfg: ExperimentConfig, task: str | None = None) -> None:
    """Raise ValueError when the loss, output activation or metrics contradict the task."""
    task = task or cfg.task
    if isinstance(cfg.model, PerceptronConfig) and task != "binary":
        raise ValueError(
            f"model.architecture: a perceptron is a binary classifier (one unit with output 0 or 1), "
            f"but this is a {task} task: use architecture: mlp (or linear) for {task}, or give binary labels"
        )
    if cfg.loss not in _TASK_LOSSES[task]:
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
    bad = [m for m in tracked_metrics(cfg, task) if m not in _METRICS_FOR[task]]
    if bad:
        raise ValueError(
            f"metrics: {bad} cannot be tracked per epoch for a {task} task "
            f"(allowed: {sorted(_METRICS_FOR[task])}); test-set precision, recall and AUC "
            "are always in metrics.json"
        )
    if task == "regression" and cfg.training.class_weight is not None:
        raise ValueError("training.class_weight: applies to classification only; remove it for regression")
