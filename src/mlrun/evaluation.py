"""Predict with trained models (plainly, as Monte Carlo samples, as an ensemble) and turn predictions into metrics.

Shared by a run (:func:`evaluate`, on its test or validation set) and by ``mlrun predict``
(:func:`predict_scores`). The metrics themselves are pure functions in :mod:`mlrun.metrics.compute`.
Keras is reached through :func:`mlrun.backend.keras_modules`, which a caller has already loaded
(a fitted or loaded model exists), so importing this module costs nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlrun.backend import keras_modules
from mlrun.config import GAUSSIAN_LOSSES, ExperimentConfig
from mlrun.data import Dataset
from mlrun.metrics.compute import Evaluation, evaluate_predictions
from mlrun.metrics.regcalibration import fit_scale, regression_calibration


def evaluate(
    model: Any, cfg: ExperimentConfig, data: Dataset, *, on: Literal["test", "validation"] = "test"
) -> Evaluation:
    """Predict the test (or validation) set and compute every metric and table a run writes about it.

    ``model`` is one model, or a deep ensemble's members (a list), whose mean is the prediction.
    With ``evaluation.mc_samples`` above 1, each model predicts that many Monte Carlo passes
    (dropout on, Bayesian weights drawn). The spread of all passes, and a Gaussian head's
    variance (``loss: gaussian_nll`` or ``gaussian_beta_nll``), are recorded as predictive standard deviations;
    with ``evaluation.recalibrate``, scaled by the factor fitted on the calibration or validation split (:func:`recalibrate`).
    """
    km = keras_modules()
    x, y = data.scored(on)
    assert x is not None and y is not None, "run_experiment refuses validation evaluation without a validation set"
    targets = km.training.encode_targets(y, data, km.model.uses_one_hot(data.task, cfg.loss))
    models = model if isinstance(model, list) else [model]
    n_samples = cfg.evaluation.mc_samples
    gaussian = cfg.loss in GAUSSIAN_LOSSES
    batch = max(cfg.training.batch_size, 256)
    predict = functools.partial(predict_distribution, models, batch_size=batch, mc_samples=n_samples, gaussian=gaussian)
    pred = predict(x)  # first: the scored predictions draw the same Monte Carlo passes as without recalibration
    recalibration = None
    if cfg.evaluation.recalibrate:
        pred, recalibration = recalibrate(pred, y, predict, data, on=on, method=cfg.evaluation.recalibration)
    if gaussian:
        loss = 0.0  # replaced below by the Gaussian NLL of the predictive distribution
    elif pred.std is not None:
        loss = loss_of(cfg.loss, targets, pred.mean)
    else:
        # The loss from the predictions, as model.evaluate computes it (mean loss plus the weights' penalties),
        # without a second pass over the data (and, on jax, a second compilation).
        loss = loss_of(cfg.loss, targets, pred.mean) + penalties(models[0])
    ev = evaluate_predictions(y, pred.mean, score_std=pred.std, std_split=pred.split(), **_scoring(data, loss))
    if gaussian:
        ev.metrics["loss"] = ev.metrics["nll"]
    if recalibration is not None:
        ev.metrics["recalibration"] = recalibration
    if n_samples > 1:
        ev.metrics["mc_samples"] = n_samples
    if len(models) > 1:
        ev.metrics["ensemble"] = len(models)
    if on == "test" and data.test_is_training_data:
        ev.metrics.update(TRAINING_DATA_WARNING)
    return ev


#: What metrics.json says when its "test" metrics were computed on the training data (``test_size: 0``).
TRAINING_DATA_WARNING: dict[str, Any] = {
    "test_is_training_data": True,
    "warning": "test_size: 0: these test metrics are computed on the training data, not on held-out data; "
    "they say whether the model fits the data it was trained on, not how it does on new data",
}


def recalibrate(
    pred: Predictive,
    y: np.ndarray,
    predict: Callable[[np.ndarray], Predictive],
    data: Dataset,
    *,
    on: str,
    method: Literal["sigma", "coverage"] | None = "sigma",
) -> tuple[Predictive, dict[str, Any]]:
    """Scale the scored stds by the factor ``method`` fits on held-out rows (``evaluation.recalibrate``).

    The rows are the calibration split when there is one, else the validation split (see
    :meth:`mlrun.data.Dataset.recalibration_set`); never the scored data.

    ``predict`` predicts inputs the way ``pred`` was predicted (the same passes and members). Returns the
    scaled predictions and metrics.json's ``recalibration`` record: the method, the scale, what it was
    fitted on, and the scored calibration before it; or the unscaled predictions and why nothing was fitted.
    """
    method = method or "sigma"
    x_fit, y_fit, fitted_on = data.recalibration_set(on)
    if pred.std is None:  # a pruned sweep trial's ensemble stops at member 0
        return pred, {"method": method, "scale": None, "skipped": "the run predicted no standard deviations"}
    if x_fit is None or y_fit is None:
        return pred, {"method": method, "scale": None, "skipped": fitted_on}
    fit = predict(x_fit)
    assert fit.std is not None, "the same predictor gives a std on every input"
    scale = fit_scale(method, y_fit, fit.mean, fit.std)
    before, _ = regression_calibration(y, pred.mean, pred.std)
    record = {"method": method, "scale": scale, "fitted_on": fitted_on, "n": int(len(y_fit))}
    return pred.scaled(scale), record | {f"{key}_before": value for key, value in before.items()}


def _scoring(data: Dataset, loss: float) -> dict[str, Any]:
    """The keyword arguments of evaluate_predictions that come from the data: task, classes, positive class."""
    positive = data.classes.index(data.positive_label) if data.positive_label is not None else 1
    return {"task": data.task, "classes": data.classes, "loss": loss, "positive": positive}


@dataclass
class Predictive:
    """Predictions with their uncertainty: the mean, and the predictive std with its parts (None when unknown).

    ``std`` is the total: sqrt(mean of a Gaussian head's variances + variance of the means over
    the passes and members); ``aleatoric`` and ``epistemic`` are the square roots of those two terms.
    """

    mean: np.ndarray
    std: np.ndarray | None = None
    aleatoric: np.ndarray | None = None
    epistemic: np.ndarray | None = None

    def scaled(self, factor: float) -> Predictive:
        """The same predictions with every std (the total and both parts) multiplied by ``factor``."""

        def times(std: np.ndarray | None) -> np.ndarray | None:
            return None if std is None else std * factor

        return Predictive(self.mean, times(self.std), times(self.aleatoric), times(self.epistemic))

    def split(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(aleatoric, epistemic) when both are known (a Gaussian head with several passes), else None."""
        if self.aleatoric is None or self.epistemic is None:
            return None
        return self.aleatoric, self.epistemic


