"""The ``model`` block: the architectures (mlp, cnn, linear, perceptron), a discriminated union on ``architecture``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlrun.config.base import Activation, Initializer, Strict
from mlrun.config.layers import CONVOLUTIONS, DropoutLayer, Layer


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
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Dropout rate after each hidden layer given by ``hidden_units`` (0 for none)."""
    batch_normalization: bool = False
    """Batch normalization after each hidden layer given by ``hidden_units``."""
    kernel_initializer: Initializer = "glorot_uniform"
    l1: float = Field(default=0.0, ge=0.0)
    l2: float = Field(default=0.0, ge=0.0)

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
        if not any(layer.type in CONVOLUTIONS for layer in self.layers):
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
    l1: float = Field(default=0.0, ge=0.0)
    """L1 penalty on the weights (lasso)."""
    l2: float = Field(default=0.0, ge=0.0)
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
