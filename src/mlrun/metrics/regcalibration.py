"""Measured calibration of a regression run's predictive standard deviations: coverage, Gaussian NLL, the curve.

A run whose predictions come with a std (Monte Carlo dropout, an ensemble, a Gaussian head,
Bayesian layers) claims a Gaussian ``N(y_pred, y_std**2)`` for each test target. These pure
functions measure that claim: the fraction of targets inside the central intervals it implies
(68 % within ±1σ, 95 % within ±1.96σ), and its negative log-likelihood. No Keras here.

>>> import numpy as np
>>> y = np.array([0.0, 0.5, 2.0, -3.0]); mean = np.zeros(4); std = np.ones(4)
>>> coverage(y, mean, std, 0.68)
0.5
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy.stats import norm

#: The central probability of ±1σ under a Gaussian: what ``coverage_68`` is measured against.
ONE_SIGMA = 0.6826894921370859


#: The central-interval levels of calibration.csv for regression.
LEVELS = tuple(round(0.1 * i, 1) for i in range(1, 10))


def coverage(y: np.ndarray, mean: np.ndarray, std: np.ndarray, level: float) -> float:
    """The fraction of targets inside the central ``level`` interval of N(mean, std²) (all targets pooled)."""
    z = float(norm.ppf(0.5 + level / 2.0))
    inside = np.abs(np.asarray(y, dtype=np.float64) - mean) <= z * np.asarray(std, dtype=np.float64)
    return float(inside.mean())


def gaussian_nll(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """The mean Gaussian negative log-likelihood of the targets under N(mean, std²), with the 0.5 log(2π) term."""
    var = np.maximum(np.asarray(std, dtype=np.float64) ** 2, 1e-12)
    resid2 = (np.asarray(y, dtype=np.float64) - mean) ** 2
    return float(np.mean(0.5 * np.log(2.0 * np.pi * var) + 0.5 * resid2 / var))


def regression_calibration(
    y: np.ndarray, mean: np.ndarray, std: np.ndarray
) -> tuple[dict[str, float], tuple[list[str], list[list[Any]]]]:
    """The calibration metrics of a regression run with a std, and calibration.csv's table.

    Returns:
        (metrics, table): ``coverage_68``, ``coverage_95`` (central intervals ±1σ and ±1.96σ: the
        68.27 % and 95 % ones), ``nll`` and ``mean_std``; the table has the columns ``expected``
        (the level) and ``observed`` (the fraction of targets inside that central interval).
    """
    y2, m2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1), np.asarray(mean, dtype=np.float64).reshape(len(y), -1)
    s2 = np.asarray(std, dtype=np.float64).reshape(len(y), -1)
    metrics = {
        "coverage_68": float((np.abs(y2 - m2) <= s2).mean()),
        "coverage_95": float((np.abs(y2 - m2) <= 1.96 * s2).mean()),
        "nll": gaussian_nll(y2, m2, s2),
        "mean_std": float(s2.mean()),
    }
    rows: list[list[Any]] = [[level, coverage(y2, m2, s2, level)] for level in LEVELS]
    return metrics, (["expected", "observed"], rows)


def std_scale(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """The factor that recalibrates predicted stds: ``sqrt(mean(((y - mean) / std)**2))``, all targets pooled.

    It is the maximum-likelihood scale ``s`` of N(mean, (s·std)²) (σ scaling, Levi et al. 2019):
    the Gaussian NLL ``log s + z²/(2s²)`` per target is smallest at ``s² = mean(z²)``. Fit it on data the
    run is not scored on (its validation split), then multiply the scored stds by it.

    >>> std_scale(np.array([1.0, -3.0]), np.zeros(2), np.ones(2))
    2.23606797749979
    """
    y2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    m2 = np.asarray(mean, dtype=np.float64).reshape(len(y), -1)
    s2 = np.maximum(np.asarray(std, dtype=np.float64).reshape(len(y), -1), 1e-6)  # gaussian_nll's variance floor
    return float(np.sqrt(np.mean(((y2 - m2) / s2) ** 2)))


def coverage_scale(y: np.ndarray, mean: np.ndarray, std: np.ndarray, level: float = ONE_SIGMA) -> float:
    """The smallest factor ``s`` with ``|y - mean| <= s * std`` for a ``level`` fraction of the targets, all pooled.

    The split-conformal quantile of the normalized residuals ``|z|`` (Lei et al. 2018): the
    ``ceil((n + 1) * level)``-th smallest of the ``n`` values, so that on new data from the same
    distribution the interval ``mean ± s·std`` covers at least ``level`` on average. Fit it on data
    the run is not scored on (its validation split), then multiply the scored stds by it.

    >>> coverage_scale(np.array([0.5, -1.0, 2.0, 4.0]), np.zeros(4), np.ones(4), level=0.5)
    2.0
    """
    z = np.abs(
        np.asarray(y, dtype=np.float64).reshape(len(y), -1) - np.asarray(mean, dtype=np.float64).reshape(len(y), -1)
    )
    z = np.sort((z / np.maximum(np.asarray(std, dtype=np.float64).reshape(len(y), -1), 1e-6)).ravel())
    rank = min(math.ceil((z.size + 1) * level), z.size)  # 1-based; capped: fewer than 1 / (1 - level) targets
    return float(z[rank - 1])


def fit_scale(method: Literal["sigma", "coverage"], y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """The std scale of ``evaluation.recalibrate``'s ``method``: :func:`std_scale` or :func:`coverage_scale`."""
    return std_scale(y, mean, std) if method == "sigma" else coverage_scale(y, mean, std)
