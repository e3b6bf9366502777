"""Uncertainty a physicist can trust: deep ensembles, the Gaussian head, Bayesian layers, measured calibration."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from mlrun.cli import app
from mlrun.config import load_config
from mlrun.errors import ConfigError
from mlrun.metrics.regcalibration import coverage, regression_calibration
from tests.conftest import digits_config, heteroscedastic_csv


def _regression_config(path: Path, **changes: object) -> dict:
    cfg = {
        "name": "het",
        "task": "regression",
        "dataset": {"path": str(path), "label": "y", "test_size": 0.3, "scale": "standard"},
        "model": {"architecture": "mlp", "hidden_units": [16]},
        "loss": "gaussian_nll",
        "optimizer": {"name": "adam", "learning_rate": 0.02},
        "training": {"epochs": 20, "batch_size": 64},
    }
    cfg.update(changes)
    return cfg


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"task": "multiclass", "loss": "gaussian_nll"}, r"loss: 'gaussian_nll' is a regression loss"),
        ({"task": "multiclass", "loss": "gaussian_beta_nll"}, r"loss: 'gaussian_beta_nll' is a regression loss"),
        ({"task": "regression", "loss": "beta_nll"}, r"loss"),
        (
            {"task": "binary", "model": {"architecture": "perceptron", "bayesian": {}}},
            r"bayesian: Bayesian layers apply to the dense layers of an mlp or a cnn, not to a perceptron",
        ),
        (
            {"model": {"architecture": "linear", "bayesian": {"prior_std": 1.0}}},
            r"not to a linear model",
        ),
        ({"training": {"ensemble": 0}}, r"training\.ensemble: .*greater than or equal to 1"),
        ({"model": {"architecture": "mlp", "hidden_units": [4], "bayesian": {"prior_std": 0}}}, r"prior_std"),
        ({"model": {"architecture": "mlp", "hidden_units": [4], "bayesian": {"kl_weight": -1.0}}}, r"kl_weight"),
        (
            {"model": {"architecture": "mlp", "hidden_units": [4], "l2": 0.01, "bayesian": {}}},
            r"the prior is the regularizer",
        ),
    ],
)
def test_nonsense_uncertainty_keys_are_config_errors(write_config, changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(write_config(digits_config(**changes)))


@pytest.mark.parametrize("loss", ["gaussian_nll", "gaussian_beta_nll"])
def test_gaussian_losses_on_a_classifier_exit_2(cli, write_config, loss: str) -> None:
    result = cli.invoke(app, ["validate", str(write_config(digits_config(task="multiclass", loss=loss)))])
    assert result.exit_code == 2, result.output
    assert loss in result.output and "Traceback" not in result.output


def test_a_bayesian_model_may_sample_without_dropout(write_config) -> None:
    model = {"architecture": "mlp", "hidden_units": [4], "bayesian": {}}
    cfg = load_config(write_config(digits_config(model=model, evaluation={"mc_samples": 5})))
    assert cfg.evaluation.mc_samples == 5


# --------------------------------------------------------------------------- the Gaussian losses


def _gradient(loss, y: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """d sum(loss(y, outputs)) / d outputs, by the backend's automatic differentiation."""
    from mlrun.gaussian import keras

    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.grad(lambda o: keras.ops.sum(loss(y, o)))(outputs))
    import tensorflow as tf

    var = tf.Variable(outputs)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(loss(y, var))
    return tape.gradient(value, var).numpy()


def _head_outputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    y = rng.normal(0.0, 1.0, (64, 1)).astype("float32")
    outputs = np.c_[rng.normal(0.0, 1.0, 64), rng.normal(0.0, 2.0, 64)].astype("float32")  # mean, raw variance
    return y, outputs


def test_beta_nll_with_beta_0_is_the_gaussian_nll() -> None:
    from mlrun.gaussian import beta_nll, gaussian_nll, keras

    y, outputs = _head_outputs()
    plain = keras.ops.convert_to_numpy(gaussian_nll(y, outputs))
    assert keras.ops.convert_to_numpy(beta_nll(y, outputs, 0.0)) == pytest.approx(plain, rel=1e-6)
    assert _gradient(lambda t, o: beta_nll(t, o, 0.0), y, outputs) == pytest.approx(
        _gradient(gaussian_nll, y, outputs), rel=1e-5, abs=1e-7
    )


