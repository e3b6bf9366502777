"""Load a dataset from a config: built-in (keras, sklearn) or a CSV/NPZ file.

:func:`load_dataset` returns numpy arrays split into train, validation and
test, with labels encoded for the task and inputs scaled with statistics from
the training set. Keras is imported only to download a keras dataset that is
not in the data directory.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import math
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlrun.config import KERAS_DATASETS, DatasetConfig
from mlrun.config.schema import SYNTHETIC
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
MAX_CLASSES = 100  # integer labels with more distinct values than this are taken as regression targets


@dataclass
class Preprocessing:
    """How raw inputs become model inputs: ``(x - offset) / scale``, elementwise per feature."""

    kind: str
    offset: np.ndarray | float = 0.0
    scale: np.ndarray | float = 1.0

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Return ``x`` scaled, as float32."""
        if self.kind == "none":
            return np.asarray(x, dtype=np.float32)
        # One float32 copy, scaled in place: no temporaries the size of the data (60000 MNIST images: 190 MB each).
        x = np.array(x, dtype=np.float32)
        x -= self.offset
        x /= self.scale
        return x

    def to_dict(self) -> dict[str, Any]:
        as_list = lambda v: v.tolist() if isinstance(v, np.ndarray) else float(v)  # noqa: E731
        return {"kind": self.kind, "offset": as_list(self.offset), "scale": as_list(self.scale)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        conv = lambda v: np.asarray(v, dtype=np.float32) if isinstance(v, list) else float(v)  # noqa: E731
        return cls(data["kind"], conv(data["offset"]), conv(data["scale"]))


@dataclass(frozen=True)
class Fold:
    """One fold of k-fold cross-validation over the training set: fold ``index`` (0-based) is held out for validation."""

    index: int
    n_splits: int
    stratified: bool = True
    """Keep each class's share in every fold (sklearn's StratifiedKFold); binary and multiclass only."""
    shuffle: bool = True
    """Shuffle before splitting (seeded by the config's seed), as sklearn's ``shuffle=True``."""

    def __post_init__(self) -> None:
        if self.n_splits < 2:
            raise ValueError(f"n_splits must be at least 2 (got {self.n_splits})")
        if not 0 <= self.index < self.n_splits:
            raise ValueError(f"fold index must be in 0..{self.n_splits - 1} (got {self.index})")


@dataclass
class Dataset:
    """Arrays ready for a model, and what is known about them.

    Classification labels are class indices into ``classes`` (multilabel: a 0/1
    matrix, one column per name in ``classes``); regression targets are floats.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    classes: list[str]
    source: str
    preprocessing: Preprocessing
    notes: list[str] = field(default_factory=list)
    features: list[str] | None = None
    """Names of the input features (CSV columns, sklearn feature names), when the source has them."""
    cleaning: dict[str, Any] | None = None
    """What ``dataset.cleaning`` removed or changed (see :func:`mlrun.cleaning.clean_table`)."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def n_outputs(self) -> int:
        """Number of classes, labels or regression targets."""
        if self.task in ("binary", "multiclass", "multilabel"):
            return len(self.classes)
        return 1 if self.y_train.ndim == 1 else int(self.y_train.shape[1])

    def fingerprint(self) -> str:
        """A short hash of every array: the same data gives the same fingerprint.

        Computed once (hashing MNIST takes a fifth of a second): the arrays are
        final by the time anything asks for it.
        """
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            h = hashlib.sha256()
            for arr in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
                if arr is not None:
                    h.update(str(arr.shape).encode())
                    h.update(np.ascontiguousarray(arr).data)  # the buffer itself, no copy
            cached = self.__dict__["_fingerprint"] = h.hexdigest()[:16]
        return cached

    def summary(self) -> dict[str, Any]:
        """What run.json records about the data."""
        return {
            "source": self.source,
            "task": self.task,
            "input_shape": list(self.input_shape),
            "classes": self.classes,
            "n_train": int(len(self.x_train)),
            "n_val": int(len(self.x_val)) if self.x_val is not None else 0,
            "n_test": int(len(self.x_test)),
            "fingerprint": self.fingerprint(),
            "notes": self.notes,
            **({"cleaning": self.cleaning} if self.cleaning is not None else {}),
        }


# --------------------------------------------------------------------------- public entry point


def load_dataset(
    cfg: DatasetConfig,
    *,
    seed: int,
    task: str | None = None,
    base_dir: Path | None = None,
    fold: Fold | None = None,
) -> Dataset:
    """Load, split, encode and scale the dataset a config names.

    Args:
        cfg: the ``dataset`` block.
        seed: seeds every split and subsample.
        task: the config's ``task``, or None to infer it from the labels.
        base_dir: relative ``dataset.path`` values are resolved against it
            (default: the current directory).
        fold: hold out this cross-validation fold of the training set (after
            ``limit``) as the validation set, instead of ``validation_split``.
            Scaling statistics come from the fold's training part.

    Raises:
        DataError: the data is missing, unreadable, or its labels do not fit
            ``task`` (or cannot be split into ``fold.n_splits`` folds).
    """
    rng_seed = int(seed)
    notes: list[str] = []
    cleaning = None
    if cfg.name == SYNTHETIC:
        from mlrun.synthetic import generate

        gen = generate(cfg, seed=rng_seed)
        x, y, x_test, y_test, names, known_task, source = (
            gen.x,
            gen.y,
            gen.x_test,
            gen.y_test,
            gen.names,
            gen.task,
            gen.source,
        )
        notes += gen.notes
    elif cfg.name is not None:
        x, y, x_test, y_test, names, known_task, source = _load_builtin(cfg)
    else:
        path = Path(cfg.path)
        if base_dir is not None and not path.is_absolute() and not path.exists():
            path = Path(base_dir) / path
        if cfg.cleaning is not None:
            x, y, cleaning = _load_clean_csv(path, cfg)
            x_test = y_test = names = known_task = None
            source = str(path)
        else:
            x, y, x_test, y_test, names, known_task, source = _load_file(path, cfg)

    _check_arrays(x, y, source, "training")
    if x_test is not None:
        _check_arrays(x_test, y_test, source, "test")
    task = task or known_task or infer_task(y if x_test is None else _concat(y, y_test))
    classes, y, y_test = _encode_labels(task, y, y_test, names, source)
    classify = task in ("binary", "multiclass")

    if x_test is None and cfg.test_size == 0:
        x_test, y_test = x.copy(), y.copy()
        notes.append("test_size 0: the test set is the training data (before the validation split)")
    elif x_test is None:
        x, x_test, y, y_test = _split(
            x, y, cfg.test_size, seed=rng_seed, stratify=classify and cfg.stratify, what="test"
        )
    if cfg.limit is not None:
        x, y = _subsample(x, y, cfg.limit, seed=rng_seed, stratify=classify and cfg.stratify)
        x_test, y_test = _subsample(x_test, y_test, cfg.limit, seed=rng_seed, stratify=classify and cfg.stratify)

    x_val = y_val = None
    if fold is not None:
        if fold.stratified and not classify:
            raise DataError(
                f"error: {source}: stratified folds need class labels, but this is a {task} task; use unstratified folds (cv.stratified: false)"
            )
        train_idx, val_idx = fold_indices(
            y, fold.n_splits, stratified=fold.stratified, shuffle=fold.shuffle, seed=rng_seed
        )[fold.index]
        x, x_val, y, y_val = x[train_idx], x[val_idx], y[train_idx], y[val_idx]
        notes.append(f"validation set: fold {fold.index} of {fold.n_splits} (0-based) of the training set")
    elif cfg.validation_split > 0:
        x, x_val, y, y_val = _split(
            x, y, cfg.validation_split, seed=rng_seed, stratify=classify and cfg.stratify, what="validation"
        )

    prep = fit_preprocessing(cfg.scale, x)
    return Dataset(
        x_train=prep.apply(x),
        y_train=y,
        x_val=prep.apply(x_val) if x_val is not None else None,
        y_val=y_val,
        x_test=prep.apply(x_test),
        y_test=y_test,
        task=task,
        classes=classes,
        source=source,
        preprocessing=prep,
        notes=notes,
        features=cleaning["features"] if cleaning is not None else feature_names(cfg, x.shape[1:], base_dir=base_dir),
        cleaning=cleaning,
    )


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
        path = Path(cfg.path)
        if base_dir is not None and not path.is_absolute() and not path.exists():
            path = Path(base_dir) / path
        with open(path, encoding="utf-8", newline="") as f:
            header = next((r for r in csv.reader(f) if any(c.strip() for c in r)), [])
        labels = {cfg.label} if isinstance(cfg.label, str) else set(cfg.label)
        names = [h.strip() for h in header if h.strip() not in labels]
    elif cfg.name in ("iris", "wine", "breast_cancer", "diabetes"):
        from sklearn import datasets as skd

        names = [str(n) for n in getattr(skd, f"load_{cfg.name}")().feature_names]
    return names if names is not None and len(names) == input_shape[0] else None


def fold_indices(
    y: np.ndarray, n_splits: int, *, stratified: bool, shuffle: bool, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return the (train, validation) index arrays of every fold: sklearn's KFold or StratifiedKFold.

    Pure index arithmetic over the labels ``y``; the same arguments give the same folds.

    Raises:
        DataError: there are fewer samples (stratified: members of a class) than folds.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    y = np.asarray(y)
    if len(y) < n_splits:
        raise DataError(
            f"error: {len(y)} training samples cannot be split into {n_splits} folds; use fewer folds (cv.n_splits) or more data"
        )
    kwargs = {"n_splits": n_splits, "shuffle": shuffle, "random_state": seed if shuffle else None}
    if not stratified:
        return list(KFold(**kwargs).split(np.zeros(len(y))))
    labels, counts = np.unique(y, return_counts=True)
    if counts.min() < n_splits:
        raise DataError(
            f"error: class {_label_name(labels[counts.argmin()])!r} has {counts.min()} training samples, fewer than the "
            f"{n_splits} folds, so a stratified split cannot put it in every fold; use fewer folds (cv.n_splits), "
            "more data (dataset.limit), or cv.stratified: false"
        )
    return list(StratifiedKFold(**kwargs).split(np.zeros(len(y)), y))


def fit_preprocessing(scale: float | str, x: np.ndarray) -> Preprocessing:
    """Fit the input scaling on training inputs (sklearn scalers over flattened features)."""
    if scale == "none":
        return Preprocessing("none")
    if not isinstance(scale, str):
        return Preprocessing("divide", 0.0, float(scale))
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    flat = x.reshape(len(x), -1).astype(np.float64)
    shape = x.shape[1:]
    if scale == "standard":
        s = StandardScaler().fit(flat)
        return Preprocessing(
            "standard", s.mean_.reshape(shape).astype(np.float32), s.scale_.reshape(shape).astype(np.float32)
        )
    s = MinMaxScaler().fit(flat)
    # MinMaxScaler computes x * scale_ + min_ with zero ranges already handled;
    # the same map written as (x - offset) / divisor:
    return Preprocessing(
        "minmax", s.data_min_.reshape(shape).astype(np.float32), (1.0 / s.scale_).reshape(shape).astype(np.float32)
    )


def infer_task(y: np.ndarray) -> str:
    """Guess the task from labels: strings or few integers are classes, other numbers regression."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        if y.dtype.kind in "biuf" and np.isin(y, (0, 1)).all():
            return "multilabel"
        return "regression"
    y = y.reshape(-1)
    if y.dtype.kind in "USOb":
        return "binary" if len(np.unique(y)) <= 2 else "multiclass"
    if y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0)):
        return "regression"
    n = len(np.unique(y))
    if n <= 2:
        return "binary"
    return "multiclass" if n <= MAX_CLASSES else "regression"


# --------------------------------------------------------------------------- built-in datasets


def data_dirs(cfg: DatasetConfig) -> list[Path]:
    """Directories searched for keras dataset files: ``dataset.data_dir``, then ``$MLRUN_DATA_DIR``."""
    dirs = []
    if cfg.data_dir is not None:
        dirs.append(Path(cfg.data_dir))
    if os.environ.get("MLRUN_DATA_DIR"):
        dirs.append(Path(os.environ["MLRUN_DATA_DIR"]))
    return dirs


def _load_builtin(cfg: DatasetConfig):
    name = cfg.name
    if name in KERAS_DATASETS:
        for d in data_dirs(cfg):
            found = _read_keras_files(name, d)
            if found is not None:
                (x, y), (xt, yt) = found
                return x, y.reshape(-1), xt, yt.reshape(-1), _keras_class_names(name), "multiclass", f"{name} ({d})"
        try:
            (x, y), (xt, yt) = _keras_download(name)
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
    return _load_sklearn(name)


def _keras_download(name: str):
    """Keras' own loader (downloads and caches under ~/.keras/datasets)."""
    from mlrun.backend import import_keras

    keras = import_keras()
    return getattr(keras.datasets, name).load_data()


def _keras_class_names(name: str) -> list[str] | None:
    return {"fashion_mnist": FASHION_CLASSES, "cifar10": CIFAR10_CLASSES}.get(name)


def _read_keras_files(name: str, directory: Path):
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

            def batch(fname):
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


def _load_sklearn(name: str):
    from sklearn import datasets as skd

    bunch = getattr(skd, f"load_{name}")()
    if name == "digits":
        x = bunch.images  # 8x8 images, so a cnn can use them directly
    else:
        x = bunch.data
    if name == "diabetes":
        return x, bunch.target.astype(np.float32), None, None, ["target"], "regression", "sklearn diabetes"
    names = [str(n) for n in bunch.target_names]
    return x, bunch.target, None, None, names, None, f"sklearn {name}"


# --------------------------------------------------------------------------- files


def _load_file(path: Path, cfg: DatasetConfig):
    if not path.exists():
        raise DataError(
            f"error: dataset.path {path} does not exist (a relative path is looked up in the current directory, then beside the config file)"
        )
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return (*_load_npz(path), None, None, str(path))
    if suffix in (".csv", ".txt"):
        x, y = _load_csv(path, cfg.label)
        return x, y, None, None, None, None, str(path)
    raise DataError(f"error: dataset.path {path}: unsupported file type {suffix!r}; use a .csv or .npz file")


def _load_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as exc:
        if "pickled" in str(exc) and zipfile.is_zipfile(path):
            # mlrun never unpickles data files (that could run code): only numeric arrays are read.
            raise DataError(
                f"error: {path} holds Python objects (pickled arrays), which mlrun does not load; save numeric arrays: np.savez(path, x=..., y=...)"
            ) from None
        raise DataError(
            f"error: {path} is not a readable NPZ file (a zip of arrays written by np.savez): {exc}; save the data with np.savez(path, x=..., y=...)"
        ) from None
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    if {"x", "y"} <= arrays.keys():
        return arrays["x"], arrays["y"], None, None
    raise DataError(
        f"error: {path} has arrays {sorted(arrays)} but needs `x` and `y` "
        "(or x_train, y_train, x_test, y_test); save it with np.savez(path, x=..., y=...)"
    )


def read_csv_table(path: Path, label: str | list[str]) -> tuple[list[str], list[list[str]], list[str]]:
    """Read a CSV file's header and data rows (blank lines skipped); check the label columns exist."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"error: cannot read {path} ({exc})") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"error: {path} is empty: it needs a header row and one row per sample")
    header = [h.strip() for h in rows[0]]
    if len(rows) < 2:
        raise DataError(f"error: {path} has a header but no data rows")
    labels = [label] if isinstance(label, str) else list(label)
    missing = [c for c in labels if c not in header]
    if missing:
        raise DataError(
            f"error: {path} has no label column {missing[0]!r}; its columns are {header}; set dataset.label to the label column's name"
        )
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise DataError(
                f"error: {path} line {i} has {len(r)} fields but the header has {len(header)}: every row needs one value per column; fix or drop that row"
            )
    if not [c for c in header if c not in labels]:
        raise DataError(f"error: {path} has no feature columns besides the label")
    return header, rows[1:], labels


def _load_clean_csv(path: Path, cfg: DatasetConfig) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    from mlrun.cleaning import clean_table

    if not path.exists():
        raise DataError(
            f"error: dataset.path {path} does not exist (a relative path is looked up in the current directory, then beside the config file)"
        )
    header, rows, labels = read_csv_table(path, cfg.label)
    return clean_table(header, rows, labels, cfg.cleaning, source=str(path))


def _load_csv(path: Path, label: str | list[str]):
    header, rows, labels = read_csv_table(path, label)
    features = [c for c in header if c not in labels]
    data = np.array(rows, dtype=object)
    cols = {c: data[:, header.index(c)] for c in header}
    x = np.stack([numeric_column(cols[c], c, path) for c in features], axis=1).astype(np.float32)
    ys = [_label_column(cols[c]) for c in labels]
    y = ys[0] if len(ys) == 1 else np.stack(ys, axis=1)
    return x, y


def numeric_column(values: np.ndarray, name: str, path: Path) -> np.ndarray:
    """Parse a CSV column as finite floats; the DataError names the line and column of the first bad value."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        text = str(v).strip()
        try:
            out[i] = float(text)
        except ValueError:
            what = "is empty" if not text else f"is not a number ({text!r})"
            raise DataError(
                f"error: {path} line {i + 2}, column {name!r} {what}: feature columns must be numeric; fix or drop that row or column, "
                f"or clean the file with dataset.cleaning (missing: mean, one_hot: [{name}], drop_columns: [{name}], ...)"
            ) from None
        if not math.isfinite(out[i]):
            raise DataError(
                f"error: {path} line {i + 2}, column {name!r} is {text}: features must be finite numbers; "
                "fill or drop missing values (dataset.cleaning.missing: drop, mean, median or most_frequent)"
            )
    return out


def _label_column(values: np.ndarray) -> np.ndarray:
    text = np.array([str(v).strip() for v in values])
    try:
        return text.astype(np.float64)
    except ValueError:
        return text


# --------------------------------------------------------------------------- checks, labels, splits


def _concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(a), np.asarray(b)])


