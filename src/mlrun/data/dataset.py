"""Load a dataset from a config: read the source, encode the labels, split, scale.

:func:`load_dataset` returns numpy arrays split into train, validation and
test, with labels encoded for the task and inputs scaled with statistics from
the training set.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrun.config import DatasetConfig
from mlrun.data.preprocessing import Preprocessing, check_arrays, concat, encode_labels, fit_preprocessing, infer_task
from mlrun.data.sources import RawData, feature_names, read_source
from mlrun.data.splits import Fold, fold_indices, inner_split, split, subsample
from mlrun.errors import DataError

if TYPE_CHECKING:
    from mlrun.data.cleaner import Cleaner
    from mlrun.data.cleaning import Cleaned, CleanTable


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
    """What ``dataset.cleaning`` removed or changed (see :func:`mlrun.data.cleaning.clean_table`)."""
    positive_label: str | None = None
    """Binary tasks: the class scored as positive (``dataset.positive_label``, default the second
    class); :func:`mlrun.preflight.check_fits_data` checks that it is one of ``classes``."""
    test_is_training_data: bool = False
    """``test_size: 0``: the test set is a copy of the training data, so test metrics are training metrics."""
    x_fold: np.ndarray | None = None
    """The held-out cross-validation fold, when loaded with one: only scored, never fit on or watched by callbacks."""
    y_fold: np.ndarray | None = None
    fold_positions: dict[str, np.ndarray] | None = None
    """With a fold: the positions in the training set (after ``limit``) of the rows fit on (``train``),
    watched by callbacks (``val``, the inner validation split) and scored (``fold``)."""
    x_cal: np.ndarray | None = None
    """The calibration split (``dataset.calibration_split``): only ``evaluation.recalibrate`` fits on it;
    never fit on, watched by callbacks or scored. None without one, and always with a fold."""
    y_cal: np.ndarray | None = None

    def scored(self, on: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The data a run is evaluated on: ``test``, or ``validation`` (the held-out fold, else the validation set)."""
        if on == "test":
            return self.x_test, self.y_test
        if self.x_fold is not None:
            return self.x_fold, self.y_fold
        return self.x_val, self.y_val

    def recalibration_set(self, on: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """The data ``evaluation.recalibrate`` fits its std scale on, for a run scored on ``on``, and its name.

        The calibration split when there is one (it is never scored); else the validation split (with a
        cross-validation fold: the fold's inner validation split), never the scored data: a run scored on
        its validation split gets (None, None, why not).
        """
        if self.x_cal is not None:
            return self.x_cal, self.y_cal, "calibration"
        if on == "validation" and self.x_fold is None:
            return None, None, "this run is scored on its validation split, so the scale cannot be fitted there too"
        if self.x_val is None:
            return None, None, "there is no validation split to fit the scale on"
        return self.x_val, self.y_val, "inner_validation" if self.x_fold is not None else "validation"

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
            arrays = (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test)
            for arr in (*arrays, self.x_fold, self.y_fold, self.x_cal, self.y_cal):
                if arr is not None:
                    h.update(str(arr.shape).encode())
                    h.update(np.ascontiguousarray(arr).data)  # the buffer itself, no copy
            cached = self.__dict__["_fingerprint"] = h.hexdigest()[:16]
        return cached

    def summary(self, *, evaluate_on: str = "test") -> dict[str, Any]:
        """What run.json records about the data.

        ``n_train`` rows are fit on, ``n_val`` are watched by callbacks (validation data), ``n_cal``
        are held out for ``evaluation.recalibrate`` only (the calibration split; 0 without one) and
        ``n_scored`` are what the run is evaluated on (``evaluate_on``). Without a fold,
        ``n_train + n_val + n_cal`` is the size of the training set; with a fold (no calibration
        split), ``n_scored`` is the held-out fold and ``n_train + n_val + n_scored`` is.
        """
        scored, _ = self.scored(evaluate_on)
        return {
            "source": self.source,
            "task": self.task,
            "input_shape": list(self.input_shape),
            "classes": self.classes,
            "n_train": int(len(self.x_train)),
            "n_val": int(len(self.x_val)) if self.x_val is not None else 0,
            "n_cal": int(len(self.x_cal)) if self.x_cal is not None else 0,
            "n_test": int(len(self.x_test)),
            "n_scored": int(len(scored)) if scored is not None else 0,
            "fingerprint": self.fingerprint(),
            "notes": self.notes,
            **({"positive_label": self.positive_label} if self.positive_label is not None else {}),
            **({"test_is_training_data": True} if self.test_is_training_data else {}),
            **({"cleaning": self.cleaning} if self.cleaning is not None else {}),
        }


def load_dataset(
    cfg: DatasetConfig,
    *,
    seed: int,
    task: str | None = None,
    loss: str | None = None,
    base_dir: Path | None = None,
    fold: Fold | None = None,
    inner_validation: float | None = None,
) -> Dataset:
    """Load, split, encode and scale the dataset a config names.

    Args:
        cfg: the ``dataset`` block.
        seed: seeds every split and subsample.
        task: the config's ``task``, or None to infer it from the labels and ``loss``.
        loss: the config's ``loss``; with no ``task``, it decides whether whole-number
            labels are classes or a regression target (see :func:`infer_task`).
        base_dir: relative ``dataset.path`` values are resolved against it
            (default: the current directory).
        fold: hold out this cross-validation fold of the training set (after
            ``limit``) as ``x_fold``, only scored, instead of ``validation_split``.
            Scaling statistics come from the rows fit on.
        inner_validation: with a ``fold``, split this fraction of the fold's training part
            off (stratified for classification) as the validation set that callbacks
            watch; None: no validation set.
            A CSV's fill values and one-hot categories (``dataset.cleaning``) come from
            the rows fit on too.

    Without a ``fold``, ``dataset.calibration_split`` (a fraction of the training set) is then
    split off the rows the validation split left, as ``x_cal`` (seeded, unstratified); a fold
    ignores it and says so in ``notes``.

    Raises:
        ConfigError: no ``task`` is given and the labels and the loss leave it open.
        DataError: the data is missing, unreadable, or its labels do not fit
            ``task`` (or cannot be split into ``fold.n_splits`` folds).
    """
    seed = int(seed)
    raw = read_source(cfg, seed=seed, base_dir=base_dir)
    check_arrays(raw.x, raw.y, raw.source, "training")
    if raw.x_test is not None and raw.y_test is not None:
        check_arrays(raw.x_test, raw.y_test, raw.source, "test")
    labels = raw.y if raw.y_test is None else concat(raw.y, raw.y_test)
    task = task or raw.task or infer_task(labels, loss, source=raw.source)
    classes, y, y_test = encode_labels(task, raw.y, raw.y_test, raw.names, raw.source)
    stratify = task in ("binary", "multiclass") and cfg.stratify
    x, y, x_test, y_test = _train_and_test(cfg, raw, y, y_test, seed=seed, stratify=stratify)
    parts = _hold_out(cfg, x, y, task=task, source=raw.source, fold=fold, seed=seed, notes=raw.notes)
    if fold is not None and inner_validation is not None:
        parts = _inner_split(parts, inner_validation, seed=seed, stratify=stratify)
        raw.notes.append(
            f"inner validation split: {inner_validation} of the fold's training part, watched by callbacks "
            "(and fitted on by evaluation.recalibrate); "
            f"fold {fold.index} only scored"
        )
    if cfg.calibration_split > 0:
        parts = _calibration_split(parts, cfg.calibration_split, n_training=len(y), fold=fold, seed=seed)
        raw.notes.append(_calibration_note(cfg.calibration_split, fold, after_validation=parts.x_val is not None))
    cleaned, x_test = _clean(raw.table, parts, x_test)
    x, y, x_val, y_val = parts.x, parts.y, parts.x_val, parts.y_val

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
        positive_label=(cfg.positive_label or classes[1]) if task == "binary" else None,
        test_is_training_data=(raw.x_test is None or raw.y_test is None) and cfg.test_size == 0,
        x_fold=prep.apply(parts.x_fold) if parts.x_fold is not None else None,
        y_fold=parts.y_fold,
        fold_positions=parts.positions,
        x_cal=prep.apply(parts.x_cal) if parts.x_cal is not None else None,
        y_cal=parts.y_cal,
    )