def test_beta_nll_scales_the_gradients_by_the_variance_to_the_beta() -> None:
    from mlrun.gaussian import BETA, gaussian_beta_nll, gaussian_nll, split_numpy

    y, outputs = _head_outputs()
    mean, var = split_numpy(outputs)
    beta_grad, nll_grad = _gradient(gaussian_beta_nll, y, outputs), _gradient(gaussian_nll, y, outputs)
    weight = var[:, 0] ** BETA  # a constant for the gradients (stop_gradient): both halves are scaled by it
    assert beta_grad[:, 0] == pytest.approx(weight * nll_grad[:, 0], rel=1e-4, abs=1e-7)
    assert beta_grad[:, 1] == pytest.approx(weight * nll_grad[:, 1], rel=1e-4, abs=1e-7)
    # d/d mean = (mean - y) / var ** (1 - beta): the mse's gradient at beta = 1, the NLL's at 0.
    assert beta_grad[:, 0] == pytest.approx((mean - y)[:, 0] / var[:, 0] ** (1 - BETA), rel=1e-4, abs=1e-6)


# --------------------------------------------------------------------------- pure calibration


def test_coverage_of_the_true_gaussian_is_its_level() -> None:
    rng = np.random.default_rng(3)
    std = rng.uniform(0.1, 2.0, 200_000)
    y = rng.normal(0.0, std)
    metrics, (header, rows) = regression_calibration(y, np.zeros_like(y), std)
    assert header == ["expected", "observed"]
    assert metrics["coverage_68"] == pytest.approx(0.6827, abs=0.005)
    assert metrics["coverage_95"] == pytest.approx(0.95, abs=0.005)
    assert metrics["nll"] == pytest.approx(np.mean(0.5 * np.log(2 * np.pi * std**2) + 0.5), abs=0.01)
    for level, observed in rows:
        assert observed == pytest.approx(level, abs=0.005)
    assert coverage(y, np.zeros_like(y), 2 * std, 0.68) > 0.9  # too wide: over-covers


def test_kl_matches_the_closed_form_of_two_gaussians() -> None:
    from mlrun.bayes import BayesianDense, gaussian_kl
    from mlrun.model import keras

    mu, sigma, prior = np.array([0.3, -1.2]), np.array([0.5, 0.05]), 2.0
    closed = np.sum(np.log(prior / sigma) + (sigma**2 + mu**2) / (2 * prior**2) - 0.5)
    assert float(gaussian_kl(mu, sigma, prior)) == pytest.approx(closed, rel=1e-6)

    layer = BayesianDense(3, prior_std=prior)
    layer.build((None, 2))
    by_hand = 0.0
    for m, r in [(layer.kernel_mu, layer.kernel_rho), (layer.bias_mu, layer.bias_rho)]:
        m_, s_ = keras.ops.convert_to_numpy(m), np.log1p(np.exp(keras.ops.convert_to_numpy(r)))
        by_hand += np.sum(np.log(prior / s_) + (s_**2 + m_**2) / (2 * prior**2) - 0.5)
    assert float(keras.ops.convert_to_numpy(layer.kl())) == pytest.approx(by_hand, rel=1e-5)


@pytest.mark.slow
def test_the_posterior_shrinks_with_more_data() -> None:
    from mlrun.bayes import mean_posterior_sigma
    from mlrun.config import validate_config
    from mlrun.model import build_model, compile_model

    cfg = validate_config(
        {
            "name": "shrink",
            "task": "regression",
            "dataset": {"name": "diabetes"},
            "model": {"architecture": "mlp", "hidden_units": [8], "bayesian": {}},
            "loss": "mse",
            "optimizer": {"name": "adam", "learning_rate": 0.05},
        }
    )
    sigmas = {}
    for n in (50, 800):
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (n, 1)).astype("float32")
        y = (x[:, 0] + rng.normal(0, 0.1, n)).astype("float32")
        model = build_model(cfg, (1,), task="regression", n_outputs=1, n_train=n)
        compile_model(model, cfg, task="regression")
        model.fit(x, y, epochs=30, batch_size=n, verbose=0)  # the same number of steps for both
        sigmas[n] = mean_posterior_sigma(model)
    assert sigmas[800] < sigmas[50]


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["gaussian_nll", "gaussian_beta_nll"])
def test_gaussian_head_covers_heteroscedastic_noise(tmp_path: Path, runs_dir: Path, loss: str) -> None:
    from mlrun.config import validate_config
    from mlrun.runner import run_experiment

    data = heteroscedastic_csv(tmp_path / "het.csv", 2000)
    cfg = validate_config(_regression_config(data, loss=loss, training={"epochs": 40}))
    result = run_experiment(cfg, runs_dir)
    m = result.metrics
    # 600 test targets: the sampling std of a coverage is about 0.02; allow 3 of them.
    assert m["coverage_68"] == pytest.approx(0.68, abs=0.06)
    assert m["coverage_95"] == pytest.approx(0.95, abs=0.04)
    rows = _rows(result.run_dir / "predictions.csv")
    x_abs = np.abs(np.array([float(r["y_true"]) for r in rows]))  # |y| grows with |x|: so must the std
    std = np.array([float(r["y_std"]) for r in rows])
    assert np.corrcoef(x_abs, std)[0, 1] > 0.3
    assert len(_rows(result.run_dir / "calibration.csv")) == 9


