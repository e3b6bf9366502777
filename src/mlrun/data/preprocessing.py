"""From raw arrays to model inputs: the task the labels imply, label encoding, input checks and scaling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrun.config import TASK_LOSSES
from mlrun.errors import ConfigError, DataError

#: Whole-number labels with more distinct values than this are regression targets, whatever the loss.
MAX_CLASSES = 100


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


def infer_task(y: np.ndarray, loss: str | None = None, *, source: str = "the data") -> str:
    """Infer the task from the labels and the loss, when the config gives no ``task:``.

    Strings, booleans and 0/1 columns are classes; fractional numbers are regression
    targets. Whole numbers depend on the loss: a loss that fits classification only
    (the cross-entropies) makes them classes, as long as there are at most
    :data:`MAX_CLASSES` distinct values. A loss that also fits regression (mse, mae)
    keeps exactly two values a binary task (a perceptron's 0/1 labels) and refuses
    3 to :data:`MAX_CLASSES` values: a score and integer-coded classes are equally
    likely then, and the two readings train different models, so ``task:`` decides.

    >>> infer_task(np.array([0, 1, 1, 0]), "mse"), infer_task(np.array([0.5, 2.0, 5.25]), "mse")
    ('binary', 'regression')
    >>> infer_task(np.array([1, 2, 5, 3]), "sparse_categorical_crossentropy")
    'multiclass'

    Raises:
        ConfigError: whole-number labels that could be classes or a target, with a loss that fits both.
    """
    task = _task_from_labels(y)
    if task != "multiclass" or loss is None or loss not in TASK_LOSSES["regression"]:
        return task
    values = np.unique(np.asarray(y).reshape(-1))
    if values.dtype.kind not in "iuf":
        return task  # text classes cannot be a regression target
    shown = ", ".join(label_name(v) for v in values[:3])
    raise ConfigError(
        f"error: {source}: the task is ambiguous: no `task:` is given, the labels are {len(values)} distinct whole "
        f"numbers ({shown}, ... {label_name(values[-1])}) and loss {loss!r} fits both a numeric target and classes; "
        f"set `task: regression` for a target, or `task: multiclass` with "
        "loss: sparse_categorical_crossentropy for classes"
    )


def _task_from_labels(y: np.ndarray) -> str:
    """Guess the task from labels alone: strings or few integers are classes, other numbers regression."""
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


def concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Training and test labels as one array (to infer the task and the classes from both)."""
    return np.concatenate([np.asarray(a), np.asarray(b)])


def check_arrays(x: np.ndarray, y: np.ndarray, source: str, part: str) -> None:
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


def encode_labels(task: str, y: np.ndarray, y_test: np.ndarray | None, names: list[str] | None, source: str):
    """Encode labels for ``task``; return (classes, y, y_test)."""
    y = np.asarray(y)
    both = y if y_test is None else concat(y, y_test)
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
            f"error: {source}: the labels have only one value ({label_name(enc.classes_[0])!r}); a classifier needs at least two classes: check the label column (dataset.label) and the data"
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
        classes = [label_name(c) for c in enc.classes_]
    encode = lambda a: None if a is None else enc.transform(np.asarray(a).reshape(-1)).astype(np.int64)  # noqa: E731
    return classes, encode(y), encode(y_test)


def label_name(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
