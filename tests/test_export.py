"""`mlrun export`: ONNX, SavedModel and LiteRT models that take raw inputs and reproduce predictions.csv.

The slow tests train small real models (1-2 epochs) once per module and check every format with its
own runtime (onnxruntime, TensorFlow, the LiteRT interpreter) against the run's predictions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlrun import store
from mlrun.cli import app
from tests.conftest import ROOT, digits_config
from tests.runfactory import make_run

FORMATS = ("onnx", "saved_model", "litert")
CNN = {
    "architecture": "cnn",
    "layers": [
        {"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "relu", "padding": "same"},
        {"type": "max_pooling2d", "pool_size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 16, "activation": "relu"},
    ],
}
DIABETES = {
    "name": "diabetes_mlp",
    "seed": 1,
    "dataset": {"name": "diabetes", "scale": "standard", "validation_split": 0.2},
    "model": {"architecture": "mlp", "hidden_units": [16]},
    "loss": "mse",
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "training": {"epochs": 2, "batch_size": 32},
    "metrics": ["mae"],
}
CONFIGS = {
    "digits_mlp": digits_config(training={"epochs": 2, "batch_size": 64}),
    "digits_cnn": digits_config(name="digits_cnn", model=CNN, training={"epochs": 1, "batch_size": 64}),
    "diabetes": DIABETES,
    "gaussian_ensemble": {
        **DIABETES,
        "name": "diabetes_gaussian_ensemble",
        "loss": "gaussian_beta_nll",
        "training": {"epochs": 2, "batch_size": 32, "ensemble": 3},
    },
    "breast_cancer": {
        "name": "breast_cancer_binary",
        "seed": 1,
        "dataset": {"name": "breast_cancer", "scale": "minmax", "validation_split": 0.2},
        "model": {"architecture": "mlp", "hidden_units": [8]},
        "loss": "binary_crossentropy",
        "training": {"epochs": 1, "batch_size": 32},
        "metrics": ["accuracy"],
    },
    "ensemble": digits_config(name="digits_ensemble", training={"epochs": 1, "batch_size": 64, "ensemble": 2}),
    "mc_dropout": digits_config(
        name="digits_mc",
        model={"architecture": "mlp", "hidden_units": [32], "dropout": 0.3},
        training={"epochs": 1, "batch_size": 64},
        evaluation={"mc_samples": 3},
    ),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """Train a config of :data:`CONFIGS` once per module; return its run directory."""
    from typer.testing import CliRunner

    from mlrun.backend import import_keras, loaded_backend

    if loaded_backend() is None:
        # Export runs Keras on TensorFlow, in this process when nothing else is loaded here; the tests that
        # monkeypatch it need that path. Without this, the first training (backend auto) would load JAX.
        import_keras("tensorflow")

    root = tmp_path_factory.mktemp("export")
    done: dict[str, Path] = {}

    def train(name: str) -> Path:
        if name not in done:
            config = root / f"{name}.yaml"
            config.write_text(yaml.safe_dump(CONFIGS[name], sort_keys=False))
            result = CliRunner().invoke(app, ["train", str(config), "--runs-dir", str(root / name), "--quiet"])
            assert result.exit_code == 0, result.output
            done[name] = next((root / name).iterdir())
        return done[name]

    return train


def _predictions(run_dir: Path, columns: list[str]) -> np.ndarray:
    rows = store.read_csv(run_dir / store.PREDICTIONS_FILE)
    return np.array([[float(r[c]) for c in columns] for r in rows])


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "diabetes"])
def test_export_reproduces_predictions_with_its_own_runtime(cli, trained, tmp_path: Path, name: str, fmt: str) -> None:
    run_dir = trained(name)
    output = tmp_path / {"onnx": "m.onnx", "saved_model": "m_saved", "litert": "m.tflite"}[fmt]
    result = cli.invoke(app, ["export", str(run_dir), "--format", fmt, "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "largest absolute difference from predictions.csv" in result.output
    sidecar = json.loads((output.parent / f"{output.name}.json").read_text())
    assert sidecar["format"] == fmt and sidecar["verified"]["max_abs_diff"] <= 1e-4
    assert sidecar["input_shape"] == json.loads((run_dir / store.PREPROCESSING_FILE).read_text())["input_shape"]
    assert output.exists()


@pytest.mark.slow
def test_exported_models_take_raw_inputs(trained, tmp_path: Path) -> None:
    """Raw (unscaled) test inputs through the ONNX model give the run's p_<class> columns; scaled ones do not."""
    import onnxruntime

    from mlrun.export import export_run
    from mlrun.export.reference import reference_inputs
    from mlrun.predict import read_preprocessing

    run_dir = trained("digits_mlp")
    out = export_run(run_dir, "onnx", tmp_path / "digits.onnx")
    sidecar = json.loads(out.sidecar.read_text())
    assert sidecar["classes"] == [str(d) for d in range(10)] and sidecar["scaling_inside"]["scale"] == 16.0
    ref = reference_inputs(run_dir, read_preprocessing(run_dir))
    assert ref.x.max() == 16.0  # raw digits pixels, 0..16
    session = onnxruntime.InferenceSession(str(out.output))
    proba = session.run(None, {session.get_inputs()[0].name: ref.x})[0]
    expected = _predictions(run_dir, sidecar["output_columns"])
    assert np.abs(proba - expected).max() <= 1e-4
    scaled = session.run(None, {session.get_inputs()[0].name: ref.x / 16.0})[0]
    assert np.abs(scaled - expected).max() > 1e-2


