"""The layers of ``model.layers`` and the one table that says how each becomes a Keras layer.

Adding a layer type is one config class and one :data:`LAYERS` entry: the discriminated union
of layer configs, the builder (:func:`mlrun.model.make_layers`), the channel axis added before
convolutions and the "window larger than its input" check all read the table. Nothing here
imports Keras: the table names the Keras class, :mod:`mlrun.model` looks it up.
"""

from __future__ import annotations

import functools
import operator
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import Field

from mlrun.config.base import Activation, Initializer, IntOrPair, Padding, Strict


class _Weights(Strict):
    kernel_initializer: Initializer = "glorot_uniform"
    """How the weights start (keras initializer name)."""
    l1: float = Field(default=0.0, ge=0.0)
    """L1 penalty on the weights."""
    l2: float = Field(default=0.0, ge=0.0)
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


class SeparableConv2DLayer(Strict):
    """A depthwise separable 2-D convolution: one spatial filter per input channel, then a 1x1 convolution
    mixing the channels (far fewer weights than conv2d for the same receptive field)."""

    type: Literal["separable_conv2d"]
    filters: int = Field(ge=1)
    """Number of filters of the pointwise (1x1) convolution (output channels)."""
    kernel_size: IntOrPair
    """Size of the depthwise (spatial) window."""
    strides: IntOrPair = 1
    padding: Padding = "valid"
    depth_multiplier: int = Field(default=1, ge=1)
    """Depthwise outputs per input channel."""
    activation: Activation = "linear"
    depthwise_initializer: Initializer = "glorot_uniform"
    """How the depthwise (spatial) weights start."""
    pointwise_initializer: Initializer = "glorot_uniform"
    """How the pointwise (1x1) weights start."""
    l1: float = Field(default=0.0, ge=0.0)
    """L1 penalty on the depthwise and the pointwise weights."""
    l2: float = Field(default=0.0, ge=0.0)
    """L2 penalty on the depthwise and the pointwise weights."""
    use_bias: bool = True


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
    momentum: float = Field(default=0.99, gt=0.0, lt=1.0)
    epsilon: float = Field(default=0.001, gt=0.0)


class LayerNormalizationLayer(Strict):
    """Normalize each sample over its last axis (features or channels), then scale and shift it;
    unlike batch normalization it uses no batch statistics, so training and prediction agree."""

    type: Literal["layer_normalization"]
    epsilon: float = Field(default=0.001, gt=0.0)
    """Added to the variance, for numerical stability."""
    center: bool = True
    """Learn an offset (beta) added after normalizing."""
    scale: bool = True
    """Learn a factor (gamma) multiplied after normalizing."""


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


@dataclass(frozen=True)
class LayerSpec:
    """One layer type: its config class and how it becomes a Keras layer.

    The config's fields other than ``type`` are the Keras layer's keyword arguments
    (lists passed as tuples), except ``l1`` and ``l2``: they make one L1L2 penalty,
    passed as each keyword argument in ``penalties``.

    Attributes:
        config: the config class; its ``type`` literal is the name in ``model.layers``.
        keras: the class in ``keras.layers``.
        rank: the input rank (without the batch axis) the layer needs: 2 for (steps, channels),
            3 for (height, width, channels); a missing channel axis is added. None: any rank.
        window: the field that is a window over the input (``kernel_size``, ``pool_size``); with
            ``padding: valid`` it may not be larger than the input.
        penalties: the Keras keyword arguments that take the ``l1``/``l2`` penalty.
    """

    config: type[Strict]
    keras: str
    rank: int | None = None
    window: str | None = None
    penalties: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        """The layer's name in ``model.layers`` (``conv2d``, ...)."""
        return str(typing.get_args(self.config.model_fields["type"].annotation)[0])


_KERNEL = ("kernel_regularizer",)

#: Every layer type, by its name in ``model.layers``, in the order error messages list them.
LAYERS: dict[str, LayerSpec] = {
    spec.type: spec
    for spec in (
        LayerSpec(DenseLayer, "Dense", penalties=_KERNEL),
        LayerSpec(Conv1DLayer, "Conv1D", rank=2, window="kernel_size", penalties=_KERNEL),
        LayerSpec(Conv2DLayer, "Conv2D", rank=3, window="kernel_size", penalties=_KERNEL),
        LayerSpec(MaxPooling1DLayer, "MaxPooling1D", rank=2, window="pool_size"),
        LayerSpec(MaxPooling2DLayer, "MaxPooling2D", rank=3, window="pool_size"),
        LayerSpec(AveragePooling1DLayer, "AveragePooling1D", rank=2, window="pool_size"),
        LayerSpec(AveragePooling2DLayer, "AveragePooling2D", rank=3, window="pool_size"),
        LayerSpec(GlobalAveragePooling1DLayer, "GlobalAveragePooling1D", rank=2),
        LayerSpec(GlobalAveragePooling2DLayer, "GlobalAveragePooling2D", rank=3),
        LayerSpec(FlattenLayer, "Flatten"),
        LayerSpec(DropoutLayer, "Dropout"),
        LayerSpec(BatchNormalizationLayer, "BatchNormalization"),
        LayerSpec(ReshapeLayer, "Reshape"),
        LayerSpec(GaussianNoiseLayer, "GaussianNoise"),
        LayerSpec(ActivationLayer, "Activation"),
        LayerSpec(LayerNormalizationLayer, "LayerNormalization"),
        LayerSpec(
            SeparableConv2DLayer,
            "SeparableConv2D",
            rank=3,
            window="kernel_size",
            penalties=("depthwise_regularizer", "pointwise_regularizer"),
        ),
    )
}

#: Layer types that convolve (a cnn needs one).
CONVOLUTIONS = frozenset(name for name, spec in LAYERS.items() if spec.window == "kernel_size")

if TYPE_CHECKING:

    class Layer(Protocol):
        """What mypy knows of a layer config (it cannot read the union built below at runtime)."""

        @property
        def type(self) -> str: ...

        def model_dump(self, *, exclude: set[str] | None = None) -> dict[str, Any]: ...

else:
    #: Any layer config, told apart by its ``type`` (a discriminated union of the table's config classes).
    Layer = Annotated[
        functools.reduce(operator.or_, (spec.config for spec in LAYERS.values())), Field(discriminator="type")
    ]
