"""Bayes by backprop (Blundell et al. 2015): a dense layer with a mean-field Gaussian over its weights.

Each weight ``w`` has its own Gaussian ``N(mu, sigma**2)`` with ``sigma = softplus(rho)``. A
training step draws ``w = mu + sigma * eps`` (``eps ~ N(0, 1)``: the reparameterisation trick,
so gradients reach ``mu`` and ``rho``) and adds ``kl_weight * KL(q || prior)`` to the loss
through ``add_loss``, with the prior ``N(0, prior_std**2)`` on every weight. A plain prediction
uses the mean weights; :class:`SampledBayesianDense` (Monte Carlo prediction) draws them.

Written in ``keras.ops`` only, so it runs on every Keras backend, and registered, so a saved
``model.keras`` loads again. Reach it through :func:`mlrun.backend.keras_modules` (it imports Keras).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlrun.backend import import_keras

if TYPE_CHECKING:
    import keras
else:
    keras = import_keras()

#: sigma of every weight when training starts: small, so the first epochs fit the data like a plain network.
INITIAL_SIGMA = 1e-2


def gaussian_kl(mu: Any, sigma: Any, prior_std: float) -> Any:
    """KL(N(mu, sigma²) || N(0, prior_std²)), summed over every element.

    >>> import numpy as np
    >>> float(gaussian_kl(np.array([0.0]), np.array([1.0]), 1.0))
    0.0
    """
    ops = keras.ops
    var_ratio = ops.square(sigma / prior_std)
    return ops.sum(0.5 * (var_ratio + ops.square(mu / prior_std) - 1.0 - ops.log(var_ratio)))


@keras.saving.register_keras_serializable(package="mlrun")
class BayesianDense(keras.layers.Layer):
    """A dense layer whose kernel and bias are mean-field Gaussians (Bayes by backprop).

    Args:
        units: output units.
        activation: activation name, as for ``keras.layers.Dense``.
        prior_std: standard deviation of the N(0, prior_std²) prior on every weight.
        kl_weight: the KL term's weight in the loss (1 / number of training samples for the ELBO per sample).
        use_bias: learn a (Gaussian) bias too.
        seed: seeds the weight draws.
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        *,
        prior_std: float = 1.0,
        kl_weight: float = 1.0,
        use_bias: bool = True,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units, self.prior_std, self.kl_weight, self.use_bias = int(units), prior_std, kl_weight, use_bias
        self.activation = keras.activations.get(activation)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        n_in = input_shape[-1]
        if n_in is None:
            raise ValueError("a Bayesian dense layer needs a known number of inputs (the last axis of its input)")
        rho = keras.initializers.Constant(math.log(math.expm1(INITIAL_SIGMA)))  # softplus(rho) = INITIAL_SIGMA
        self.kernel_mu = self.add_weight(shape=(n_in, self.units), initializer="glorot_uniform", name="kernel_mu")
        self.kernel_rho = self.add_weight(shape=(n_in, self.units), initializer=rho, name="kernel_rho")
        if self.use_bias:
            self.bias_mu = self.add_weight(shape=(self.units,), initializer="zeros", name="bias_mu")
            self.bias_rho = self.add_weight(shape=(self.units,), initializer=rho, name="bias_rho")

    def _pairs(self) -> list[tuple[Any, Any]]:
        pairs = [(self.kernel_mu, self.kernel_rho)]
        if self.use_bias:
            pairs.append((self.bias_mu, self.bias_rho))
        return pairs

    def kl(self) -> Any:
        """KL divergence of the layer's weight posterior to its prior (summed over every weight)."""
        ops = keras.ops
        return sum(gaussian_kl(mu, ops.softplus(rho), self.prior_std) for mu, rho in self._pairs())

    def sigmas(self) -> Any:
        """The posterior standard deviations of every weight of the layer, as one flat numpy array."""
        import numpy as np

        ops = keras.ops
        return np.concatenate([ops.convert_to_numpy(ops.softplus(rho)).ravel() for _, rho in self._pairs()])

    def forward(self, inputs: Any, *, sample: bool) -> Any:
        """The layer's output with weights drawn from the posterior (``sample``) or its mean weights."""
        ops = keras.ops
        weights = []
        for mu, rho in self._pairs():
            if sample:
                eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator, dtype=mu.dtype)
                weights.append(mu + ops.softplus(rho) * eps)
            else:
                weights.append(mu)
        z = ops.matmul(ops.cast(inputs, self.compute_dtype), weights[0])
        if self.use_bias:
            z = z + weights[1]
        return self.activation(z)

    def call(self, inputs: Any, training: Any = None) -> Any:
        if training:
            self.add_loss(self.kl_weight * self.kl())
        return self.forward(inputs, sample=bool(training))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "prior_std": self.prior_std,
            "kl_weight": self.kl_weight,
            "use_bias": self.use_bias,
            "seed": self.seed,
        }


class SampledBayesianDense(keras.layers.Layer):
    """Wraps a :class:`BayesianDense` (sharing its weights) to draw its weights at prediction time; never saved."""

    def __init__(self, inner: BayesianDense, **kwargs: Any) -> None:
        super().__init__(name=f"{inner.name}_mc", dtype=inner.dtype_policy, **kwargs)
        self.inner = inner

    def call(self, inputs: Any) -> Any:
        return self.inner.forward(inputs, sample=True)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return self.inner.compute_output_shape(input_shape)


def mean_posterior_sigma(model: Any) -> float | None:
    """The mean posterior standard deviation over every Bayesian layer's weights, or None without any."""
    import numpy as np

    layers = [layer for layer in model.layers if isinstance(layer, BayesianDense)]
    return float(np.concatenate([layer.sigmas() for layer in layers]).mean()) if layers else None
