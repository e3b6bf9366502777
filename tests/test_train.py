"""End-to-end `mlrun train` on small real data: every file of the run directory, checked against sklearn."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn import metrics as skm

from mlrun import store
from mlrun.cli import app
from mlrun.config import load_config
from mlrun.runner import RunResult, run_experiment
from tests.conftest import CONFIGS, digits_config, requires_mnist

pytestmark = pytest.mark.slow

RUN_FILES = {
    "config.yaml",
    "run.json",
    "history.csv",
    "metrics.json",
    "confusion_matrix.csv",
    "roc_curve.csv",
    "pr_curve.csv",
    "predictions.csv",
    "model.keras",
    "summary.txt",
    "preprocessing.json",
}


def only_run(runs_dir: Path) -> Path:
    runs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def read_predictions(run: Path) -> tuple[list[str], list[list[str]]]:
    with open(run / "predictions.csv", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_digits_end_to_end_writes_every_file(cli, write_config, runs_dir: Path) -> None:
    cfg = write_config(digits_config(training={"epochs": 15, "batch_size": 32}))
    result = cli.invoke(app, ["train", str(cfg), "--runs-dir", str(runs_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    run = only_run(runs_dir)
    assert f"run {run.name}: completed, test accuracy" in result.output
    assert {p.name for p in run.iterdir()} >= RUN_FILES
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporary files left

    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "completed" and info["id"] == run.name and info["epochs_completed"] == 15
    assert {"python", "tensorflow", "keras", "numpy", "scikit-learn", "mlrun"} <= set(info["versions"])
    assert info["dataset"]["fingerprint"] and info["ended_at"] and info["duration_s"] > 0
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["task"] == "multiclass" and resolved["training"]["shuffle"] is True  # defaults filled in

    history = store.read_csv(run / "history.csv")
    assert [int(r["epoch"]) for r in history] == list(range(1, 16))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history[0])
    assert float(history[-1]["loss"]) < float(history[0]["loss"])

    # every number in metrics.json recomputed with sklearn from predictions.csv
    m = json.loads((run / "metrics.json").read_text())
    header, rows = read_predictions(run)
    classes = [h[2:] for h in header[2:]]
    y_true = np.array([classes.index(r[0]) for r in rows])
    y_pred = np.array([classes.index(r[1]) for r in rows])
    proba = np.array([[float(v) for v in r[2:]] for r in rows])
    assert len(rows) == m["n_test"] == info["dataset"]["n_test"]
    assert (proba.argmax(1) == y_pred).all()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert m["accuracy"] > 0.85
    assert m["precision_macro"] == pytest.approx(skm.precision_score(y_true, y_pred, average="macro", zero_division=0))
    assert m["recall_macro"] == pytest.approx(skm.recall_score(y_true, y_pred, average="macro", zero_division=0))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    norm = proba / proba.sum(axis=1, keepdims=True)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, norm, multi_class="ovr", average="macro"), abs=1e-6)
    assert m["roc_auc_micro"] == pytest.approx(skm.roc_auc_score(np.eye(10)[y_true], proba, average="micro"), abs=1e-6)
    assert m["average_precision"] == pytest.approx(
        skm.average_precision_score(np.eye(10)[y_true], proba, average="macro"), abs=1e-6
    )
    for i, c in enumerate(classes):
        assert m["per_class"][c]["support"] == int((y_true == i).sum())
    cm = np.array([[int(v) for v in r[1:]] for r in store_rows(run / "confusion_matrix.csv")])
    assert (cm == skm.confusion_matrix(y_true, y_pred)).all() and cm.sum() == len(rows)

    # the saved model reproduces the predictions (loaded in safe mode)
    from mlrun.artifacts import load_run_model

    model = load_run_model(run)
    from mlrun.data import Preprocessing, load_dataset

    assert json.loads((run / "preprocessing.json").read_text())["classes"] == classes
    ds = load_dataset(load_config(run / "config.yaml").dataset, seed=1)
    assert np.allclose(model.predict(ds.x_test, verbose=0), proba, atol=1e-5)
    assert Preprocessing.from_dict(json.loads((run / "preprocessing.json").read_text())["scaling"]).kind == "divide"


def train(write_config, runs_dir: Path, **changes) -> RunResult:
    """Train the small digits config with ``changes`` to its top-level blocks."""
    return run_experiment(load_config(write_config(digits_config(**changes))), runs_dir)


def store_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))[1:]


def test_binary_breast_cancer_sigmoid(runs_dir: Path, write_config) -> None:
    result = train(
        write_config,
        runs_dir,
        dataset={"name": "breast_cancer", "scale": "standard"},
        loss="binary_crossentropy",
        metrics=["accuracy", "auc"],
        training={"epochs": 10, "batch_size": 32},
    )
    m = result.metrics
    assert m["task"] == "binary" and m["roc_auc"] > 0.95
    header, rows = read_predictions(result.run_dir)
    assert header == ["y_true", "y_pred", "p_malignant", "p_benign"]
    y = np.array([r[0] == "benign" for r in rows], dtype=int)
    p = np.array([float(r[3]) for r in rows])
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-6)
    assert {r["class"] for r in store.read_csv(result.run_dir / "roc_curve.csv")} == {"benign"}
    assert "val_auc" in store.read_csv(result.run_dir / "history.csv")[0]


def test_multilabel_from_npz(tmp_path: Path, runs_dir: Path, write_config) -> None:
    from sklearn.datasets import make_multilabel_classification

    x, y = make_multilabel_classification(n_samples=300, n_features=10, n_classes=3, random_state=0)
    np.savez(tmp_path / "ml.npz", x=x, y=y)
    result = train(
        write_config,
        runs_dir,
        dataset={"path": str(tmp_path / "ml.npz"), "scale": "standard"},
        loss="binary_crossentropy",
        training={"epochs": 10, "batch_size": 32},
    )
    assert result.metrics["task"] == "multilabel" and result.metrics["roc_auc"] > 0.7
    header, _ = read_predictions(result.run_dir)
    assert header == ["y_true_0", "y_true_1", "y_true_2", "p_0", "p_1", "p_2"]
    assert store.read_csv(result.run_dir / "confusion_matrix.csv")[0].keys() == {"label", "tn", "fp", "fn", "tp"}


def test_regression_diabetes(runs_dir: Path, write_config) -> None:
    result = train(
        write_config,
        runs_dir,
        dataset={"name": "diabetes", "scale": "standard"},
        loss="mse",
        metrics=["mae"],
        model={"architecture": "mlp", "hidden_units": [16]},
        optimizer={"name": "adam", "learning_rate": 0.05},
        training={"epochs": 30, "batch_size": 32},
    )
    m = result.metrics
    assert result.headline[0] == "r2" and m["r2"] > 0.2
    _, rows = read_predictions(result.run_dir)
    y, p = np.array([[float(v) for v in r] for r in rows]).T
    assert m["mse"] == pytest.approx(skm.mean_squared_error(y, p), rel=1e-5)
    assert m["loss"] == pytest.approx(m["mse"], rel=1e-3)
    assert not (result.run_dir / "confusion_matrix.csv").exists()


def test_cnn_early_stopping_schedule_and_class_weight(runs_dir: Path, write_config) -> None:
    result = train(
        write_config,
        runs_dir,
        model={
            "architecture": "cnn",
            "layers": [
                {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"},
                {"type": "max_pooling2d"},
                {"type": "flatten"},
                {"type": "dropout", "rate": 0.2},
            ],
        },
        optimizer={
            "name": "sgd",
            "learning_rate": 0.05,
            "momentum": 0.9,
            "schedule": {"type": "reduce_on_plateau", "patience": 1},
        },
        training={
            "epochs": 40,
            "batch_size": 32,
            "class_weight": "balanced",
            "early_stopping": {"monitor": "val_loss", "patience": 2, "min_delta": 0.01},
        },
    )
    info = store.read_run_info(result.run_dir)
    assert result.metrics["accuracy"] > 0.85
    assert info["epochs_completed"] < 40 and 1 <= info["best_epoch"] <= info["epochs_completed"]
    history = store.read_csv(result.run_dir / "history.csv")
    lrs = [float(h["learning_rate"]) for h in history]
    assert lrs[0] == pytest.approx(0.05) and min(lrs) < 0.05  # reduced on plateau


def test_set_override_reaches_the_run(cli, write_config, runs_dir: Path) -> None:
    cfg = write_config(digits_config())
    result = cli.invoke(
        app, ["train", str(cfg), "--quiet", "--set", "training.epochs=2", "--set", "model.hidden_units=[7]"]
    )
    assert result.exit_code == 0, result.output
    run = only_run(runs_dir)  # MLRUN_RUNS_DIR points here
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["training"]["epochs"] == 2 and resolved["model"]["hidden_units"] == [7]
    assert len(store.read_csv(run / "history.csv")) == 2


@pytest.mark.parametrize(
    "changes, sets, match",
    [
        (
            {"optimizer": {"name": "adam", "learning_rate": -1}},
            [],
            r"line \d+  optimizer\.learning_rate: must be greater than 0",
        ),
        (
            {"model": {"architecture": "mlp", "hidden_units": [4], "activaton": "relu"}},
            [],
            r"line \d+  model\.activaton: unknown key \(did you mean 'activation'\?\)",
        ),
        ({}, ["training.epochs=0"], r"--set training\.epochs  training\.epochs: must be greater than or equal to 1"),
        (
            {
                "model": {
                    "architecture": "cnn",
                    "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 20}, {"type": "flatten"}],
                }
            },
            [],
            r"line \d+: model\.layers\.0\.kernel_size: 20 is larger than the layer's input \(8x8, shape \(8, 8, 1\)\); use a kernel_size of at most 8, or padding: same",
        ),
        ({"loss": "binary_crossentropy"}, [], r"loss: 'binary_crossentropy' does not fit a multiclass task"),
    ],
)
def test_bad_config_exits_2_with_no_traceback_and_no_run_dir(
    cli, write_config, runs_dir: Path, changes, sets, match
) -> None:
    cfg = write_config(digits_config(**changes))
    args = ["train", str(cfg), "--quiet"] + [a for s in sets for a in ("--set", s)]
    result = cli.invoke(app, args)
    assert result.exit_code == 2, result.output
    import re

    assert re.search(match, result.output), result.output
    assert "Traceback" not in result.output
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_data_error_exits_1(cli, write_config, tmp_path: Path, runs_dir: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    cfg = write_config(digits_config(dataset={"path": str(tmp_path / "empty.csv")}))
    result = cli.invoke(app, ["train", str(cfg), "--quiet"])
    assert result.exit_code == 1 and "is empty" in result.output
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_smoke_run_is_tiny_and_marked(cli, runs_dir: Path) -> None:
    result = cli.invoke(app, ["train", str(CONFIGS / "digits_mlp.yaml"), "--smoke", "--quiet"])
    assert result.exit_code == 0, result.output
    run = only_run(runs_dir)
    info = store.read_run_info(run)
    assert info["smoke"] is True and info["epochs_completed"] == 1
    assert info["dataset"]["n_train"] + info["dataset"]["n_val"] <= 200


def test_interrupt_marks_the_run_and_keeps_history(write_config, runs_dir: Path) -> None:
    cfg = load_config(write_config(digits_config(training={"epochs": 10, "batch_size": 64})))

    def stop_at_3(epoch, total, logs):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, runs_dir, on_epoch=stop_at_3)
    run = only_run(runs_dir)
    info = store.read_run_info(run)
    assert info["status"] == "interrupted" and info["ended_at"]
    assert len(store.read_csv(run / "history.csv")) == 3


def test_divergence_stops_and_marks_the_run(cli, write_config, runs_dir: Path) -> None:
    cfg = write_config(
        digits_config(
            dataset={"name": "diabetes"},
            loss="mse",
            metrics=["mae"],
            optimizer={"name": "sgd", "learning_rate": 10.0},
            training={"epochs": 20, "batch_size": 16},
        )
    )
    result = cli.invoke(app, ["train", str(cfg), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "diverged" in result.output and "Lower optimizer.learning_rate" in result.output
    info = store.read_run_info(only_run(runs_dir))
    assert info["status"] == "diverged" and info["epochs_completed"] < 20


def test_validate_prints_summary_and_trains_nothing(cli, runs_dir: Path) -> None:
    result = cli.invoke(app, ["validate", str(CONFIGS / "digits_mlp.yaml")])
    assert result.exit_code == 0, result.output
    assert "valid. multiclass task on sklearn digits" in result.output and "Total params" in result.output
    assert not runs_dir.exists()


def test_runs_lists_runs(cli, write_config, runs_dir: Path) -> None:
    run = run_experiment(load_config(write_config(digits_config(training={"epochs": 1}))), runs_dir)
    result = cli.invoke(app, ["runs"])
    assert result.exit_code == 0, result.output
    assert run.run_id in result.output


def test_help_and_version_do_not_import_tensorflow() -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mlrun.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0 and 'train' in r.output, r.output\n"
        "r = CliRunner().invoke(app, ['runs'])\nassert r.exit_code == 0, r.output\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\nassert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_python_dash_m_mlrun() -> None:
    out = subprocess.run([sys.executable, "-m", "mlrun", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("mlrun ")


@requires_mnist
@pytest.mark.parametrize("name", ["mnist_mlp.yaml", "mnist_cnn.yaml"])
def test_mnist_configs_smoke(cli, runs_dir: Path, name: str) -> None:
    result = cli.invoke(app, ["train", str(CONFIGS / name), "--smoke", "--quiet"])
    assert result.exit_code == 0, result.output
    assert store.read_run_info(only_run(runs_dir))["dataset"]["input_shape"] == [28, 28]


def test_metrics_json_says_when_the_test_set_is_the_training_data_and_which_class_is_positive(runs_dir: Path) -> None:
    from mlrun.config import validate_config

    base = {"model": {"architecture": "linear"}, "loss": "binary_crossentropy", "training": {"epochs": 1}}
    fit = run_experiment(
        validate_config({**base, "name": "fit", "dataset": {"name": "breast_cancer", "test_size": 0}}), runs_dir
    )
    held = run_experiment(
        validate_config({**base, "name": "held", "dataset": {"name": "breast_cancer", "positive_label": "malignant"}}),
        runs_dir,
    )
    fit_m = store.read_json(fit.run_dir / store.METRICS_FILE)
    held_m = store.read_json(held.run_dir / store.METRICS_FILE)
    assert fit_m["test_is_training_data"] is True and "training data" in fit_m["warning"]
    assert fit_m["positive_label"] == "benign" and held_m["positive_label"] == "malignant"
    assert "test_is_training_data" not in held_m and "warning" not in held_m