def _clean(table: CleanTable | None, parts: _Parts, x_test: np.ndarray) -> tuple[Cleaned | None, np.ndarray]:
    """A cleaned CSV's parts are its row numbers until here: fit the cleaning on the rows fit on, then build
    every part's features (in place in ``parts``); return the fitted cleaning and the test features."""
    if table is None:
        return None, x_test
    cleaned = table.fit_transform(parts.x, parts.x_val, x_test)
    parts.x, parts.x_val = cleaned.x, cleaned.x_val
    if parts.x_fold is not None:
        parts.x_fold = table.features(cleaned.cleaner, parts.x_fold)
    if parts.x_cal is not None:
        parts.x_cal = table.features(cleaned.cleaner, parts.x_cal)
    return cleaned, cleaned.x_test


@dataclass
class _Parts:
    """The training set split for a run: rows fit on, validation rows, a held-out fold (with their positions)
    and the calibration rows."""

    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    x_fold: np.ndarray | None = None
    y_fold: np.ndarray | None = None
    positions: dict[str, np.ndarray] | None = None
    x_cal: np.ndarray | None = None
    y_cal: np.ndarray | None = None


def _calibration_split(parts: _Parts, fraction: float, *, n_training: int, fold: Fold | None, seed: int) -> _Parts:
    """Split ``fraction`` of the ``n_training`` rows of the training set off the rows left to fit on, as the
    calibration split; a cross-validation fold keeps its parts (its inner validation split is fitted on)."""
    if fold is not None:
        return parts
    x, x_cal, y, y_cal = split(
        parts.x,
        parts.y,
        fraction,
        seed=seed,
        stratify=False,
        what="calibration (dataset.calibration_split)",
        of=n_training,
    )
    return dataclasses.replace(parts, x=x, y=y, x_cal=x_cal, y_cal=y_cal)


