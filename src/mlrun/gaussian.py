"""The Gaussian regression head: a mean and a variance per target, and its negative log-likelihood losses.

With ``loss: gaussian_nll`` (or ``gaussian_beta_nll``) the output layer has 2 units per target: the first half are the means,
the second half raw values whose ``softplus(raw) + 1e-6`` is the variance (positive, and never
zero, so the loss stays finite). The loss and the per-epoch metrics (on the means) are written
in ``keras.ops``, so they run on every backend, and registered, so ``model.keras`` loads again.
Reach this module through :func:`mlrun.backend.keras_modules` (it imports Keras).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrun.backend import import_keras

if TYPE_CHECKING:
    import keras
else:
    keras = import_keras()

#: Added to softplus(raw) so a variance is never 0.
MIN_VARIANCE = 1e-6
#: The β of ``loss: gaussian_beta_nll``: Seitzer et al. (2022) recommend 0.5.
BETA = 0.5
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def split_outputs(outputs: Any) -> tuple[Any, Any]:
    """Split the head's outputs (backend tensors) into (means, variances), each ``(..., n_targets)``."""
    ops = keras.ops
    k = ops.shape(outputs)[-1] // 2
    return outputs[..., :k], ops.softplus(outputs[..., k:]) + MIN_VARIANCE


def split_numpy(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split predicted outputs (numpy) into (means, variances), each ``(n, n_targets)``; float64 throughout."""
    outputs = np.asarray(outputs, dtype=np.float64)
    k = outputs.shape[-1] // 2
    raw = outputs[..., k:]
    softplus = np.logaddexp(0.0, raw)  # log(1 + e^raw) without overflow
    return outputs[..., :k], softplus + MIN_VARIANCE


@keras.saving.register_keras_serializable(package="mlrun")
def gaussian_nll(y_true: Any, y_pred: Any) -> Any:
    """Gaussian negative log-likelihood per sample, averaged over the targets.

    ``0.5 * log(2 pi var) + (y - mean)**2 / (2 var)``, with the means and variances of :func:`split_outputs`.
    """
    ops = keras.ops
    mean, var = split_outputs(y_pred)
    y = ops.reshape(ops.cast(y_true, mean.dtype), ops.shape(mean))
    return ops.mean(_HALF_LOG_2PI + 0.5 * ops.log(var) + 0.5 * ops.square(y - mean) / var, axis=-1)


def beta_nll(y_true: Any, y_pred: Any, beta: float) -> Any:
    """The β-NLL of Seitzer et al. (2022): each target's NLL weighted by ``stop_gradient(var ** beta)``.

    The plain NLL's gradient with respect to the mean is ``(mean - y) / var``: the variance can absorb
    residuals, and badly fitted points (large variance) stop pulling the mean. The weight, a constant
    for the gradients, scales it to ``(mean - y) / var ** (1 - beta)``: ``beta = 0`` is the NLL,
    ``beta = 1`` gives the mean the gradient of the mse. The optimum (mean, variance) is the same.
    """
    ops = keras.ops
    mean, var = split_outputs(y_pred)
    y = ops.reshape(ops.cast(y_true, mean.dtype), ops.shape(mean))
    nll = _HALF_LOG_2PI + 0.5 * ops.log(var) + 0.5 * ops.square(y - mean) / var
    return ops.mean(ops.stop_gradient(ops.power(var, beta)) * nll, axis=-1)


@keras.saving.register_keras_serializable(package="mlrun")
def gaussian_beta_nll(y_true: Any, y_pred: Any) -> Any:
    """:func:`beta_nll` with β = :data:`BETA` (0.5), the loss of ``loss: gaussian_beta_nll``."""
    return beta_nll(y_true, y_pred, BETA)


#: The Keras loss of each Gaussian-head config loss.
LOSSES: dict[str, Any] = {"gaussian_nll": gaussian_nll, "gaussian_beta_nll": gaussian_beta_nll}


def _on_means(base: Any) -> Any:
    """A Keras metric class that scores only the means of a Gaussian head's outputs."""

    def update_state(self: Any, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        mean, _ = split_outputs(y_pred)
        y = keras.ops.reshape(keras.ops.cast(y_true, mean.dtype), keras.ops.shape(mean))
        return base.update_state(self, y, mean, sample_weight=sample_weight)

    cls = type(f"Gaussian{base.__name__}", (base,), {"update_state": update_state, "__module__": __name__})
    return keras.saving.register_keras_serializable(package="mlrun")(cls)


#: Per-epoch metrics of a Gaussian head, on its means: the same names as the plain ones.
MEAN_METRICS: dict[str, Any] = {
    "mse": _on_means(keras.metrics.MeanSquaredError),
    "mae": _on_means(keras.metrics.MeanAbsoluteError),
    "rmse": _on_means(keras.metrics.RootMeanSquaredError),
}
