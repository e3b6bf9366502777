"""The ``evaluation`` block: how the test set is evaluated."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from mlrun.config.base import Strict


class EvaluationConfig(Strict):
    """How the test set is evaluated."""

    mc_samples: int = Field(default=1, ge=1)
    """Monte Carlo dropout: predict each test sample this many times with dropout kept on
    (batch normalization stays in inference mode) and use the mean as the prediction;
    ``predictions.csv`` gets the predictive standard deviation per class (``std_<class>``,
    regression ``y_std``) and ``metrics.json`` the mean predictive std. 1 (the default)
    predicts once, without dropout. More than 1 needs dropout in the model."""

    recalibrate: bool | Literal["sigma", "coverage"] = False
    """Regression runs with a predictive std only (Monte Carlo samples, ``training.ensemble``, a
    Gaussian head, Bayesian layers with ``mc_samples`` above 1): after training, predict the
    calibration split (``dataset.calibration_split``), else the validation split, the same way as
    the test set, fit one scale ``s`` there and multiply every test std by it before coverage, NLL
    and calibration.csv are computed. How ``s`` is fitted:

    - ``sigma`` (or ``true``): ``s = sqrt(mean(z**2))`` with ``z = (y - y_pred) / y_std``, the
      maximum-likelihood scale of the stds under the Gaussian NLL (σ scaling, Levi et al. 2019).
      Best for the NLL; with heavy-tailed residuals it widens ±1σ past 68 %.
    - ``coverage``: the smallest ``s`` with ±s·y_std covering 68.27 % of the held-out targets
      (the conformal quantile of ``|z|``, Lei et al. 2018: at least 68.27 % on new data from the
      same distribution). Best for the ±1σ bands; ±1.96σ then covers what the tails allow.

    ``metrics.json`` records it under ``recalibration`` with the numbers before it;
    ``mlrun predict`` applies the same scale. Needs ``dataset.calibration_split`` or
    ``dataset.validation_split`` above 0; the calibration split is better, as early stopping makes
    the validation residuals optimistic. Never fitted on the data a run is scored on (a sweep trial
    scored on the validation split, without a calibration split, skips it)."""

    @field_validator("recalibrate", mode="before")
    @classmethod
    def _one_of(cls, value: Any) -> Any:
        if not isinstance(value, bool) and value not in ("sigma", "coverage"):
            raise ValueError(f"must be true, false, sigma or coverage (got {value!r})")
        return value

    @property
    def recalibration(self) -> Literal["sigma", "coverage"] | None:
        """How ``recalibrate`` fits its scale (``true`` is ``sigma``), or None when it is off."""
        if self.recalibrate is False:
            return None
        return "sigma" if self.recalibrate is True else self.recalibrate