def _calibration_note(fraction: float, fold: Fold | None, *, after_validation: bool) -> str:
    """What ``notes`` says about ``dataset.calibration_split``."""
    if fold is None:
        after = ", from the rows the validation split left" if after_validation else ""
        return (
            f"calibration split: {fraction} of the training set{after}, "
            "only for evaluation.recalibrate: never fit on, watched by callbacks or scored"
        )
    return (
        f"dataset.calibration_split ({fraction}) ignored under cross-validation: evaluation.recalibrate fits on "
        f"the inner validation split of the training part of fold {fold.index}"
    )


def _inner_split(parts: _Parts, fraction: float, *, seed: int, stratify: bool) -> _Parts:
    """Split ``fraction`` of a fold's training part off as the validation data callbacks watch."""
    assert parts.positions is not None, "_hold_out gives a fold's parts their positions"
    fit, val = inner_split(parts.y, fraction, seed=seed, stratify=stratify)
    train = parts.positions["train"]
    positions = {"train": train[fit], "val": train[val], "fold": parts.positions["fold"]}
    return _Parts(parts.x[fit], parts.y[fit], parts.x[val], parts.y[val], parts.x_fold, parts.y_fold, positions)


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
) -> _Parts:
    """Split the validation set off the training set: a cross-validation ``fold``, else ``validation_split``."""
    classify = task in ("binary", "multiclass")
    if fold is not None:
        if fold.stratified and not classify:
            raise DataError(
                f"error: {source}: stratified folds need class labels, but this is a {task} task; use unstratified folds (cv.stratified: false)"
            )
        train_idx, val_idx = fold_indices(
            y, fold.n_splits, stratified=fold.stratified, shuffle=fold.shuffle, seed=seed, n_repeats=fold.n_repeats
        )[fold.position]
        repeat = f" of repeat {fold.repeat} of {fold.n_repeats}" if fold.n_repeats > 1 else ""
        notes.append(
            f"held out: fold {fold.index} of {fold.n_splits}{repeat} (0-based) of the training set, only scored"
        )
        positions = {"train": train_idx, "val": np.array([], dtype=int), "fold": val_idx}
        return _Parts(x[train_idx], y[train_idx], x_fold=x[val_idx], y_fold=y[val_idx], positions=positions)
    if cfg.validation_split > 0:
        x, x_val, y, y_val = split(
            x, y, cfg.validation_split, seed=seed, stratify=classify and cfg.stratify, what="validation"
        )
        return _Parts(x, y, x_val, y_val)
    return _Parts(x, y)