def predict_distribution(
    models: Any, x: np.ndarray, *, batch_size: int = 256, mc_samples: int = 1, gaussian: bool = False
) -> Predictive:
    """Predict ``x`` with each model (an ensemble's members), ``mc_samples`` Monte Carlo passes each.

    Args:
        models: one Keras model, or a list of them (averaged with equal weights).
        x: the inputs, already scaled as the run scaled them.
        batch_size: inputs per forward pass.
        mc_samples: passes per model: above 1, with dropout on and Bayesian weights drawn.
        gaussian: the models' outputs are a Gaussian head's means and raw variances (a Gaussian loss).
    """
    models = models if isinstance(models, list) else [models]
    passes = []
    for model in models:
        net = keras_modules().model.mc_dropout_model(model) if mc_samples > 1 else model
        for _ in range(mc_samples):
            passes.append(np.asarray(net.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64))
    outputs = np.stack(passes)
    if not gaussian:
        return Predictive(outputs.mean(axis=0), outputs.std(axis=0) if len(passes) > 1 else None)
    from mlrun.gaussian import split_numpy

    means, variances = split_numpy(outputs)
    aleatoric, epistemic = variances.mean(axis=0), means.var(axis=0)
    std = np.sqrt(aleatoric + epistemic)
    if len(passes) == 1:
        return Predictive(means[0], std)
    return Predictive(means.mean(axis=0), std, np.sqrt(aleatoric), np.sqrt(epistemic))


def predict_scores(
    model: Any, x: np.ndarray, *, batch_size: int = 256, mc_samples: int = 1, gaussian: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """The outputs for ``x`` of a model (or an ensemble's members: their mean) and their predictive std (None when unknown).

    See :func:`predict_distribution`; a Gaussian head's outputs are returned as its means, the std as the total.
    """
    pred = predict_distribution(model, x, batch_size=batch_size, mc_samples=mc_samples, gaussian=gaussian)
    return pred.mean, pred.std


def loss_of(loss: str, targets: np.ndarray, scores: np.ndarray) -> float:
    """The configured loss of (Monte Carlo mean) predictions, without regularization terms."""
    keras = keras_modules().keras
    targets = np.asarray(targets)
    if loss != "sparse_categorical_crossentropy" and targets.ndim < scores.ndim:
        targets = targets.reshape(scores.shape)
    values = keras.losses.get(loss)(
        keras.ops.convert_to_tensor(targets, dtype="float32"), keras.ops.convert_to_tensor(scores, dtype="float32")
    )
    return float(np.mean(keras.ops.convert_to_numpy(values)))


def penalties(model: Any) -> float:
    """The sum of the model's regularization losses (l1/l2 on the weights), as added to the training loss."""
    keras = keras_modules().keras
    return float(sum(float(keras.ops.convert_to_numpy(v)) for v in model.losses))
