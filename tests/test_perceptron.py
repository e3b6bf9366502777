"""Single-unit models of the lecture: Rosenblatt's perceptron on logic gates, and linear regression."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlrun import store
from mlrun.artifacts import load_run_model
from mlrun.config import validate_config
from mlrun.errors import ConfigError
from mlrun.runner import run_experiment

TRUTH_TABLE = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
GATES = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "nand": [1, 1, 1, 0], "xor": [0, 1, 1, 0]}


def gate_npz(tmp_path: Path, gate: str, repeat: int = 1) -> Path:
    """The gate's truth table (repeated ``repeat`` times) to train on, and once to test on."""
    y = np.array(GATES[gate])
    path = tmp_path / f"{gate}.npz"
    np.savez(path, x_train=np.tile(TRUTH_TABLE, (repeat, 1)), y_train=np.tile(y, repeat), x_test=TRUTH_TABLE, y_test=y)
    return path


def perceptron_config(path: Path, **changes) -> dict:
    cfg = {
        "name": f"perceptron_{path.stem}",
        "seed": 0,
        "dataset": {"path": str(path), "validation_split": 0},
        "model": {"architecture": "perceptron"},
        "training": {"epochs": 12, "shuffle": False},
    }
    cfg.update(changes)
    return cfg


def rosenblatt(x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 1.0) -> tuple[np.ndarray, float]:
    """The rule as written in the lecture, in numpy: w += lr * (y - step(w·x + b)) * x, per sample."""
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(epochs):
        for xi, yi in zip(x, y):
            error = yi - (1.0 if xi @ w + b >= 0 else 0.0)
            w, b = w + lr * error * xi, b + lr * error
    return w, b


@pytest.mark.slow
@pytest.mark.parametrize("gate", ["and", "or", "nand"])
def test_perceptron_learns_linearly_separable_gates_exactly(tmp_path: Path, runs_dir: Path, gate: str) -> None:
    cfg = validate_config(perceptron_config(gate_npz(tmp_path, gate)))
    result = run_experiment(cfg, runs_dir)
    assert result.status == "completed"
    assert result.metrics["accuracy"] == 1.0
    run = result.run_dir

    # Every update is Rosenblatt's rule: the same weights as the numpy loop over the same sample order.
    weights = json.loads((run / store.WEIGHTS_FILE).read_text())
    w, b = rosenblatt(TRUTH_TABLE, np.array(GATES[gate], dtype=float), epochs=12)
    assert weights["weights"] == pytest.approx(w.tolist()) and weights["bias"] == pytest.approx(b)
    assert weights["threshold"] == pytest.approx(-b) and weights["features"] == ["x1", "x2"]
    assert weights["activation"] == "step" and weights["outputs"] == ["1"]

    # The run directory is complete; history has a loss (fraction misclassified) and accuracy per epoch.
    history = store.read_csv(run / store.HISTORY_FILE)
    assert [int(r["epoch"]) for r in history] == list(range(1, 13))
    assert all(float(r["loss"]) == pytest.approx(1.0 - float(r["accuracy"])) for r in history)
    assert float(history[-1]["loss"]) == 0.0
    for name in (store.METRICS_FILE, store.PREDICTIONS_FILE, store.CONFUSION_FILE, store.CONFIG_FILE, store.RUN_FILE):
        assert (run / name).is_file(), name
    resolved = yaml.safe_load((run / store.CONFIG_FILE).read_text())
    assert (
        resolved["loss"] == "mse" and resolved["optimizer"]["name"] == "sgd" and resolved["training"]["batch_size"] == 1
    )

    # The saved model loads in safe mode and outputs the gate's 0/1 values.
    model = load_run_model(run)
    out = model.predict(TRUTH_TABLE, verbose=0).ravel()
    assert out.tolist() == [float(v) for v in GATES[gate]]

    # `mlrun report` shows the weights, bias and threshold.
    from rich.console import Console

    from mlrun.report.page import run_page
    from mlrun.report.rundata import load_run
    from mlrun.report.terminal import print_report

    console = Console(record=True, width=120)
    print_report(console, load_run(run))
    text = console.export_text()
    assert "Learned weights" in text and "threshold (= -bias)" in text and "x2" in text
    assert 'id="weights"' in run_page(load_run(run))


