"""Dataset loading: built-ins, files, splits, scaling, task inference, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlrun import data as D
from mlrun.config import DatasetConfig
from mlrun.data import sources
from mlrun.errors import ConfigError, DataError
from tests.conftest import requires_mnist


def load(seed: int = 0, task: str | None = None, **kw):
    return D.load_dataset(DatasetConfig(**kw), seed=seed, task=task)


def test_digits_splits_are_disjoint_and_cover_everything() -> None:
    ds = load(name="digits", validation_split=0.25, test_size=0.2)
    assert ds.task == "multiclass" and ds.classes == [str(i) for i in range(10)]
    assert ds.input_shape == (8, 8)
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 1797
    rows = {r.tobytes() for r in np.concatenate([ds.x_train, ds.x_val, ds.x_test])}
    assert len(rows) > 1700  # digits has a few duplicate images, the splits do not add any
    # stratified: every class in every split
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert set(np.unique(y)) == set(range(10))


def test_same_seed_same_data_other_seed_other_split() -> None:
    a, b, c = load(name="iris", seed=3), load(name="iris", seed=3), load(name="iris", seed=4)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


@pytest.mark.parametrize(
    "name, task, n_out",
    [
        ("iris", "multiclass", 3),
        ("wine", "multiclass", 3),
        ("breast_cancer", "binary", 2),
        ("diabetes", "regression", 1),
    ],
)
def test_sklearn_builtins(name: str, task: str, n_out: int) -> None:
    ds = load(name=name)
    assert ds.task == task and ds.n_outputs == n_out
    assert ds.x_train.dtype == np.float32


def test_breast_cancer_uses_the_class_names() -> None:
    assert load(name="breast_cancer").classes == ["malignant", "benign"]


@pytest.mark.parametrize("scale", ["standard", "minmax", 16.0])
def test_scaling_uses_training_statistics_only(scale) -> None:
    ds = load(name="digits", scale=scale)
    flat = ds.x_train.reshape(len(ds.x_train), -1)
    if scale == "standard":
        informative = flat.std(axis=0) > 0
        assert np.allclose(flat.mean(axis=0), 0, atol=1e-5)
        assert np.allclose(flat.std(axis=0)[informative], 1, atol=1e-3)
    elif scale == "minmax":
        assert flat.min() == pytest.approx(0) and flat.max() == pytest.approx(1)
    else:
        assert flat.max() <= 1.0
    # the recorded preprocessing reproduces the transform
    again = D.Preprocessing.from_dict(ds.preprocessing.to_dict())
    raw = np.arange(64, dtype=np.float32).reshape(1, 8, 8) % 17
    assert np.allclose(again.apply(raw), ds.preprocessing.apply(raw))


def test_limit_caps_train_and_test() -> None:
    ds = load(name="digits", limit=100, validation_split=0.2)
    assert len(ds.x_train) + len(ds.x_val) == 100 and len(ds.x_test) == 100


def test_csv_with_label_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n7,8,dog\n1,1,cat\n2,2,dog\n3,3,cat\n4,4,dog\n5,5,cat\n6,6,dog\n"
    )
    ds = load(path=path, validation_split=0, test_size=0.2)
    assert ds.task == "binary" and ds.classes == ["cat", "dog"] and ds.input_shape == (2,)
    assert len(ds.x_train) == 8 and len(ds.x_test) == 2


def test_csv_numeric_target_is_regression(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("x,price\n" + "".join(f"{i},{i * 1.5 + 0.25}\n" for i in range(30)))
    ds = load(path=path, label="price", validation_split=0)
    assert ds.task == "regression" and ds.y_train.dtype == np.float32


def test_npz_with_multilabel_matrix(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "m.npz"
    np.savez(path, x=rng.normal(size=(60, 5)), y=rng.integers(0, 2, size=(60, 3)))
    ds = load(path=path)
    assert ds.task == "multilabel" and ds.classes == ["0", "1", "2"] and ds.y_train.shape[1] == 3


def test_npz_with_its_own_test_split(tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    np.savez(
        path, x_train=np.zeros((20, 3)), y_train=np.arange(20) % 2, x_test=np.ones((5, 3)), y_test=np.arange(5) % 2
    )
    ds = load(path=path, validation_split=0)
    assert len(ds.x_train) == 20 and len(ds.x_test) == 5


@pytest.mark.parametrize(
    "content, kw, match",
    [
        ("", {}, r"is empty"),
        ("a,b,label\n", {}, r"has a header but no data rows"),
        ("a,b,label\n1,x,0\n2,3,1\n", {}, r"line 2, column 'b' is not a number \('x'\)"),
        ("a,b,label\n1,nan,0\n2,3,1\n", {}, r"line 2, column 'b' is nan: features must be finite"),
        ("a,b,label\n1,,0\n2,3,1\n", {}, r"line 2, column 'b' is empty"),
        ("a,b,y\n1,2,0\n2,3,1\n", {}, r"no label column 'label'; its columns are \['a', 'b', 'y'\]"),
        ("a,b,label\n1,2\n", {}, r"line 2 has 2 fields but the header has 3"),
    ],
)
def test_broken_csv_is_a_data_error(tmp_path: Path, content: str, kw: dict, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match) as info:
        load(path=path, **kw)
    assert info.value.exit_code == 1


def test_npz_without_expected_arrays(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, features=np.zeros((4, 2)))
    with pytest.raises(DataError, match=r"has arrays \['features'\] but needs `x` and `y`"):
        load(path=path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist"):
        load(path=tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "task, match",
    [
        ("binary", r"task is binary but the labels have 10 distinct values"),
        ("multilabel", r"multilabel task needs a 0/1 label matrix"),
    ],
)
def test_labels_that_do_not_fit_the_task(task: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load(name="digits", task=task)


def test_text_labels_cannot_be_regression(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,label\n1,x\n2,y\n3,x\n4,y\n5,x\n")
    with pytest.raises(DataError, match=r"labels are text .* but the task is regression"):
        load(path=path, task="regression")


@pytest.mark.parametrize(
    "y, task",
    [
        (np.array([0, 1, 1, 0]), "binary"),
        (np.array(["a", "b", "c"]), "multiclass"),
        (np.arange(12) % 5, "multiclass"),
        (np.array([0.5, 1.25, 3.0]), "regression"),
        (np.arange(1000), "regression"),
        (np.array([[0, 1], [1, 1]]), "multilabel"),
        (np.array([[0.2, 1.5], [1.0, 2.0]]), "regression"),
    ],
)
def test_task_inference(y: np.ndarray, task: str) -> None:
    assert D.infer_task(y) == task


@pytest.mark.parametrize(
    "y, loss, task",
    [
        (np.array([0, 1, 1, 0]), "mse", "binary"),  # a perceptron's 0/1 labels, as before
        (np.array([0.0, 1.0, 1.0]), "mae", "binary"),
        (np.arange(12) % 5, "sparse_categorical_crossentropy", "multiclass"),
        (np.array(["a", "b", "c"]), "mse", "multiclass"),  # text is never a target
        (np.arange(1000), "mse", "regression"),
        (np.arange(1000), "binary_crossentropy", "regression"),  # as before: check_task then refuses the loss
        (np.array([[0, 1], [1, 1]]), "mse", "multilabel"),
    ],
)
def test_task_inference_asks_the_loss(y: np.ndarray, loss: str, task: str) -> None:
    assert D.infer_task(y, loss) == task


@pytest.mark.parametrize("n_values", [3, 5, 11, 26, 100])
def test_whole_number_targets_with_mse_and_many_values_ask_for_a_task(tmp_path: Path, n_values: int) -> None:
    # The report: 26 whole-number targets and loss: mse trained a 26-way softmax classifier.
    path = tmp_path / "t.csv"
    rows = [f"{i * 0.5},{i % n_values}" for i in range(2 * n_values)]
    path.write_text("a,label\n" + "\n".join(rows) + "\n")
    with pytest.raises(
        ConfigError, match=rf"the task is ambiguous.* {n_values} distinct whole numbers.*task: regression"
    ):
        D.load_dataset(DatasetConfig(path=path), seed=0, loss="mse")
    assert D.load_dataset(DatasetConfig(path=path), seed=0, loss="mse", task="regression").task == "regression"
    assert D.load_dataset(DatasetConfig(path=path), seed=0, loss="sparse_categorical_crossentropy").task == "multiclass"


def test_whole_number_targets_with_mae_ask_for_a_task_and_task_regression_trains_a_target(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,label\n" + "\n".join(f"{i},{i % 5 + 1}" for i in range(40)) + "\n")
    with pytest.raises(ConfigError, match=r"the task is ambiguous.* 5 distinct whole numbers \(1, 2, 3, ... 5\)"):
        D.load_dataset(DatasetConfig(path=path), seed=0, loss="mae")
    ds = D.load_dataset(DatasetConfig(path=path), seed=0, loss="mae", task="regression")
    assert ds.task == "regression" and ds.classes == ["target"]
    assert ds.y_test.dtype == np.float32


def test_keras_dataset_offline_without_local_file_says_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLRUN_DATA_DIR", raising=False)

    def offline(name):
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(sources, "download_keras_dataset", offline)
    with pytest.raises(
        DataError,
        match=r"(?s)not on this machine and could not be downloaded.*put mnist\.npz in a directory and set MLRUN_DATA_DIR",
    ):
        load(name="mnist", data_dir=tmp_path)


def test_keras_dataset_falls_back_to_keras_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLRUN_DATA_DIR", raising=False)
    x = np.zeros((30, 28, 28), np.uint8)
    y = np.arange(30, dtype=np.uint8) % 10
    monkeypatch.setattr(sources, "download_keras_dataset", lambda name: ((x, y), (x[:10], y[:10])))
    ds = load(name="fashion_mnist", data_dir=tmp_path, validation_split=0)
    assert ds.source == "fashion_mnist (keras download)" and ds.classes[0] == "T-shirt/top"


def test_fashion_mnist_from_data_dir_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    base = tmp_path / "fashion-mnist"
    base.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 20)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 255, size=(n, 28, 28), dtype=np.uint8)
        (base / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0" * 8 + labels.tobytes()))
        (base / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0" * 16 + images.tobytes()))
    monkeypatch.setattr(
        sources, "download_keras_dataset", lambda name: pytest.fail("must not download when the file is local")
    )
    ds = load(name="fashion_mnist", data_dir=tmp_path, validation_split=0, scale=255)
    assert ds.input_shape == (28, 28) and len(ds.x_train) == 40 and len(ds.x_test) == 20


@requires_mnist
def test_mnist_from_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sources, "download_keras_dataset", lambda name: pytest.fail("must not download when the file is local")
    )
    ds = load(name="mnist", scale=255, limit=1000, validation_split=0.2)
    assert ds.input_shape == (28, 28) and ds.classes == [str(i) for i in range(10)]
    assert len(ds.x_train) == 800 and len(ds.x_val) == 200 and len(ds.x_test) == 1000
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0


def test_validate_exits_2_on_an_ambiguous_task(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlrun.cli import app

    (tmp_path / "t.csv").write_text("a,label\n" + "\n".join(f"{i},{i % 26}" for i in range(104)) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text("name: t\ndataset: {path: t.csv}\nmodel: {architecture: linear}\nloss: mse\n")
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code == 2, result.output
    assert "26 distinct whole numbers" in result.output and "set `task: regression`" in result.output


def test_test_size_0_marks_the_test_set_as_training_data_but_a_gate_truth_table_is_not() -> None:
    ds = load(name="iris", test_size=0, validation_split=0)
    assert ds.test_is_training_data and ds.summary()["test_is_training_data"] is True
    assert not load(name="iris").test_is_training_data
    gate = load(name="synthetic", generator="gate", gate="and", repeat=3)
    assert not gate.test_is_training_data and "test_is_training_data" not in gate.summary()


@pytest.mark.parametrize("given, expected", [(None, "benign"), ("malignant", "malignant")])
def test_positive_label_defaults_to_the_second_class(given: str | None, expected: str) -> None:
    ds = load(name="breast_cancer", positive_label=given)
    assert ds.classes == ["malignant", "benign"] and ds.positive_label == expected
    assert ds.summary()["positive_label"] == expected
    assert load(name="iris").positive_label is None


@pytest.mark.parametrize(
    "body, message",
    [
        (
            "dataset: {name: breast_cancer, positive_label: cancer}\nloss: binary_crossentropy\n",
            r"dataset\.positive_label: 'cancer' is not a class of .*its classes are 'malignant', 'benign'",
        ),
        (
            "dataset: {name: iris, positive_label: setosa}\nloss: sparse_categorical_crossentropy\n",
            r"dataset\.positive_label: applies to binary tasks only, but this is a multiclass task",
        ),
    ],
)
def test_validate_refuses_a_positive_label_the_data_does_not_allow(tmp_path: Path, body: str, message: str) -> None:
    import re

    from typer.testing import CliRunner

    from mlrun.cli import app

    config = tmp_path / "c.yaml"
    config.write_text("name: t\nmodel: {architecture: linear}\n" + body)
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code == 2, result.output
    assert re.search(message, " ".join(result.output.split())), result.output
