"""Where a dataset's raw arrays come from: Keras' and scikit-learn's built-in datasets, synthetic data, files.

Keras is imported only to download a keras dataset that is not in the data directory.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from mlrun.config import KERAS_DATASETS, NUCLEAR, SYNTHETIC, DatasetConfig
from mlrun.data.files import SourceArrays, csv_header, dataset_path, load_clean_csv, load_file
from mlrun.data.raw import RawData
from mlrun.errors import DataError

#: Files each keras dataset is read from in the data directory (the names Keras downloads).
KERAS_FILES = {
    "mnist": "mnist.npz",
    "fashion_mnist": "fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
    "cifar10": "cifar-10-batches-py/ (data_batch_1..5, test_batch)",
    "cifar100": "cifar-100-python/ (train, test)",
}
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_SKLEARN_TABULAR = ("iris", "wine", "breast_cancer", "diabetes")


def read_source(cfg: DatasetConfig, *, seed: int, base_dir: Path | None = None) -> RawData:
    """Read the raw arrays the ``dataset`` block names: synthetic, built-in, or a file.

    Raises:
        DataError: the data is missing or unreadable.
    """
    if cfg.name == SYNTHETIC:
        from mlrun.data.synthetic import generate

        return generate(cfg, seed=seed)
    if cfg.name is not None:
        return RawData(*_load_builtin(cfg.name, cfg))
    path = dataset_path(cfg, base_dir)
    if cfg.cleaning is not None:
        table = load_clean_csv(path, cfg.label, cfg.cleaning)
        # x: row numbers into the table, until the splits are known and cleaning is fitted on the training rows
        return RawData(np.arange(table.n_rows), table.y, None, None, None, None, str(path), table=table)
    return RawData(*load_file(path, cfg.label))


def feature_names(
    cfg: DatasetConfig, input_shape: tuple[int, ...], *, base_dir: Path | None = None
) -> list[str] | None:
    """Names of the input features of flat (tabular) data: the CSV's non-label columns, or sklearn's names.

    None for images and for sources without names (NPZ); ``mlrun predict`` then checks shapes only.
    """
    if len(input_shape) != 1:
        return None
    names: list[str] | None = None
    if cfg.path is not None and Path(cfg.path).suffix.lower() in (".csv", ".txt"):
        labels = {cfg.label} if isinstance(cfg.label, str) else set(cfg.label)
        names = [h for h in csv_header(dataset_path(cfg, base_dir)) if h not in labels]
    elif cfg.name in _SKLEARN_TABULAR:
        from sklearn import datasets as skd

        names = [str(n) for n in getattr(skd, f"load_{cfg.name}")().feature_names]
    elif cfg.name == NUCLEAR:
        from mlrun.data.nuclear import FEATURES

        names = list(FEATURES)
    return names if names is not None and len(names) == input_shape[0] else None


def data_dirs(cfg: DatasetConfig) -> list[Path]:
    """Directories searched for keras dataset files: ``dataset.data_dir``, then ``$MLRUN_DATA_DIR``."""
    dirs = []
    if cfg.data_dir is not None:
        dirs.append(Path(cfg.data_dir))
    if os.environ.get("MLRUN_DATA_DIR"):
        dirs.append(Path(os.environ["MLRUN_DATA_DIR"]))
    return dirs


def _load_builtin(name: str, cfg: DatasetConfig) -> SourceArrays:
    if name in KERAS_DATASETS:
        for d in data_dirs(cfg):
            found = _read_keras_files(name, d)
            if found is not None:
                (x, y), (xt, yt) = found
                return x, y.reshape(-1), xt, yt.reshape(-1), _keras_class_names(name), "multiclass", f"{name} ({d})"
        try:
            (x, y), (xt, yt) = download_keras_dataset(name)
        except Exception as exc:  # any failure of Keras' downloader: offline, proxy, bad cache
            searched = (
                ", ".join(str(d) for d in data_dirs(cfg))
                or "no data directory (dataset.data_dir and MLRUN_DATA_DIR are unset)"
            )
            raise DataError(
                f"error: dataset {name!r} is not on this machine and could not be downloaded "
                f"({type(exc).__name__}: {exc}).\n"
                f"  searched: {searched}\n"
                f"  fix: put {KERAS_FILES[name]} in a directory and set MLRUN_DATA_DIR=that directory "
                "(or dataset.data_dir in the config); or connect to the internet so Keras can download it"
            ) from None
        return x, y.reshape(-1), xt, yt.reshape(-1), _keras_class_names(name), "multiclass", f"{name} (keras download)"
    if name == NUCLEAR:
        from mlrun.data import nuclear

        x, y = nuclear.load_masses()
        return x, y, None, None, [nuclear.TARGET], "regression", f"{nuclear.MEASURED} - {nuclear.THEORY} (masstable)"
    return _load_sklearn(name)


def download_keras_dataset(name: str) -> Any:
    """Keras' own loader (downloads and caches under ~/.keras/datasets)."""
    from mlrun.backend import import_keras

    keras = import_keras()
    return getattr(keras.datasets, name).load_data()


