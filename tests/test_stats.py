"""mlrun.sweep.stats: the corrected t-test and the Bayesian correlated t-test against scikit-learn's
gallery example, against baycomp (the reference implementation of Benavoli et al. 2017), and their invariants."""

from __future__ import annotations

import doctest
import importlib.util
import math
import os

import numpy as np
import pytest
from scipy import stats as scipy_stats

from mlrun.sweep import stats
from mlrun.sweep.stats import (
    Comparison,
    PosteriorProbabilities,
    bayesian_correlated_t_test,
    compare_to_best,
    corrected_t_test,
)

baycomp_installed = importlib.util.find_spec("baycomp") is not None
#: baycomp is a dev dependency: CI must have it, so there a missing baycomp fails instead of skipping.
requires_baycomp = pytest.mark.skipif(
    not baycomp_installed and not os.environ.get("CI"),
    reason="needs the reference package baycomp: pip install 'baycomp>=1.0.3'",
)


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(stats, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5
    assert result.failed == 0


# --- scikit-learn's gallery example "Statistical comparison of models using grid search" ---------------------------
# examples/model_selection/plot_grid_search_stats.py (BSD-3-Clause, the scikit-learn developers): SVC kernels on
# make_moons(noise=0.352, random_state=1, n_samples=100), scored by ROC AUC over
# RepeatedStratifiedKFold(n_splits=10, n_repeats=10, random_state=0), i.e. 100 paired scores, n_train=90, n_test=10.
# The example fits GridSearchCV(SVC(random_state=0), [{"kernel": ["linear"]}, {"kernel": ["poly"], "degree": [2, 3]},
# {"kernel": ["rbf"]}], scoring="roc_auc"); the per-fold loop below gives the same split<i>_test_score values in a
# third of the time (mean AUC: rbf 0.94, linear 0.93, 3_poly 0.9044, rank 1, 2 and 3).


@pytest.fixture(scope="module")
def moons() -> tuple[dict[str, np.ndarray], int, int]:
    """The example's fold scores per kernel, and n_train, n_test of its folds."""
    from sklearn.datasets import make_moons
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import RepeatedStratifiedKFold
    from sklearn.svm import SVC

    X, y = make_moons(noise=0.352, random_state=1, n_samples=100)
    splits = list(RepeatedStratifiedKFold(n_splits=10, n_repeats=10, random_state=0).split(X, y))
    kernels = {"rbf": {"kernel": "rbf"}, "linear": {"kernel": "linear"}, "3_poly": {"kernel": "poly", "degree": 3}}
    scores = {
        name: np.array(
            [
                roc_auc_score(y[test], SVC(random_state=0, **params).fit(X[train], y[train]).decision_function(X[test]))
                for train, test in splits
            ]
        )
        for name, params in kernels.items()
    }
    train, test = splits[0]
    return scores, len(train), len(test)


def test_moons_fold_scores_are_the_examples(moons) -> None:
    scores, n_train, n_test = moons
    assert (n_train, n_test) == (90, 10)
    assert {name: round(float(s.mean()), 4) for name, s in scores.items()} == {
        "rbf": 0.94,
        "linear": 0.93,
        "3_poly": 0.9044,
    }


def _example_posterior(d: np.ndarray, n_train: int, n_test: int):
    """The example's posterior of the mean difference: Student t, n - 1 df, Nadeau-Bengio corrected scale.

    The example writes the correction as ``1/n + n_test/n_train`` with ``n = n_train + n_test`` (the number of
    samples); the papers' ``n`` is the number of resamples, k * r. Both are 100 in this example, so the values agree.
    """
    scale = math.sqrt(np.var(d, ddof=1) * (1 / d.size + n_test / n_train))
    return scipy_stats.t(d.size - 1, loc=float(np.mean(d)), scale=scale)


def test_corrected_t_test_reproduces_the_example(moons) -> None:
    scores, n_train, n_test = moons
    d = scores["rbf"] - scores["linear"]
    reference = _example_posterior(d, n_train, n_test)

    t, p = corrected_t_test(scores["rbf"], scores["linear"], n_train=n_train, n_test=n_test)

    assert t == pytest.approx(float(np.mean(d)) / reference.kwds["scale"], abs=1e-12)
    # The example prints a right-tailed p-value; ours is two-sided, so twice as large.
    assert p / 2 == pytest.approx(float(scipy_stats.t.sf(abs(t), 99)), abs=1e-12)
    assert (round(t, 3), round(p / 2, 3)) == (0.750, 0.227)
    # The example's point: the plain paired t-test calls rbf significantly better than linear, the corrected one not.
    plain = scipy_stats.ttest_rel(scores["rbf"], scores["linear"], alternative="greater")
    assert plain.pvalue < 0.05 < p / 2


def test_posterior_reproduces_the_examples_credible_intervals(moons) -> None:
    """The example's text: 50%, 75% and 95% credible intervals of rbf - linear (printed to 6 decimals)."""
    scores, n_train, n_test = moons
    published = {0.50: (0.000977, 0.019023), 0.75: (-0.005422, 0.025422), 0.95: (-0.016445, 0.036445)}
    for mass, (low, high) in published.items():
        # P(low <= mu <= high) as the rope probability of the difference re-centred on the interval's middle.
        centre, half_width = (low + high) / 2, (high - low) / 2
        probs = bayesian_correlated_t_test(
            scores["rbf"] - centre, scores["linear"], rope=half_width, n_train=n_train, n_test=n_test
        )
        assert probs.prob_equivalent == pytest.approx(mass, abs=1e-4)
        assert probs.prob_worse == pytest.approx(probs.prob_better, abs=1e-4)  # an equal-tailed interval


@pytest.mark.parametrize(
    ("other", "worse", "equivalent"),
    [("linear", 0.068, 0.43), ("3_poly", 0.018, 0.10)],  # the example's text: "6.8% chance of being worse", ...
)
def test_bayesian_test_reproduces_the_examples_pairwise_table(moons, other, worse, equivalent) -> None:
    scores, n_train, n_test = moons
    d = scores["rbf"] - scores[other]
    reference = _example_posterior(d, n_train, n_test)
    rope = 0.01  # the example's rope_interval [-0.01, 0.01]

    probs = bayesian_correlated_t_test(scores["rbf"], scores[other], rope=rope, n_train=n_train, n_test=n_test)

    assert probs.prob_worse == pytest.approx(float(reference.cdf(-rope)), abs=1e-12)
    assert probs.prob_better == pytest.approx(1 - float(reference.cdf(rope)), abs=1e-12)
    assert probs.prob_equivalent == pytest.approx(float(reference.cdf(rope) - reference.cdf(-rope)), abs=1e-12)
    assert round(probs.prob_worse, 3) == worse
    assert round(probs.prob_equivalent, 2) == equivalent


def test_rbf_better_than_linear_without_rope(moons) -> None:
    """The example's "probability of rbf being more accurate than linear", 1 - cdf(0) of the posterior."""
    scores, n_train, n_test = moons
    probs = bayesian_correlated_t_test(scores["rbf"], scores["linear"], rope=0.0, n_train=n_train, n_test=n_test)
    _, p = corrected_t_test(scores["rbf"], scores["linear"], n_train=n_train, n_test=n_test)
    assert probs.prob_equivalent == 0.0
    assert round(probs.prob_better, 3) == 0.773
    # Same Student t, so P(mu < 0) is the one-sided p-value.
    assert probs.prob_worse == pytest.approx(p / 2, abs=1e-12)


def test_compare_to_best_on_the_example(moons) -> None:
    scores, n_train, n_test = moons
    table = compare_to_best(scores, "rbf", rope=0.01, n_train=n_train, n_test=n_test)
    assert list(table) == ["rbf", "linear", "3_poly"]
    assert table["rbf"] is None
    linear = table["linear"]
    assert isinstance(linear, Comparison)
    # Mean AUCs 0.93 and 0.94 differ by exactly the rope, so half the posterior lies beyond it.
    assert (round(linear.prob_worse, 3), round(linear.prob_equivalent, 2), round(linear.prob_better, 3)) == (
        0.5,
        0.43,
        0.068,
    )
    # From linear's side: linear is worse than rbf with the probability that rbf is better than linear.
    rbf_vs_linear = bayesian_correlated_t_test(scores["rbf"], scores["linear"], rope=0.01, n_train=90, n_test=10)
    assert linear.prob_worse == pytest.approx(rbf_vs_linear.prob_better, abs=1e-12)
    assert linear.prob_better == pytest.approx(rbf_vs_linear.prob_worse, abs=1e-12)
    assert linear.p_value == pytest.approx(corrected_t_test(scores["rbf"], scores["linear"], n_train=90, n_test=10)[1])


# --- baycomp, the reference implementation of the Bayesian correlated t-test ----------------------------------------
# baycomp.two_on_single(x, y, rope, runs) works on diff = y - x and returns (p_left, p_rope, p_right) =
# (P(mu < -rope), P(-rope <= mu <= rope), P(mu > rope)). It does not take fold sizes: it assumes k-fold splits,
# n_test / n_train = 1 / (k - 1) with k = len(x) / runs, i.e. rho = 1 / k. So, for a higher-is-better metric,
#   bayesian_correlated_t_test(a, b, n_train=k - 1, n_test=1) == two_on_single(x=b, y=a, rope, runs)
# and for a lower-is-better one, x and y trade places.


def _fold_scores(seed: int, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    fold_effect = rng.normal(0.85, 0.03, n)  # shared by both models: that is what makes the pairing matter
    return fold_effect + shift + rng.normal(0, 0.01, n), fold_effect + rng.normal(0, 0.01, n)


@requires_baycomp
@pytest.mark.parametrize(
    ("seed", "folds", "runs", "shift", "rope"),
    [
        (0, 10, 1, 0.0, 0.01),
        (1, 5, 1, -0.01, 0.01),
        (2, 10, 10, 0.005, 0.01),
        (3, 5, 3, 0.02, 0.005),
        (4, 3, 4, -0.004, 0.02),
        (5, 10, 2, 0.012, 0.0),
    ],
)
@pytest.mark.parametrize("higher_is_better", [True, False])
def test_bayesian_test_matches_baycomp(seed, folds, runs, shift, rope, higher_is_better) -> None:
    from baycomp import two_on_single

    a, b = _fold_scores(seed, folds * runs, shift)
    x, y = (b, a) if higher_is_better else (a, b)
    reference = two_on_single(x, y, rope=rope, runs=runs)
    if rope == 0:  # baycomp then returns (p_left, p_right) only
        reference = (reference[0], 0.0, reference[1])

    for n_train, n_test in [(folds - 1, 1), (90 * (folds - 1), 90)]:  # only the ratio matters
        probs = bayesian_correlated_t_test(
            a, b, rope=rope, n_train=n_train, n_test=n_test, higher_is_better=higher_is_better
        )
        assert probs == pytest.approx(reference, abs=1e-6)
    assert 0.001 < max(probs) < 0.999  # the cases are not all degenerate


@requires_baycomp
@pytest.mark.parametrize("shift", [0.0, 0.005, 0.02, -0.02])
def test_zero_variance_matches_baycomp(shift) -> None:
    from baycomp import two_on_single

    b = np.array([0.8, 0.85, 0.9, 0.75, 0.8, 0.95])
    reference = two_on_single(b, b + shift, rope=0.01, runs=2)
    probs = bayesian_correlated_t_test(b + shift, b, rope=0.01, n_train=2, n_test=1)
    assert probs == pytest.approx(reference, abs=1e-6)
    assert sorted(probs) == [0.0, 0.0, 1.0]


# --- the corrected t-test against scipy's plain paired t-test ----------------------------------------------------------


@pytest.mark.parametrize(("seed", "n", "n_train", "n_test"), [(0, 10, 9, 1), (1, 30, 80, 20), (2, 100, 90, 10)])
def test_corrected_t_is_the_paired_t_with_inflated_variance(seed, n, n_train, n_test) -> None:
    a, b = _fold_scores(seed, n, 0.005)
    plain = scipy_stats.ttest_rel(a, b)
    t, p = corrected_t_test(a, b, n_train=n_train, n_test=n_test)
    assert t == pytest.approx(plain.statistic * math.sqrt((1 / n) / (1 / n + n_test / n_train)), rel=1e-12)
    assert p == pytest.approx(2 * scipy_stats.t.sf(abs(t), n - 1), rel=1e-12)
    assert p > plain.pvalue


# --- invariants ---------------------------------------------------------------------------------------------------------

CASES = [(seed, n, shift) for seed, n, shift in [(0, 10, 0.0), (1, 25, 0.01), (2, 100, -0.003), (3, 4, 0.05)]]


@pytest.mark.parametrize(("seed", "n", "shift"), CASES)
@pytest.mark.parametrize("rope", [0.0, 0.005, 0.02])
def test_probabilities_sum_to_one_and_swap_with_the_arguments(seed, n, shift, rope) -> None:
    a, b = _fold_scores(seed, n, shift)
    forward = bayesian_correlated_t_test(a, b, rope=rope, n_train=9, n_test=1)
    backward = bayesian_correlated_t_test(b, a, rope=rope, n_train=9, n_test=1)
    assert sum(forward) == pytest.approx(1.0, abs=1e-12)
    assert all(0.0 <= p <= 1.0 for p in forward)
    assert backward.prob_worse == pytest.approx(forward.prob_better, abs=1e-12)
    assert backward.prob_better == pytest.approx(forward.prob_worse, abs=1e-12)
    assert backward.prob_equivalent == pytest.approx(forward.prob_equivalent, abs=1e-12)
    t_forward, p_forward = corrected_t_test(a, b, n_train=9, n_test=1)
    t_backward, p_backward = corrected_t_test(b, a, n_train=9, n_test=1)
    assert (t_backward, p_backward) == pytest.approx((-t_forward, p_forward), abs=1e-12)


@pytest.mark.parametrize(("seed", "n", "shift"), CASES)
def test_a_wider_rope_moves_mass_into_equivalence(seed, n, shift) -> None:
    a, b = _fold_scores(seed, n, shift)
    ropes = [0.0, 0.001, 0.01, 0.1, 1.0]
    equivalent = [bayesian_correlated_t_test(a, b, rope=r, n_train=4, n_test=1).prob_equivalent for r in ropes]
    assert equivalent == sorted(equivalent)
    assert equivalent[0] == 0.0
    assert equivalent[-1] > 0.99


def test_a_larger_test_share_widens_the_posterior() -> None:
    """More overlap between training sets (higher rho) means less evidence: fewer probability at the extremes."""
    a, b = _fold_scores(7, 20, 0.01)
    better = [bayesian_correlated_t_test(a, b, rope=0.0, n_train=m, n_test=1).prob_better for m in (1, 4, 19, 1000)]
    assert better == sorted(better)
    assert better[0] > 0.5


def test_identical_scores_are_equivalent_with_p_one() -> None:
    a = [0.91, 0.87, 0.93, 0.9, 0.88]
    assert corrected_t_test(a, a, n_train=4, n_test=1) == (0.0, 1.0)
    assert bayesian_correlated_t_test(a, a, rope=0.01, n_train=4, n_test=1) == (0.0, 1.0, 0.0)
    assert bayesian_correlated_t_test(a, a, rope=0.0, n_train=4, n_test=1) == (0.0, 1.0, 0.0)


@pytest.mark.parametrize(("shift", "expected_t"), [(0.25, math.inf), (-0.25, -math.inf)])
def test_a_constant_nonzero_difference_is_certain(shift, expected_t) -> None:
    b = np.array([0.5, 0.25, 0.75, 0.5])  # binary fractions: b + shift - b is exactly shift, variance exactly 0
    assert corrected_t_test(b + shift, b, n_train=3, n_test=1) == (expected_t, 0.0)


def test_orientation_for_a_loss() -> None:
    best_loss = np.array([0.20, 0.22, 0.21, 0.19, 0.23])
    higher_loss = best_loss + np.array([0.05, 0.06, 0.04, 0.05, 0.07])
    as_loss = bayesian_correlated_t_test(higher_loss, best_loss, rope=0.01, n_train=4, n_test=1, higher_is_better=False)
    as_score = bayesian_correlated_t_test(higher_loss, best_loss, rope=0.01, n_train=4, n_test=1)
    assert as_loss.prob_worse > 0.95
    assert as_score.prob_better > 0.95
    assert as_loss == pytest.approx((as_score.prob_better, as_score.prob_equivalent, as_score.prob_worse), abs=1e-12)

    table = compare_to_best(
        {"small": higher_loss, "big": best_loss}, "big", rope=0.01, n_train=4, n_test=1, higher_is_better=False
    )
    small = table["small"]
    assert small is not None
    assert small.prob_worse == pytest.approx(as_loss.prob_worse)


@pytest.mark.parametrize("scores", [([], []), ([0.9], [0.8])])
def test_fewer_than_two_pairs_give_nan(scores) -> None:
    a, b = scores
    assert all(math.isnan(x) for x in corrected_t_test(a, b, n_train=4, n_test=1))
    assert all(math.isnan(x) for x in bayesian_correlated_t_test(a, b, rope=0.01, n_train=4, n_test=1))
    comparison = compare_to_best({"x": a, "y": b}, "y", rope=0.01, n_train=4, n_test=1)["x"]
    assert comparison is not None
    assert math.isnan(comparison.p_value)
    assert math.isnan(comparison.prob_worse)


def test_results_unpack_and_name_their_fields() -> None:
    probs = bayesian_correlated_t_test([0.9, 0.8, 0.85], [0.8, 0.8, 0.8], rope=0.01, n_train=2, n_test=1)
    assert isinstance(probs, PosteriorProbabilities)
    worse, equivalent, better = probs
    assert (worse, equivalent, better) == (probs.prob_worse, probs.prob_equivalent, probs.prob_better)
    t, p = corrected_t_test([0.9, 0.8, 0.85], [0.8, 0.8, 0.8], n_train=2, n_test=1)
    assert t > 0
    assert 0 < p < 1


# --- errors -------------------------------------------------------------------------------------------------------------

GOOD = [0.9, 0.8, 0.85]


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        ([0.9, math.nan, 0.85], GOOD, {}, r"fold scores must be finite, but a has nan at fold 1"),
        (GOOD, [0.9, 0.8, math.inf], {}, r"fold scores must be finite, but b has inf at fold 2"),
        (GOOD, [0.9, 0.8], {}, r"must be paired.*got 3 and 2 scores"),
        ([[0.9, 0.8]], [[0.9, 0.8]], {}, r"must be 1-D.*shapes \(1, 2\)"),
        (GOOD, GOOD, {"n_train": 0}, r"n_train must be a positive integer.*got 0"),
        (GOOD, GOOD, {"n_test": 1.5}, r"n_test must be a positive integer.*got 1.5"),
        (GOOD, GOOD, {"n_train": True}, r"n_train must be a positive integer.*got True"),
    ],
)
@pytest.mark.parametrize("test", ["corrected", "bayesian"])
def test_bad_scores_and_fold_sizes_are_rejected(a, b, kwargs, message, test) -> None:
    sizes = {"n_train": 9, "n_test": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        if test == "corrected":
            corrected_t_test(a, b, **sizes)
        else:
            bayesian_correlated_t_test(a, b, rope=0.01, **sizes)


@pytest.mark.parametrize("rope", [-0.01, math.nan, math.inf])
def test_bad_rope_is_rejected(rope) -> None:
    with pytest.raises(ValueError, match=r"rope must be a finite number >= 0"):
        bayesian_correlated_t_test(GOOD, GOOD, rope=rope, n_train=2, n_test=1)


@pytest.mark.parametrize(
    ("scores", "best", "message"),
    [
        ({"a": GOOD, "b": GOOD}, "c", r"best point 'c' is not among the 2 points"),
        ({"a": GOOD, "b": GOOD[:2]}, "a", r"one score per fold.*'a': 3, 'b': 2"),
        ({"a": GOOD, "b": [0.9, math.nan, 0.8]}, "a", r"fold scores must be finite"),
    ],
)
def test_compare_to_best_rejects_bad_tables(scores, best, message) -> None:
    with pytest.raises(ValueError, match=message):
        compare_to_best(scores, best, rope=0.01, n_train=2, n_test=1)