@pytest.mark.slow
def test_binary_sigmoid_model_exports_both_class_probabilities(cli, trained, tmp_path: Path) -> None:
    run_dir = trained("breast_cancer")
    output = tmp_path / "bc.onnx"
    result = cli.invoke(app, ["export", str(run_dir), "-f", "onnx", "-o", str(output)])
    assert result.exit_code == 0, result.output
    sidecar = json.loads((tmp_path / "bc.onnx.json").read_text())
    classes = json.loads((run_dir / store.PREPROCESSING_FILE).read_text())["classes"]
    assert len(classes) == 2 and sidecar["classes"] == classes
    assert sidecar["output_columns"] == [f"p_{c}" for c in classes]  # [1 - p, p]: both predictions.csv columns
    assert "[1 - p, p]" in sidecar["output"] and sidecar["verified"]["max_abs_diff"] <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "litert"])
@pytest.mark.parametrize(("name", "members"), [("ensemble", 2), ("gaussian_ensemble", 3)])
def test_a_deep_ensemble_exports_its_members_mean(
    cli, trained, tmp_path: Path, name: str, members: int, fmt: str
) -> None:
    run_dir = trained(name)
    output = tmp_path / {"onnx": "m.onnx", "litert": "m.tflite"}[fmt]
    result = cli.invoke(app, ["export", str(run_dir), "--format", fmt, "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert f"exported the mean of its {members} members" in result.output
    assert ("exported the predicted means" in result.output) == (name == "gaussian_ensemble")
    # verified against predictions.csv, which holds the members' mean: member 0 alone (what model.keras
    # holds) is further from it than the tolerance, so the check fails unless every member is in the graph
    sidecar = json.loads((output.parent / f"{output.name}.json").read_text())
    assert sidecar["verified"]["against"] == "predictions.csv" and sidecar["verified"]["max_abs_diff"] <= 1e-4


@pytest.mark.slow
def test_mc_dropout_run_exports_its_deterministic_model(cli, trained) -> None:
    run_dir = trained("mc_dropout")
    result = cli.invoke(app, ["export", str(run_dir), "--format", "saved_model"])
    assert result.exit_code == 0, result.output
    assert "deterministic mean model" in result.output
    assert "the Keras model's deterministic outputs" in result.output
    assert (run_dir / "export" / "saved_model" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_cleaned_csv_run_exports_the_numeric_model_and_lists_the_cleaning(cli, write_config, tmp_path: Path) -> None:
    from tests.test_cleaner import raw_rows, write

    data = write(tmp_path / "churn.csv", raw_rows(80))
    config = write_config(
        {
            "name": "churn",
            "seed": 1,
            "dataset": {
                "path": str(data),
                "label": "churned",
                "scale": "standard",
                "validation_split": 0.2,
                "cleaning": {"dtypes": {"income": "float"}, "missing": "mean", "one_hot": ["city"]},
            },
            "model": {"architecture": "mlp", "hidden_units": [4]},
            "loss": "binary_crossentropy",
            "training": {"epochs": 1, "batch_size": 16},
        }
    )
    runs = tmp_path / "runs"
    assert cli.invoke(app, ["train", str(config), "--runs-dir", str(runs), "-q"]).exit_code == 0
    result = cli.invoke(app, ["export", "latest", "--format", "saved_model", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    assert "this run cleaned its CSV" in result.output and "one-hot encode city" in result.output
    run_dir = next(runs.iterdir())
    sidecar = json.loads((run_dir / "export" / "saved_model.json").read_text())
    recorded = json.loads((run_dir / store.PREPROCESSING_FILE).read_text())["cleaning"]
    assert sidecar["features"] == recorded["features"] and {"city=Berlin", "city=Rome"} <= set(sidecar["features"])
    assert sidecar["cleaning"]["one_hot"] == {"city": ["Berlin", "Paris", "Rome"]}


@pytest.mark.slow
def test_a_layer_the_converter_refuses_is_named(cli, trained, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlrun.backend import import_keras

    keras = import_keras()
    run_dir = trained("digits_mlp")

    def refuse(self, filepath, format="tf_saved_model", **kwargs):
        raise ValueError("Unsupported op in layer 'output' of the functional model")

    monkeypatch.setattr(keras.Model, "export", refuse)
    result = cli.invoke(app, ["export", str(run_dir), "--format", "onnx", "-o", str(run_dir / "x.onnx")])
    assert result.exit_code == 1
    assert "layer 'output' (Dense) cannot be exported to onnx" in result.output
    assert not (run_dir / "x.onnx").exists() and not (run_dir / "x.onnx.json").exists()


def test_missing_extra_names_the_extra(cli, runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = make_run(runs_dir, "multiclass")
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if not installed
    result = cli.invoke(app, ["export", str(run_dir), "--format", "onnx"])
    assert result.exit_code == 1
    assert "needs tf2onnx" in result.output and "pip install 'mlrun[export]'" in result.output


@pytest.mark.parametrize(
    ("fmt", "name", "message"),
    [
        ("litert", "model.onnx", "must end in .tflite"),
        ("saved_model", "model.onnx", "a SavedModel is a directory"),
    ],
)
def test_output_that_does_not_suit_the_format_is_refused(
    cli, runs_dir: Path, tmp_path: Path, fmt: str, name: str, message: str
) -> None:
    run_dir = make_run(runs_dir, "multiclass")
    (tmp_path / name).write_text("x")
    result = cli.invoke(app, ["export", str(run_dir), "--format", fmt, "--output", str(tmp_path / name)])
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_format_is_a_usage_error(cli, runs_dir: Path) -> None:
    run_dir = make_run(runs_dir, "multiclass")
    result = cli.invoke(app, ["export", str(run_dir), "--format", "tflite"])
    assert result.exit_code == 2
    assert "tflite" in result.output


def test_import_of_export_loads_no_tensorflow() -> None:
    code = "import mlrun.export, sys; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
