"""Monte Carlo dropout (evaluation.mc_samples) and the expected calibration error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from mlrun import store
from mlrun.config import validate_config
from mlrun.errors import ConfigError
from mlrun.metrics.compute import evaluate_predictions, expected_calibration_error
from tests.conftest import digits_config

# --------------------------------------------------------------------------- ECE


def test_ece_of_a_calibrated_classifier_is_zero() -> None:
    # In each bin, the share of right answers equals the confidence: 8 of 10 right at 0.8, 6 of 10 at 0.6.
    proba = np.array([[0.8, 0.2]] * 10 + [[0.4, 0.6]] * 10)
    y = np.array([0] * 8 + [1] * 2 + [1] * 6 + [0] * 4)
    ece, (header, rows) = expected_calibration_error(y, proba)
    assert ece == pytest.approx(0.0)
    assert header == ["bin_lower", "bin_upper", "count", "confidence", "accuracy"]
    assert len(rows) == 10 and sum(r[2] for r in rows) == len(y)


def test_ece_is_the_weighted_gap_between_confidence_and_accuracy() -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=500)
    y = rng.integers(0, 4, size=500)
    ece, (_, rows) = expected_calibration_error(y, proba, n_bins=10)
    conf, right = proba.max(axis=1), proba.argmax(axis=1) == y
    expected = 0.0
    for lo in np.arange(10) / 10:
        in_bin = (conf > lo) & (conf <= lo + 0.1 + 1e-12)
        if in_bin.any():
            expected += in_bin.mean() * abs(right[in_bin].mean() - conf[in_bin].mean())
    assert ece == pytest.approx(expected)
    assert sum(r[2] for r in rows) == 500
    # Always-confident, always-wrong predictions: ECE is the confidence itself.
    assert expected_calibration_error(np.zeros(5, int), np.tile([0.0, 1.0], (5, 1)))[0] == pytest.approx(1.0)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_every_classification_evaluation_has_ece_and_a_reliability_table(task: str) -> None:
    rng = np.random.default_rng(1)
    k = 2 if task == "binary" else 3
    proba = rng.dirichlet(np.ones(k), size=60)
    y = rng.integers(0, k, size=60)
    score = proba[:, 1] if task == "binary" else proba
    ev = evaluate_predictions(y, score, task=task, classes=[str(c) for c in range(k)])
    assert 0.0 <= ev.metrics["ece"] <= 1.0
    assert sum(r[2] for r in ev.calibration[1]) == 60


def test_predictive_std_columns_follow_the_probabilities() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    std = np.array([[0.05, 0.02, 0.03], [0.01, 0.01, 0.2]])
    ev = evaluate_predictions(np.array([0, 2]), proba, task="multiclass", classes=["a", "b", "c"], score_std=std)
    header, rows = ev.predictions
    assert header == ["y_true", "y_pred", "p_a", "p_b", "p_c", "std_a", "std_b", "std_c"]
    assert rows[1][-3:] == pytest.approx([0.01, 0.01, 0.2])
    assert ev.metrics["mean_predictive_std"] == pytest.approx((0.05 + 0.2) / 2)  # std of each predicted class
    reg = evaluate_predictions(
        np.array([1.0, 2.0]),
        np.array([[1.1], [1.9]]),
        task="regression",
        classes=["y"],
        score_std=np.array([[0.3], [0.1]]),
    )
    assert reg.predictions[0] == ["y_true", "y_pred", "y_std"] and reg.metrics["mean_predictive_std"] == pytest.approx(
        0.2
    )


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "model",
    [
        {"architecture": "mlp", "hidden_units": [16]},
        {"architecture": "mlp", "hidden_units": [], "dropout": 0.5},
        {"architecture": "linear"},
    ],
)
def test_mc_samples_without_dropout_is_a_config_error(model: dict) -> None:
    with pytest.raises(
        ConfigError, match=r"evaluation.mc_samples: 5 samples of Monte Carlo dropout need dropout.*set model.dropout"
    ):
        validate_config(digits_config(model=model, evaluation={"mc_samples": 5}))


@pytest.mark.parametrize("value", [0, -1, 2.5])
def test_mc_samples_must_be_a_positive_integer(value: object) -> None:
    with pytest.raises(ConfigError, match="evaluation.mc_samples"):
        validate_config(digits_config(evaluation={"mc_samples": value}))


def test_mc_dropout_in_layers_is_accepted() -> None:
    layers = [{"type": "dense", "units": 16, "activation": "relu"}, {"type": "dropout", "rate": 0.2}]
    cfg = validate_config(digits_config(model={"architecture": "mlp", "layers": layers}, evaluation={"mc_samples": 3}))
    assert cfg.evaluation.mc_samples == 3


# --------------------------------------------------------------------------- the MC model


def test_mc_dropout_model_shares_weights_and_keeps_batch_norm_in_inference_mode() -> None:
    from mlrun.model import keras, mc_dropout_model

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(16)(inputs)
    bn = keras.layers.BatchNormalization()
    h = keras.layers.Dropout(0.5)(bn(h))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    moving = keras.ops.convert_to_numpy(bn.moving_mean).copy()

    mc = mc_dropout_model(model)
    a, b = mc.predict(x, verbose=0), mc.predict(x, verbose=0)
    assert not np.allclose(a, b)  # dropout is on: every pass differs
    assert np.allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))  # the original is untouched
    assert np.array_equal(keras.ops.convert_to_numpy(bn.moving_mean), moving)  # no batch statistics learned
    assert all(any(w is v for v in model.weights) for w in mc.weights)  # the same variables, not copies
    assert np.allclose(a.sum(axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_mc_dropout_run_writes_predictive_std_and_ece(runs_dir: Path) -> None:
    from mlrun.runner import run_experiment

    model = {"architecture": "mlp", "hidden_units": [32], "dropout": 0.3, "batch_normalization": True}
    cfg = validate_config(
        digits_config(model=model, evaluation={"mc_samples": 8}, training={"epochs": 4, "batch_size": 64})
    )
    result = run_experiment(cfg, runs_dir)
    metrics = json.loads((result.run_dir / store.METRICS_FILE).read_text())
    assert metrics["mc_samples"] == 8 and 0 <= metrics["ece"] <= 1 and metrics["mean_predictive_std"] > 0

    with open(result.run_dir / store.PREDICTIONS_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    classes = [str(c) for c in range(10)]
    assert list(rows[0]) == ["y_true", "y_pred", *(f"p_{c}" for c in classes), *(f"std_{c}" for c in classes)]
    proba = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])
    std = np.array([[float(r[f"std_{c}"]) for c in classes] for r in rows])
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5) and (std >= 0).all() and std.max() > 0
    # Metrics are computed from the predictive mean: accuracy agrees with the CSV's probabilities.
    truth = np.array([classes.index(r["y_true"]) for r in rows])
    assert metrics["accuracy"] == pytest.approx(float((proba.argmax(axis=1) == truth).mean()))
    assert metrics["ece"] == pytest.approx(expected_calibration_error(truth, proba)[0])
    bins = store.read_csv(result.run_dir / store.CALIBRATION_FILE)
    assert sum(int(b["count"]) for b in bins) == metrics["n_test"]

    # `mlrun predict` on such a run predicts the same way: the mean of 8 passes, with std columns.
    from mlrun.data import load_dataset
    from mlrun.predict import predict_run

    raw = load_dataset(cfg.dataset.model_copy(update={"scale": "none"}), seed=cfg.seed)
    np.savez(runs_dir / "x.npz", x=raw.x_test[:20])
    predicted = store.read_csv(predict_run(result.run_dir, runs_dir / "x.npz").output)
    assert len(predicted) == 20 and list(predicted[0])[-10:] == [f"std_{c}" for c in classes]
    agree = np.mean([p["y_pred"] == r["y_pred"] for p, r in zip(predicted, rows)])
    assert agree >= 0.8  # other dropout masks, mostly the same labels

    from mlrun.report.page import run_page
    from mlrun.report.rundata import load_run
    from mlrun.report.summary import evaluation_metrics, key_values

    run = load_run(result.run_dir)
    shown = dict(evaluation_metrics(run))
    assert shown["ece"] == pytest.approx(metrics["ece"]) and shown["mean_predictive_std"] > 0
    assert ("MC dropout", "8 samples per test prediction") in key_values(run)
    assert 'id="calibration"' in run_page(run)
