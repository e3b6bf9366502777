"""`mlrun predict`: a run's model and preprocessing applied to new NPZ, CSV and image inputs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from mlrun import store
from mlrun.cli import app
from mlrun.config import DatasetConfig, validate_config
from mlrun.data import load_dataset
from mlrun.errors import DataError, RunError
from mlrun.predict import predict_run

pytestmark = pytest.mark.slow

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A trained run on a CSV with named features and text labels; and its raw (unscaled) test inputs."""
    from sklearn.datasets import load_iris

    from mlrun.runner import run_experiment

    base = tmp_path_factory.mktemp("iris")
    iris = load_iris()
    names = np.array(iris.target_names)[iris.target]
    write_csv(base / "iris.csv", [*FEATURES, "species"], [[*map(float, x), n] for x, n in zip(iris.data, names)])
    cfg = validate_config(
        {
            "name": "iris_predict",
            "seed": 3,
            "dataset": {"path": str(base / "iris.csv"), "label": "species", "scale": "standard"},
            "model": {"architecture": "mlp", "hidden_units": [16]},
            "loss": "sparse_categorical_crossentropy",
            "optimizer": {"name": "adam", "learning_rate": 0.02},
            "training": {"epochs": 5, "batch_size": 16},
        }
    )
    result = run_experiment(cfg, base / "runs")
    raw = load_dataset(cfg.dataset.model_copy(update={"scale": "none"}), seed=cfg.seed)  # the same split, unscaled
    return result.run_dir, raw.x_test


def test_predict_from_csv_reproduces_the_runs_predictions(iris_run, tmp_path: Path) -> None:
    run, x_test = iris_run
    # Columns in another order, and the label column present: it is ignored.
    order = [3, 0, 2, 1]
    path = write_csv(
        tmp_path / "new.csv",
        ["species", *(FEATURES[i] for i in order)],
        [["?", *(float(v) for v in row[order])] for row in x_test],
    )
    result = predict_run(run, path, tmp_path / "out.csv")
    assert result.n == len(x_test) and result.output == tmp_path / "out.csv"
    got, expected = read_rows(result.output), read_rows(run / store.PREDICTIONS_FILE)
    classes = ["setosa", "versicolor", "virginica"]
    assert list(got[0]) == ["y_pred", *(f"p_{c}" for c in classes)]
    assert [r["y_pred"] for r in got] == [r["y_pred"] for r in expected]  # original label values
    for g, e in zip(got, expected):
        assert [float(g[f"p_{c}"]) for c in classes] == pytest.approx([float(e[f"p_{c}"]) for c in classes], abs=1e-5)


def test_predict_from_npz_and_a_single_sample(iris_run, tmp_path: Path) -> None:
    run, x_test = iris_run
    np.savez(tmp_path / "x.npz", x=x_test)
    result = predict_run(run, tmp_path / "x.npz")
    assert result.output == run / "predictions-x.csv"  # default: beside the run's own predictions
    assert [r["y_pred"] for r in read_rows(result.output)] == [
        r["y_pred"] for r in read_rows(run / store.PREDICTIONS_FILE)
    ]
    np.savez(tmp_path / "one.npz", x_test[0])  # no name: the first array; no batch axis: one sample
    assert predict_run(run, tmp_path / "one.npz", tmp_path / "one.csv").n == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["sepal_length", "sepal_width", "petal_length"], r"missing columns \['petal_width'\]"),
        ([*FEATURES, "colour"], r"unexpected columns \['colour'\]"),
        (
            ["sepal_length", "sepal_width", "petal_length", "petal_wdth"],
            r"missing columns \['petal_width'\]; unexpected columns \['petal_wdth'\]",
        ),
    ],
)
def test_csv_columns_that_do_not_match_training_are_listed(
    iris_run, tmp_path: Path, header: list[str], message: str
) -> None:
    run, _ = iris_run
    path = write_csv(tmp_path / "bad.csv", header, [[1.0] * len(header)])
    with pytest.raises(DataError, match=message + r".*It needs the feature columns"):
        predict_run(run, path, tmp_path / "out.csv")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((5, 3)), r"takes inputs of shape \(n, 4\) but got \(5, 3\)"),
        (np.zeros((5, 2, 2)), r"but got \(5, 2, 2\); the sizes match: reshape with x.reshape\(-1, 4\)"),
        (np.array([["a", "b", "c", "d"]]), "inputs must be numeric"),
        (np.full((2, 4), np.nan), "NaN or infinite"),
    ],
)
def test_inputs_of_the_wrong_shape_or_kind_are_data_errors(
    iris_run, tmp_path: Path, array: np.ndarray, message: str
) -> None:
    run, _ = iris_run
    np.savez(tmp_path / "bad.npz", x=array)
    with pytest.raises(DataError, match=message):
        predict_run(run, tmp_path / "bad.npz", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_cli_predict(iris_run, tmp_path: Path, cli) -> None:
    run, x_test = iris_run
    np.savez(tmp_path / "x.npz", x=x_test[:7])
    out = tmp_path / "p.csv"
    result = cli.invoke(
        app, ["predict", run.name, str(tmp_path / "x.npz"), "--output", str(out), "--runs-dir", str(run.parent)]
    )
    assert result.exit_code == 0, result.output
    assert "7 predictions" in result.output and len(read_rows(out)) == 7

    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 5)))
    result = cli.invoke(app, ["predict", run.name, str(tmp_path / "bad.npz"), "--runs-dir", str(run.parent)])
    assert result.exit_code == 1
    assert "takes inputs of shape (n, 4) but got (3, 5)" in result.output and "Traceback" not in result.output
    result = cli.invoke(app, ["predict", "nosuchrun", str(tmp_path / "x.npz"), "--runs-dir", str(run.parent)])
    assert result.exit_code == 2 and "no run matches 'nosuchrun'" in result.output


