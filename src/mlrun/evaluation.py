"""Predict with a trained model (plainly, or as Monte Carlo dropout samples) and turn predictions into metrics.

Shared by a run (:func:`evaluate`, on its test or validation set) and by ``mlrun predict``
(:func:`predict_scores`). The metrics themselves are pure functions in :mod:`mlrun.metrics.compute`.
Keras is reached through :func:`mlrun.backend.keras_modules`, which a caller has already loaded
(a fitted or loaded model exists), so importing this module costs nothing.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from mlrun.backend import keras_modules
from mlrun.config import ExperimentConfig
from mlrun.data import Dataset
from mlrun.metrics.compute import Evaluation, evaluate_predictions


def evaluate(
    model: Any, cfg: ExperimentConfig, data: Dataset, *, on: Literal["test", "validation"] = "test"
) -> Evaluation:
    """Predict the test (or validation) set and compute every metric and table a run writes about it.

    With ``evaluation.mc_samples`` above 1, the predictions are the mean of that many Monte Carlo
    dropout passes, and their standard deviations are recorded too.
    """
    km = keras_modules()
    x, y = data.scored(on)
    assert x is not None and y is not None, "run_experiment refuses validation evaluation without a validation set"
    targets = km.training.encode_targets(y, data, km.model.uses_one_hot(data.task, cfg.loss))
    n_samples = cfg.evaluation.mc_samples
    scores, std = predict_scores(model, x, batch_size=max(cfg.training.batch_size, 256), mc_samples=n_samples)
    if std is not None:
        loss = loss_of(cfg.loss, targets, scores)
        ev = evaluate_predictions(y, scores, score_std=std, **_scoring(data, loss))
        ev.metrics["mc_samples"] = n_samples
    else:
        # The loss from the predictions, as model.evaluate computes it (mean loss plus the weights' penalties),
        # without a second pass over the data (and, on jax, a second compilation).
        loss = loss_of(cfg.loss, targets, scores) + penalties(model)
        ev = evaluate_predictions(y, scores, **_scoring(data, float(loss)))
    if on == "test" and data.test_is_training_data:
        ev.metrics.update(TRAINING_DATA_WARNING)
    return ev


#: What metrics.json says when its "test" metrics were computed on the training data (``test_size: 0``).
TRAINING_DATA_WARNING: dict[str, Any] = {
    "test_is_training_data": True,
    "warning": "test_size: 0: these test metrics are computed on the training data, not on held-out data; "
    "they say whether the model fits the data it was trained on, not how it does on new data",
}


def _scoring(data: Dataset, loss: float) -> dict[str, Any]:
    """The keyword arguments of evaluate_predictions that come from the data: task, classes, positive class."""
    positive = data.classes.index(data.positive_label) if data.positive_label is not None else 1
    return {"task": data.task, "classes": data.classes, "loss": loss, "positive": positive}


def predict_scores(
    model: Any, x: np.ndarray, *, batch_size: int = 256, mc_samples: int = 1
) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's outputs for ``x``, and their Monte Carlo dropout standard deviations (None for one plain pass)."""
    if mc_samples > 1:
        return mc_dropout_predict(model, x, mc_samples, batch_size=batch_size)
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64), None


def mc_dropout_predict(
    model: Any, x: np.ndarray, n_samples: int, *, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo dropout: predict ``x`` ``n_samples`` times with dropout on; return the mean and std of the outputs."""
    mc = keras_modules().model.mc_dropout_model(model)
    samples = np.stack(
        [np.asarray(mc.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64) for _ in range(n_samples)]
    )
    return samples.mean(axis=0), samples.std(axis=0)


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
