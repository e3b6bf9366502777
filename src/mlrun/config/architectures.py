"""The ``model`` block: the architectures (mlp, cnn, linear, perceptron), a discriminated union on ``architecture``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mlrun.config.base import Activation, Initializer, Strict
from mlrun.config.layers import CONVOLUTIONS, DropoutLayer, Layer


class BayesianConfig(Strict):
    """Bayes by backprop (Blundell et al. 2015): every dense layer holds a Gaussian over each weight.

    Each weight is ``mu + softplus(rho) * eps`` with ``eps ~ N(0, 1)`` drawn anew at every
    training step; the loss adds ``kl_weight`` times the KL divergence of these Gaussians to
    the prior ``N(0, prior_std**2)``. Predictions average ``evaluation.mc_samples`` draws
    (with ``mc_samples: 1``, one pass with the mean weights)."""

    prior_std: float = Field(default=1.0, gt=0.0)
    """Standard deviation of the zero-mean Gaussian prior on every weight and bias."""
    kl_weight: float | Literal["auto"] = "auto"
    """Weight of the KL term per training sample; ``auto``: 1 / (number of training samples),
    the evidence lower bound per sample. Give a number >= 0 to weigh the prior more or less."""

    @model_validator(mode="after")
    def _non_negative(self) -> BayesianConfig:
        if isinstance(self.kl_weight, float) and self.kl_weight < 0:
            raise ValueError(f"kl_weight: must be 'auto' or a number >= 0 (got {self.kl_weight})")
        return self


class _ModelBase(Strict):
    bayesian: BayesianConfig | None = None
    """Make every dense layer (the output layer too) Bayesian: see :class:`BayesianConfig`.
    Regularizers (l1, l2) do not apply then: the prior is the regularizer."""
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
        if self.bayesian is not None and (self.l1 or self.l2):
            raise ValueError("bayesian: the prior is the regularizer of Bayesian layers: remove l1 and l2")
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


def _not_bayesian(data: Any, architecture: str) -> Any:
    if isinstance(data, dict) and "bayesian" in data:
        raise ValueError(
            f"bayesian: Bayesian layers apply to the dense layers of an mlp or a cnn, not to a {architecture}: "
            "use architecture: mlp (hidden_units: [] is one layer on the inputs), or remove `bayesian`"
        )
    return data


class LinearConfig(Strict):
    """One layer of output units straight on the (flattened) inputs, no hidden layers.

    With a regression task and ``loss: mse`` (or ``mae``) this is linear regression:
    one linear unit per target, ``y = w·x + b``. For classification it is logistic
    (sigmoid) or softmax regression. The learned weights and bias are written to
    ``weights.json``. The same model as ``{architecture: mlp, hidden_units: []}``.
    """

    architecture: Literal["linear"]

    @model_validator(mode="before")
    @classmethod
    def _refuse_bayesian(cls, data: Any) -> Any:
        return _not_bayesian(data, "linear model")

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

    @model_validator(mode="before")
    @classmethod
    def _refuse_bayesian(cls, data: Any) -> Any:
        return _not_bayesian(data, "perceptron")

    kernel_initializer: Initializer = "zeros"
    """How the weights start: ``zeros`` as in Rosenblatt's rule, or a random initializer."""


ModelConfig = Annotated[MLPConfig | CNNConfig | LinearConfig | PerceptronConfig, Field(discriminator="architecture")]


def model_has_dropout(model: MLPConfig | CNNConfig | LinearConfig | PerceptronConfig) -> bool:
    """True when the model has a dropout layer (needed for Monte Carlo dropout)."""
    if isinstance(model, MLPConfig) and model.dropout > 0 and model.hidden_units:
        return True
    layers = getattr(model, "layers", None) or []
    return any(isinstance(layer, DropoutLayer) and layer.rate > 0 for layer in layers)
