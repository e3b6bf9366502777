"""Load a dataset from a config: read the source, encode the labels, split, scale.

:func:`load_dataset` returns numpy arrays split into train, validation and
test, with labels encoded for the task and inputs scaled with statistics from
the training set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrun.config import DatasetConfig
from mlrun.data.preprocessing import Preprocessing, check_arrays, concat, encode_labels, fit_preprocessing, infer_task
from mlrun.data.sources import RawData, feature_names, read_source
from mlrun.data.splits import Fold, fold_indices, split, subsample
from mlrun.errors import DataError

if TYPE_CHECKING:
    from mlrun.data.cleaner import Cleaner


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
    """What ``dataset.cleaning`` removed or changed (see :mod:`mlrun.data.cleaning`)."""
    cleaner: Cleaner | None = None
    """``dataset.cleaning`` fitted on the training rows, for ``mlrun predict`` to replay on raw rows."""

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
            Scaling statistics, and a CSV's fill values and one-hot categories
            (``dataset.cleaning``), come from the fold's training part.

    Raises:
        DataError: the data is missing, unreadable, or its labels do not fit
            ``task`` (or cannot be split into ``fold.n_splits`` folds).
    """
    seed = int(seed)
    raw = read_source(cfg, seed=seed, base_dir=base_dir)
    check_arrays(raw.x, raw.y, raw.source, "training")
    if raw.x_test is not None and raw.y_test is not None:
        check_arrays(raw.x_test, raw.y_test, raw.source, "test")
    task = task or raw.task or infer_task(raw.y if raw.y_test is None else concat(raw.y, raw.y_test))
    classes, y, y_test = encode_labels(task, raw.y, raw.y_test, raw.names, raw.source)
    stratify = task in ("binary", "multiclass") and cfg.stratify
    x, y, x_test, y_test = _train_and_test(cfg, raw, y, y_test, seed=seed, stratify=stratify)
    x, y, x_val, y_val = _hold_out(cfg, x, y, task=task, source=raw.source, fold=fold, seed=seed, notes=raw.notes)

    cleaned = raw.table.fit_transform(x, x_val, x_test) if raw.table is not None else None
    if cleaned is not None:  # a cleaned CSV: until here x, x_val and x_test were its row numbers
        x, x_val, x_test = cleaned.x, cleaned.x_val, cleaned.x_test

    prep = fit_preprocessing(cfg.scale, x)
    features = cleaned.cleaner.features if cleaned else feature_names(cfg, x.shape[1:], base_dir=base_dir)
    return Dataset(
        x_train=prep.apply(x),
        y_train=y,
        x_val=prep.apply(x_val) if x_val is not None else None,
        y_val=y_val,
        x_test=prep.apply(x_test),
        y_test=y_test,
        task=task,
        classes=classes,
        source=raw.source,
        preprocessing=prep,
        notes=raw.notes,
        features=features,
        cleaning=cleaned.record if cleaned else None,
        cleaner=cleaned.cleaner if cleaned else None,
    )


def _train_and_test(
    cfg: DatasetConfig, raw: RawData, y: np.ndarray, y_test: np.ndarray | None, *, seed: int, stratify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The training and test sets: the source's own test set, or ``test_size`` split off; then ``limit`` applied."""
    x, x_test = raw.x, raw.x_test
    if x_test is None or y_test is None:
        if cfg.test_size == 0:
            x_test, y_test = x.copy(), y.copy()
            raw.notes.append("test_size 0: the test set is the training data (before the validation split)")
        else:
            x, x_test, y, y_test = split(x, y, cfg.test_size, seed=seed, stratify=stratify, what="test")
    if cfg.limit is not None:
        x, y = subsample(x, y, cfg.limit, seed=seed, stratify=stratify)
        x_test, y_test = subsample(x_test, y_test, cfg.limit, seed=seed, stratify=stratify)
    return x, y, x_test, y_test


def _hold_out(
    cfg: DatasetConfig,
    x: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    source: str,
    fold: Fold | None,
    seed: int,
    notes: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Split the validation set off the training set: a cross-validation ``fold``, else ``validation_split``."""
    classify = task in ("binary", "multiclass")
    if fold is not None:
        if fold.stratified and not classify:
            raise DataError(
                f"error: {source}: stratified folds need class labels, but this is a {task} task; use unstratified folds (cv.stratified: false)"
            )
        train_idx, val_idx = fold_indices(
            y, fold.n_splits, stratified=fold.stratified, shuffle=fold.shuffle, seed=seed
        )[fold.index]
        notes.append(f"validation set: fold {fold.index} of {fold.n_splits} (0-based) of the training set")
        return x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    if cfg.validation_split > 0:
        x, x_val, y, y_val = split(
            x, y, cfg.validation_split, seed=seed, stratify=classify and cfg.stratify, what="validation"
        )
        return x, y, x_val, y_val
    return x, y, None, None