def _check_arrays(x: np.ndarray, y: np.ndarray, source: str, part: str) -> None:
    x, y = np.asarray(x), np.asarray(y)
    if len(x) == 0:
        raise DataError(f"error: {source}: the {part} set is empty")
    if len(x) != len(y):
        raise DataError(
            f"error: {source}: {len(x)} {part} inputs but {len(y)} labels; they must have one label per sample"
        )
    if x.dtype.kind not in "biuf":
        raise DataError(f"error: {source}: inputs must be numeric, got dtype {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        raise DataError(
            f"error: {source}: the {part} inputs contain NaN or infinite values ({len(bad)} samples, the first at index {bad[0]}); fill or drop them first"
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        bad = np.flatnonzero(~np.isfinite(y.reshape(len(y), -1)).all(axis=1))
        raise DataError(
            f"error: {source}: the {part} labels contain NaN or infinite values ({len(bad)} samples, the first at index {bad[0]}); fill or drop them first"
        )


def _encode_labels(task: str, y: np.ndarray, y_test: np.ndarray | None, names: list[str] | None, source: str):
    """Encode labels for ``task``; return (classes, y, y_test)."""
    y = np.asarray(y)
    both = y if y_test is None else _concat(y, y_test)
    if task == "regression":
        if both.dtype.kind not in "biuf":
            raise DataError(
                f"error: {source}: labels are text ({both[:3].tolist()} ...) but the task is regression: set task to binary or multiclass"
            )
        targets = (
            names
            if names and len(names) == (1 if y.ndim == 1 else y.shape[1])
            else (["target"] if y.ndim == 1 else [f"target_{i}" for i in range(y.shape[1])])
        )
        conv = lambda a: None if a is None else np.asarray(a, dtype=np.float32)  # noqa: E731
        return targets, conv(y), conv(y_test)
    if task == "multilabel":
        if y.ndim != 2 or not np.isin(both, (0, 1)).all():
            raise DataError(
                f"error: {source}: a multilabel task needs a 0/1 label matrix (one column per label), got labels of shape {y.shape}"
            )
        labels = names if names and len(names) == y.shape[1] else [str(i) for i in range(y.shape[1])]
        conv = lambda a: None if a is None else np.asarray(a, dtype=np.float32)  # noqa: E731
        return labels, conv(y), conv(y_test)
    if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise DataError(
            f"error: {source}: a {task} task needs one label per sample, got labels of shape {y.shape} (multilabel? set task: multilabel)"
        )
    from sklearn.preprocessing import LabelEncoder

    enc = LabelEncoder().fit(both.reshape(-1))
    n = len(enc.classes_)
    if n < 2:
        raise DataError(
            f"error: {source}: the labels have only one value ({_label_name(enc.classes_[0])!r}); a classifier needs at least two classes: check the label column (dataset.label) and the data"
        )
    if task == "binary" and n != 2:
        raise DataError(
            f"error: {source}: task is binary but the labels have {n} distinct values: set task: multiclass (or fix the labels)"
        )
    if task == "multiclass" and n < 2:
        raise DataError(
            f"error: {source}: the labels have only one value ({enc.classes_[0]!r}); a classifier needs at least two classes"
        )
    if names and len(names) == n and enc.classes_.dtype.kind in "iuf" and np.array_equal(enc.classes_, np.arange(n)):
        classes = list(names)
    else:
        classes = [_label_name(c) for c in enc.classes_]
    encode = lambda a: None if a is None else enc.transform(np.asarray(a).reshape(-1)).astype(np.int64)  # noqa: E731
    return classes, encode(y), encode(y_test)


def _label_name(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _can_stratify(y: np.ndarray, n_small: int) -> bool:
    _, counts = np.unique(y, return_counts=True)
    return y.ndim == 1 and counts.min() >= 2 and n_small >= len(counts) and len(y) - n_small >= len(counts)


def _split(x, y, fraction: float, *, seed: int, stratify: bool, what: str):
    from sklearn.model_selection import train_test_split

    n_small = math.ceil(len(x) * fraction)
    if n_small < 1 or n_small >= len(x):
        raise DataError(
            f"error: {len(x)} samples are too few for a {what} split of {fraction}; use more data or change the split"
        )
    strat = y if stratify and _can_stratify(y, n_small) else None
    return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=strat)


def _subsample(x, y, limit: int, *, seed: int, stratify: bool):
    if len(x) <= limit:
        return x, y
    from sklearn.model_selection import train_test_split

    strat = y if stratify and _can_stratify(y, limit) else None
    xs, _, ys, _ = train_test_split(x, y, train_size=limit, random_state=seed, stratify=strat)
    return xs, ys


def _read_idx(path: Path, offset: int) -> np.ndarray:
    """The bytes of a gzipped IDX file (MNIST's format) after its header."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)