def test_a_run_without_a_model_cannot_predict(iris_run, tmp_path: Path) -> None:
    run, _ = iris_run
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / store.PREPROCESSING_FILE).write_text((run / store.PREPROCESSING_FILE).read_text())
    with pytest.raises(RunError, match="has no model.keras: the run did not complete"):
        predict_run(broken, tmp_path / "x.npz")


def test_predict_from_image_files(tmp_path: Path, runs_dir: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    from mlrun.runner import run_experiment

    digits = load_digits()
    images = (digits.images * 255 / 16).round().astype(np.uint8)  # 8x8 grayscale, like a tiny MNIST
    n = 600
    np.savez(
        tmp_path / "tiny.npz",
        x_train=images[:n],
        y_train=digits.target[:n],
        x_test=images[n : n + 40],
        y_test=digits.target[n : n + 40],
    )
    cfg = validate_config(
        {
            "name": "tiny_images",
            "seed": 0,
            "dataset": {"path": str(tmp_path / "tiny.npz"), "scale": 255, "validation_split": 0},
            "model": {"architecture": "mlp", "hidden_units": [32]},
            "loss": "sparse_categorical_crossentropy",
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "training": {"epochs": 3, "batch_size": 32},
        }
    )
    run = run_experiment(cfg, runs_dir).run_dir
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(images[n + i]).save(folder / f"digit_{i:02d}.png")
    result = predict_run(run, folder, tmp_path / "out.csv")
    rows = read_rows(result.output)
    assert [r["file"] for r in rows] == [f"digit_{i:02d}.png" for i in range(12)]
    assert [r["y_pred"] for r in rows] == [r["y_pred"] for r in read_rows(run / store.PREDICTIONS_FILE)[:12]]
    assert predict_run(run, folder / "digit_03.png", tmp_path / "one.csv").n == 1

    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(DataError, match=r"big.png is 12x10 pixels but the model takes 8x8 images: resize it first"):
        predict_run(run, tmp_path / "big.png", tmp_path / "out.csv")


def test_image_inputs_for_a_tabular_run_are_an_error(iris_run, tmp_path: Path) -> None:
    from PIL import Image

    run, _ = iris_run
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "x.png")
    with pytest.raises(DataError, match=r"takes inputs of shape \(4,\), not images: give an NPZ or CSV file"):
        predict_run(run, tmp_path / "x.png")


def test_predict_replays_cleaning_on_raw_csv_rows(tmp_path: Path, runs_dir: Path) -> None:
    from mlrun.runner import run_experiment
    from tests.test_cleaner import HEADER, raw_rows
    from tests.test_cleaner import write as write_rows

    rows = raw_rows(80)
    cleaning = {"drop_columns": ["id"], "dtypes": {"income": "float"}, "missing": "mean", "one_hot": ["city"]}
    dataset = {"path": str(write_rows(tmp_path / "customers.csv", rows)), "label": "churned", "scale": "standard"}
    cfg = validate_config(
        {
            "name": "cleaned_predict",
            "seed": 2,
            "dataset": {**dataset, "cleaning": cleaning},
            "model": {"architecture": "mlp", "hidden_units": [8]},
            "loss": "binary_crossentropy",
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "training": {"epochs": 2, "batch_size": 16},
        }
    )
    run = run_experiment(cfg, runs_dir).run_dir
    # The same splits with `id` kept as an unscaled feature say which CSV rows the test set holds, in order.
    kept_id = DatasetConfig(**{**dataset, "scale": "none", "cleaning": {**cleaning, "drop_columns": []}})
    kept = load_dataset(kept_id, seed=2)
    test = [rows[int(i)] for i in kept.x_test[:, 0]]
    assert any(not r[1] for r in test)  # a missing age, filled with the training rows' mean
    path = write_csv(tmp_path / "raw.csv", HEADER[:-1], [r[:-1] for r in test])  # raw rows, no label
    result = predict_run(run, path, tmp_path / "out.csv")
    got, expected = read_rows(result.output), read_rows(run / store.PREDICTIONS_FILE)
    assert result.n == len(expected) == len(test) and "cleaned as the run's training rows" in result.source
    assert [r["y_pred"] for r in got] == [r["y_pred"] for r in expected]
    for g, e in zip(got, expected):
        assert [float(g[c]) for c in ("p_no", "p_yes")] == pytest.approx(
            [float(e[c]) for c in ("p_no", "p_yes")], abs=1e-6
        )
