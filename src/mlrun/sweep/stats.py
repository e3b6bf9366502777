"""Honest model selection: is a grid point really worse than the rank-1 point?

Small pure functions over **paired fold scores**: ``a[i]`` and ``b[i]`` are two
models' scores on the same test fold ``i`` of a (repeated) k-fold
cross-validation, so there are ``n = k * r`` pairs for ``k`` folds and ``r``
repeats. Only the pairing matters, not the order of the pairs.

The folds of a cross-validation overlap in their training sets, so the ``n``
differences are correlated and the plain paired t-test is far too confident.
Both tests here correct the variance of the mean difference with Nadeau and
Bengio's factor ``1/n + n_test/n_train``:

- :func:`corrected_t_test`: the corrected resampled t-test (frequentist, two-sided).
- :func:`bayesian_correlated_t_test`: the Bayesian correlated t-test, which says
  how probable it is that ``a`` is worse than, practically equivalent to, or
  better than ``b``, given a region of practical equivalence (``rope``).
- :func:`compare_to_best`: both tests for every point of a sweep against the best one.

Fewer than two pairs give no variance to estimate: the functions then return
NaN statistics rather than raising, so a sweep without cross-validation still
reports, with empty comparison columns.

References:
    C. Nadeau, Y. Bengio (2003). Inference for the generalization error.
    Machine Learning 52(3), 239-281.

    A. Benavoli, G. Corani, J. Demšar, M. Zaffalon (2017). Time for a change: a
    tutorial for comparing multiple classifiers through Bayesian analysis.
    JMLR 18(77), 1-36. Section 3 and the ``baycomp`` package.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np
from scipy import stats

__all__ = [
    "Comparison",
    "PosteriorProbabilities",
    "TTestResult",
    "bayesian_correlated_t_test",
    "compare_to_best",
    "corrected_t_test",
]

K = TypeVar("K", bound=Hashable)


class TTestResult(NamedTuple):
    """The corrected t statistic of ``a - b`` and its two-sided p-value."""

    statistic: float
    p_value: float


class PosteriorProbabilities(NamedTuple):
    """Where the posterior of the mean score difference of ``a`` against ``b`` lies.

    The three probabilities sum to 1. "Worse" and "better" already account for
    the metric's direction (``higher_is_better``).
    """

    prob_worse: float
    """P(``a`` is worse than ``b`` by more than ``rope``)."""
    prob_equivalent: float
    """P(the difference lies within ``[-rope, rope]``)."""
    prob_better: float
    """P(``a`` is better than ``b`` by more than ``rope``)."""


@dataclass(frozen=True)
class Comparison:
    """One grid point against the best point, on their paired fold scores."""

    p_value: float
    """Two-sided p-value of the corrected t-test (NaN with fewer than two folds)."""
    prob_worse: float
    """P(this point is worse than the best one by more than ``rope``)."""
    prob_equivalent: float
    """P(the two are practically equivalent: they differ by at most ``rope``)."""
    prob_better: float
    """P(this point is better than the best one by more than ``rope``)."""


def corrected_t_test(a: Sequence[float], b: Sequence[float], *, n_train: int, n_test: int) -> TTestResult:
    """Run Nadeau and Bengio's corrected resampled t-test on paired fold scores.

    With ``d = a - b`` over ``n = k * r`` folds, ``t = mean(d) / sqrt((1/n +
    n_test/n_train) * var(d, ddof=1))`` follows a Student t with ``n - 1``
    degrees of freedom under the null hypothesis that the mean difference is 0.

    Args:
        a: One model's score on each test fold.
        b: The other model's score on the same folds, in the same order.
        n_train: Number of training samples in one fold.
        n_test: Number of test samples in one fold.

    Returns:
        The t statistic (positive when ``a`` scores higher than ``b``) and its
        two-sided p-value. Identical scores give ``t = 0, p = 1``; a constant
        non-zero difference gives ``t = ±inf, p = 0``; fewer than two pairs
        give NaN for both.

    Raises:
        ValueError: If the scores are not two equally long 1-D sequences of
            finite numbers, or ``n_train`` / ``n_test`` is not a positive integer.

    Examples:
        >>> corrected_t_test([0.9, 0.8, 0.7], [0.9, 0.8, 0.7], n_train=2, n_test=1)
        TTestResult(statistic=0.0, p_value=1.0)
        >>> t, p = corrected_t_test([0.9, 0.8, 0.9], [0.8, 0.8, 0.7], n_train=2, n_test=1)
        >>> round(t, 4), round(p, 4)
        (1.0954, 0.3876)
    """
    d = _differences(a, b)
    _check_sizes(n_train=n_train, n_test=n_test)
    n = d.size
    if n < 2:
        return TTestResult(math.nan, math.nan)
    mean = float(np.mean(d))
    variance = float(np.var(d, ddof=1))
    if variance == 0.0:
        if mean == 0.0:
            return TTestResult(0.0, 1.0)
        return TTestResult(math.copysign(math.inf, mean), 0.0)
    statistic = mean / math.sqrt((1 / n + n_test / n_train) * variance)
    p_value = float(2 * stats.t.sf(abs(statistic), n - 1))
    return TTestResult(statistic, p_value)


def bayesian_correlated_t_test(
    a: Sequence[float],
    b: Sequence[float],
    *,
    rope: float,
    n_train: int,
    n_test: int,
    higher_is_better: bool = True,
) -> PosteriorProbabilities:
    """Compare ``a`` with ``b`` by the Bayesian correlated t-test of Benavoli et al. (2017).

    The correlation between folds is ``rho = n_test / (n_train + n_test)``. The
    posterior of the mean difference ``mu`` of ``d = a - b`` over ``n = k * r``
    folds is a Student t with ``n - 1`` degrees of freedom, location
    ``mean(d)`` and scale ``sqrt((1/n + rho/(1 - rho)) * var(d, ddof=1))``
    (``rho/(1 - rho) = n_test/n_train``, so the scale is the corrected
    t-test's standard error). When ``var(d) = 0`` all the mass is at ``mean(d)``.

    Args:
        a: The scores of the model in question on each test fold.
        b: The scores of the model it is compared with, on the same folds.
        rope: Half-width of the region of practical equivalence, in the
            metric's units: differences within ``[-rope, rope]`` do not matter.
            ``0.01`` is one point of accuracy. ``0`` is allowed.
        n_train: Number of training samples in one fold.
        n_test: Number of test samples in one fold.
        higher_is_better: ``True`` for a score such as accuracy, ``False`` for
            a loss such as ``val_loss``, where ``a`` is better when lower.

    Returns:
        ``(prob_worse, prob_equivalent, prob_better)`` of ``a`` relative to
        ``b``: with ``higher_is_better=True`` these are ``P(mu < -rope)``,
        ``P(-rope <= mu <= rope)`` and ``P(mu > rope)``; with ``False`` worse
        and better trade places. All NaN with fewer than two pairs.

    Raises:
        ValueError: If the scores are not two equally long 1-D sequences of
            finite numbers, ``rope`` is negative or not finite, or ``n_train`` /
            ``n_test`` is not a positive integer.

    Examples:
        >>> bayesian_correlated_t_test([0.9, 0.8], [0.9, 0.8], rope=0.01, n_train=1, n_test=1)
        PosteriorProbabilities(prob_worse=0.0, prob_equivalent=1.0, prob_better=0.0)
        >>> losses, best_losses = [0.30, 0.32, 0.31], [0.20, 0.21, 0.22]
        >>> probs = bayesian_correlated_t_test(losses, best_losses, rope=0.01, n_train=2, n_test=1, higher_is_better=False)
        >>> [round(p, 3) for p in probs]  # higher losses: almost surely worse
        [0.995, 0.002, 0.003]
    """
    d = _differences(a, b)
    _check_sizes(n_train=n_train, n_test=n_test)
    if not (math.isfinite(rope) and rope >= 0):
        raise ValueError(f"rope must be a finite number >= 0, the half-width of the equivalence region (got {rope!r})")
    if not higher_is_better:
        d = -d  # from here on, a positive difference means that a is better
    n = d.size
    if n < 2:
        return PosteriorProbabilities(math.nan, math.nan, math.nan)
    mean = float(np.mean(d))
    variance = float(np.var(d, ddof=1))
    if variance == 0.0:
        # A degenerate posterior: a point mass at the observed mean difference.
        worse, better = float(mean < -rope), float(mean > rope)
    else:
        rho = n_test / (n_train + n_test)
        scale = math.sqrt((1 / n + rho / (1 - rho)) * variance)
        posterior = stats.t(n - 1, loc=mean, scale=scale)
        worse, better = float(posterior.cdf(-rope)), float(posterior.sf(rope))
    # The rope's share is the rest, so the three sum to 1 even when rope = 0.
    return PosteriorProbabilities(worse, max(0.0, 1.0 - worse - better), better)


def compare_to_best(
    scores: Mapping[K, Sequence[float]],
    best: K,
    *,
    rope: float,
    n_train: int,
    n_test: int,
    higher_is_better: bool = True,
) -> dict[K, Comparison | None]:
    """Compare every grid point with the best one on their paired fold scores.

    Args:
        scores: Each point's scores of the ranking metric, one per test fold,
            in the same fold order for every point (``split0``, ``split1``, ...
            of ``cv_results_``).
        best: The key of the best (rank-1) point in ``scores``.
        rope: Half-width of the region of practical equivalence, in the metric's units.
        n_train: Number of training samples in one fold.
        n_test: Number of test samples in one fold.
        higher_is_better: The ranking metric's direction.

    Returns:
        For each key of ``scores``, in its order: the :class:`Comparison` of
        that point against ``best`` (``prob_worse`` is the probability that the
        point is worse than the best one), or ``None`` for ``best`` itself.

    Raises:
        ValueError: If ``best`` is not a key of ``scores``, the points have
            different numbers of fold scores, or a test rejects its input.

    Examples:
        >>> table = compare_to_best(
        ...     {"relu": [0.91, 0.92, 0.90], "tanh": [0.91, 0.92, 0.90]}, "relu", rope=0.01, n_train=2, n_test=1
        ... )
        >>> table["relu"] is None, table["tanh"]
        (True, Comparison(p_value=1.0, prob_worse=0.0, prob_equivalent=1.0, prob_better=0.0))
    """
    if best not in scores:
        raise ValueError(f"best point {best!r} is not among the {len(scores)} points compared")
    reference = scores[best]
    lengths = {key: len(values) for key, values in scores.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"every point needs one score per fold, paired by fold, but the numbers of scores differ: {lengths}"
        )
    table: dict[K, Comparison | None] = {}
    for key, values in scores.items():
        if key == best:
            table[key] = None
            continue
        t_test = corrected_t_test(values, reference, n_train=n_train, n_test=n_test)
        posterior = bayesian_correlated_t_test(
            values, reference, rope=rope, n_train=n_train, n_test=n_test, higher_is_better=higher_is_better
        )
        table[key] = Comparison(t_test.p_value, *posterior)
    return table


def _differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """Return ``a - b`` as a float array, after checking the two are paired finite scores."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"fold scores must be 1-D sequences, one score per fold (got shapes {x.shape} and {y.shape})")
    if x.size != y.size:
        raise ValueError(f"fold scores must be paired, one per fold for both models (got {x.size} and {y.size} scores)")
    for name, values in (("a", x), ("b", y)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(
                f"fold scores must be finite, but {name} has {values[bad[0]]} at fold {bad[0]}"
                f" ({bad.size} non-finite in all); drop or rerun the failed trials before comparing"
            )
    diff: np.ndarray = x - y
    return diff


def _check_sizes(*, n_train: int, n_test: int) -> None:
    """Check the fold sizes that set the variance correction."""
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, the number of samples in one fold (got {value!r})")
