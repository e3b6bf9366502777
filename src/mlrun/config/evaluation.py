"""The ``evaluation`` block: how the test set is evaluated."""

from __future__ import annotations

from pydantic import Field

from mlrun.config.base import Strict


class EvaluationConfig(Strict):
    """How the test set is evaluated."""

    mc_samples: int = Field(default=1, ge=1)
    """Monte Carlo dropout: predict each test sample this many times with dropout kept on
    (batch normalization stays in inference mode) and use the mean as the prediction;
    ``predictions.csv`` gets the predictive standard deviation per class (``std_<class>``,
    regression ``y_std``) and ``metrics.json`` the mean predictive std. 1 (the default)
    predicts once, without dropout. More than 1 needs dropout in the model."""

    recalibrate: bool = False
    """Regression runs with a predictive std only (Monte Carlo samples, ``training.ensemble``, a
    Gaussian head, Bayesian layers with ``mc_samples`` above 1): after training, predict the
    validation split the same way as the test set, fit one scale ``s = sqrt(mean(((y - y_pred) /
    y_std)**2))`` there (the maximum-likelihood scale of the stds under the Gaussian NLL) and multiply
    every test std by it before coverage, NLL and calibration.csv are computed (σ scaling, Levi et
    al. 2019). ``metrics.json`` records it under ``recalibration`` with the numbers before it;
    ``mlrun predict`` applies the same scale. Needs ``dataset.validation_split`` above 0; never
    fitted on the data a run is scored on (a sweep trial scored on the validation split skips it)."""