@pytest.mark.slow
def test_perceptron_cannot_learn_xor_but_a_two_layer_mlp_can(tmp_path: Path, runs_dir: Path) -> None:
    perceptron = run_experiment(validate_config(perceptron_config(gate_npz(tmp_path, "xor"))), runs_dir)
    # No line separates XOR: at most 3 of the 4 rows can be right.
    assert perceptron.metrics["accuracy"] <= 0.75
    history = store.read_csv(perceptron.run_dir / store.HISTORY_FILE)
    assert all(float(r["loss"]) > 0 for r in history)  # never an epoch without mistakes

    mlp = validate_config(
        {
            "name": "xor_mlp",
            "seed": 1,
            "dataset": {"path": str(gate_npz(tmp_path, "xor", repeat=16)), "validation_split": 0},
            "model": {"architecture": "mlp", "hidden_units": [8], "activation": "tanh"},
            "loss": "binary_crossentropy",
            "optimizer": {"name": "adam", "learning_rate": 0.05},
            "training": {"epochs": 15, "batch_size": 4},
        }
    )
    assert run_experiment(mlp, runs_dir).metrics["accuracy"] == 1.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"loss": "binary_crossentropy"},
            r"loss: 'binary_crossentropy' does not apply to a perceptron.*leave `loss` out",
        ),
        (
            {"optimizer": {"name": "adam"}},
            r"optimizer: a perceptron learns by Rosenblatt's rule, which is plain SGD \(got adam\)",
        ),
        ({"optimizer": {"name": "sgd", "momentum": 0.9}}, r"plain SGD \(got sgd with momentum 0.9\)"),
        ({"task": "multiclass"}, r"a perceptron is a binary classifier.*use architecture: mlp"),
        ({"evaluation": {"mc_samples": 10}}, r"evaluation.mc_samples: 10 samples of Monte Carlo dropout need dropout"),
    ],
)
def test_perceptron_config_errors_name_the_key_and_the_fix(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_config(perceptron_config(gate_npz(tmp_path, "and"), **changes))


def test_perceptron_on_multiclass_data_is_a_config_error(runs_dir: Path) -> None:
    cfg = validate_config({"name": "p", "dataset": {"name": "iris"}, "model": {"architecture": "perceptron"}})
    with pytest.raises(ConfigError, match="a perceptron is a binary classifier .* this is a multiclass task"):
        run_experiment(cfg, runs_dir)
    assert not runs_dir.exists() or not any(runs_dir.iterdir())  # nothing written


@pytest.mark.slow
@pytest.mark.parametrize("model", [{"architecture": "linear"}, {"architecture": "mlp", "hidden_units": []}])
def test_linear_regression_recovers_the_coefficients(tmp_path: Path, runs_dir: Path, model: dict) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(200, 3)).astype(np.float32)
    y = (x @ np.array([3.0, -2.0, 0.5]) + 1.5).astype(np.float32)  # noiseless
    np.savez(tmp_path / "line.npz", x=x, y=y)
    cfg = validate_config(
        {
            "name": "linear_regression",
            "task": "regression",
            "dataset": {"path": str(tmp_path / "line.npz"), "validation_split": 0},
            "model": model,
            "loss": "mse",
            "optimizer": {"name": "sgd", "learning_rate": 0.2},
            "training": {"epochs": 12, "batch_size": 8},
            "metrics": ["mae"],
        }
    )
    result = run_experiment(cfg, runs_dir)
    assert result.metrics["r2"] > 0.999
    weights = json.loads((result.run_dir / store.WEIGHTS_FILE).read_text())
    assert weights["activation"] == "linear" and weights["outputs"] == ["target"]
    assert weights["weights"] == pytest.approx([3.0, -2.0, 0.5], abs=0.02)
    assert weights["bias"] == pytest.approx(1.5, abs=0.02)


@pytest.mark.slow
def test_models_with_hidden_layers_write_no_weights_file(runs_dir: Path) -> None:
    from tests.conftest import digits_config

    result = run_experiment(validate_config(digits_config(training={"epochs": 1, "batch_size": 64})), runs_dir)
    assert not (result.run_dir / store.WEIGHTS_FILE).exists()
