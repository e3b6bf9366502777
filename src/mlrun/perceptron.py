"""Rosenblatt's perceptron as a Keras layer (``architecture: perceptron``), registered so model.keras loads.

Reach it through :func:`mlrun.backend.keras_modules` (it imports Keras).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlrun.backend import import_keras

if TYPE_CHECKING:
    import keras
else:
    keras = import_keras()


@keras.saving.register_keras_serializable(package="mlrun")
class Perceptron(keras.layers.Layer):
    """Rosenblatt's perceptron unit: outputs ``step(w·x + b)``, 1 where ``w·x + b >= 0``, else 0.

    The step has no gradient, so the layer passes a straight-through one: the
    output's value is the step, its derivative with respect to ``z = w·x + b``
    is 1/2. Under the mse loss, ``(step(z) - y)**2``, the gradient on ``w`` is
    then ``(step(z) - y) * x``, and one plain SGD step on one sample is exactly
    Rosenblatt's rule ``w += lr * (y - step(z)) * x``. The loss value is the
    fraction of misclassified samples.
    """

    def __init__(self, kernel_initializer: Any = "zeros", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        n_inputs = input_shape[-1]
        if n_inputs is None:
            raise ValueError("a perceptron needs a known number of inputs (the last axis of its input)")
        self.kernel = self.add_weight(shape=(n_inputs, 1), initializer=self.kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias")

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        z = ops.matmul(ops.cast(inputs, self.compute_dtype), self.kernel) + self.bias
        step = ops.cast(ops.greater_equal(z, 0.0), z.dtype)
        return step + 0.5 * (z - ops.stop_gradient(z))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