def _keras_class_names(name: str) -> list[str] | None:
    return {"fashion_mnist": FASHION_CLASSES, "cifar10": CIFAR10_CLASSES}.get(name)


def _read_keras_files(name: str, directory: Path) -> Any:
    """Read a keras dataset from the files Keras would download, if ``directory`` has them."""
    try:
        if name == "mnist":
            path = directory / "mnist.npz"
            if not path.is_file():
                return None
            with np.load(path, allow_pickle=False) as f:
                return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
        if name == "fashion_mnist":
            base = directory / "fashion-mnist"
            base = base if base.is_dir() else directory
            files = {
                k: base / f"{k}.gz"
                for k in (
                    "train-labels-idx1-ubyte",
                    "train-images-idx3-ubyte",
                    "t10k-labels-idx1-ubyte",
                    "t10k-images-idx3-ubyte",
                )
            }
            if not all(p.is_file() for p in files.values()):
                return None
            y = _read_idx(files["train-labels-idx1-ubyte"], 8)
            yt = _read_idx(files["t10k-labels-idx1-ubyte"], 8)
            x = _read_idx(files["train-images-idx3-ubyte"], 16).reshape(len(y), 28, 28)
            xt = _read_idx(files["t10k-images-idx3-ubyte"], 16).reshape(len(yt), 28, 28)
            return (x, y), (xt, yt)
        if name in ("cifar10", "cifar100"):
            # Keras reads these pickles the same way; they come from the data directory the user chose.
            base = directory / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
            if not base.is_dir():
                return None
            key = b"labels" if name == "cifar10" else b"fine_labels"
            train = [f"data_batch_{i}" for i in range(1, 6)] if name == "cifar10" else ["train"]
            test = "test_batch" if name == "cifar10" else "test"

            def batch(fname: str) -> tuple[np.ndarray, np.ndarray]:
                with open(base / fname, "rb") as f:
                    d = pickle.load(f, encoding="bytes")
                return d[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(d[key], np.uint8)

            parts = [batch(f) for f in train]
            xt, yt = batch(test)
            return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])), (xt, yt)
    except (OSError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(
            f"error: {directory} has files for {name!r} but they cannot be read ({exc}); replace them with fresh copies"
        ) from None
    return None


def _load_sklearn(name: str) -> SourceArrays:
    from sklearn import datasets as skd

    bunch = getattr(skd, f"load_{name}")()
    if name == "digits":
        x = bunch.images  # 8x8 images, so a cnn can use them directly
    else:
        x = bunch.data
    if name == "diabetes":
        return x, bunch.target.astype(np.float32), None, None, ["target"], "regression", "sklearn diabetes"
    names = [str(n) for n in bunch.target_names]
    # Named classes: the task is known, whatever the loss (iris with a perceptron's mse is still 3 classes).
    task = "binary" if len(names) == 2 else "multiclass"
    return x, bunch.target, None, None, names, task, f"sklearn {name}"


def _read_idx(path: Path, offset: int) -> np.ndarray:
    """The bytes of a gzipped IDX file (MNIST's format) after its header."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)