@pytest.mark.slow
def test_ensemble_predictions_are_the_members_mean_and_spread(tmp_path: Path, runs_dir: Path, cli) -> None:
    from mlrun.config import validate_config
    from mlrun.ensemble import load_members
    from mlrun.runner import prepare, run_experiment

    data_path = heteroscedastic_csv(tmp_path / "het.csv", 300)
    cfg = validate_config(_regression_config(data_path, loss="mse", training={"epochs": 3, "ensemble": 3}))
    result = run_experiment(cfg, runs_dir)
    run = result.run_dir
    for i in range(3):
        assert (run / "members" / str(i) / "history.csv").is_file()
    assert (run / "members" / "0" / "history.csv").read_text() == (run / "history.csv").read_text()
    info = json.loads((run / "run.json").read_text())
    assert [m["seed"] for m in info["members"]] == [42, 43, 44]

    x_test = prepare(cfg).data.x_test
    outputs = np.stack([m.predict(x_test, verbose=0)[:, 0] for m in load_members(run)])
    rows = _rows(run / "predictions.csv")
    assert np.array([float(r["y_pred"]) for r in rows]) == pytest.approx(outputs.mean(axis=0), abs=1e-5)
    assert np.array([float(r["y_std"]) for r in rows]) == pytest.approx(outputs.std(axis=0), abs=1e-5)
    assert outputs.std(axis=0).min() > 0  # the members differ
    assert json.loads((run / "metrics.json").read_text())["ensemble"] == 3

    # mlrun predict averages the saved members the same way.
    inputs = tmp_path / "inputs.csv"
    raw = np.loadtxt(data_path, delimiter=",", skiprows=1)[:, :1]
    np.savetxt(inputs, raw, delimiter=",", header="x", comments="", fmt="%.6f")
    out = tmp_path / "out.csv"
    res = cli.invoke(app, ["predict", str(run), str(inputs), "--output", str(out)])
    assert res.exit_code == 0, res.output
    scaled = prepare(cfg).data.preprocessing.apply(raw.astype("float32"))
    expected = np.stack([m.predict(scaled, verbose=0)[:, 0] for m in load_members(run)])
    got = _rows(out)
    assert np.array([float(r["y_pred"]) for r in got]) == pytest.approx(expected.mean(axis=0), abs=1e-4)
    assert np.array([float(r["y_std"]) for r in got]) == pytest.approx(expected.std(axis=0), abs=1e-4)


@pytest.mark.slow
def test_bayesian_gaussian_run_splits_its_std(tmp_path: Path, runs_dir: Path) -> None:
    from mlrun.config import validate_config
    from mlrun.runner import run_experiment

    model = {"architecture": "mlp", "hidden_units": [8], "bayesian": {"prior_std": 1.0}}
    changes = {"model": model, "training": {"epochs": 3}, "evaluation": {"mc_samples": 4}}
    result = run_experiment(
        validate_config(_regression_config(heteroscedastic_csv(tmp_path / "h.csv", 200), **changes)), runs_dir
    )
    rows = _rows(result.run_dir / "predictions.csv")
    total, ale, epi = (np.array([float(r[k]) for r in rows]) for k in ("y_std", "y_std_aleatoric", "y_std_epistemic"))
    assert total == pytest.approx(np.sqrt(ale**2 + epi**2), rel=1e-6)
    assert epi.min() > 0  # the weights are drawn at every pass
    assert math.isfinite(result.metrics["nll"]) and result.metrics["loss"] == result.metrics["nll"]
