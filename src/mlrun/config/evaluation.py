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
