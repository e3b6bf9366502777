"""Splits of the training data: a held-out fraction, a stratified subsample, k-fold cross-validation.

Pure index arithmetic over scikit-learn's splitters; nothing here reads a file or touches a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlrun.data.preprocessing import label_name
from mlrun.errors import DataError


@dataclass(frozen=True)
class Fold:
    """One fold of (repeated) k-fold cross-validation over the training set.

    Fold ``index`` (0-based) of repeat ``repeat`` is held out for validation.
    With ``n_repeats == 1`` (plain k-fold) ``repeat`` is always 0.
    """

    index: int
    n_splits: int
    stratified: bool = True
    """Keep each class's share in every fold (sklearn's StratifiedKFold); binary and multiclass only."""
    shuffle: bool = True
    """Shuffle before splitting (seeded by the config's seed), as sklearn's ``shuffle=True``."""
    repeat: int = 0
    """Which repetition of the k-fold split (0-based), as sklearn's RepeatedKFold."""
    n_repeats: int = 1
    """How many times the k-fold split is repeated, each time shuffled differently."""

    def __post_init__(self) -> None:
        if self.n_splits < 2:
            raise ValueError(f"n_splits must be at least 2 (got {self.n_splits})")
        if not 0 <= self.index < self.n_splits:
            raise ValueError(f"fold index must be in 0..{self.n_splits - 1} (got {self.index})")
        if self.n_repeats < 1 or not 0 <= self.repeat < self.n_repeats:
            raise ValueError(f"repeat must be in 0..{self.n_repeats - 1} (got {self.repeat} of {self.n_repeats})")

    @property
    def position(self) -> int:
        """The fold's place among all ``n_splits * n_repeats`` folds, repeat-major: ``repeat * n_splits + index``.

        >>> Fold(1, 5, repeat=2, n_repeats=3).position
        11
        """
        return self.repeat * self.n_splits + self.index

    @property
    def label(self) -> str:
        """``f1`` for fold 1 of plain k-fold, ``r2f1`` for fold 1 of repeat 2."""
        return f"r{self.repeat}f{self.index}" if self.n_repeats > 1 else f"f{self.index}"

    def as_list(self) -> list[bool | int]:
        """Plain data that :class:`Fold` can be rebuilt from (``Fold(*fold.as_list())``); the repeat only when repeated."""
        head: list[bool | int] = [self.index, self.n_splits, self.stratified, self.shuffle]
        return [*head, self.repeat, self.n_repeats] if self.n_repeats > 1 else head


def fold_indices(
    y: np.ndarray, n_splits: int, *, stratified: bool, shuffle: bool, seed: int, n_repeats: int = 1
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return the (train, validation) index arrays of every fold: sklearn's KFold or StratifiedKFold.

    Pure index arithmetic over the labels ``y``; the same arguments give the same folds.
    With ``n_repeats > 1`` the folds are sklearn's RepeatedKFold / RepeatedStratifiedKFold
    (``random_state=seed``, always shuffled): ``n_splits * n_repeats`` folds, repeat-major,
    so fold ``i`` of repeat ``r`` is at position ``r * n_splits + i``.

    Raises:
        DataError: there are fewer samples (stratified: members of a class) than folds.
        ValueError: ``n_repeats > 1`` without ``shuffle`` (every repeat would be the same split).
    """
    from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, StratifiedKFold

    if n_repeats > 1 and not shuffle:
        raise ValueError("repeated k-fold reshuffles every repeat; n_repeats > 1 needs shuffle=True")

    y = np.asarray(y)
    if len(y) < n_splits:
        raise DataError(
            f"error: {len(y)} training samples cannot be split into {n_splits} folds; use fewer folds (cv.n_splits) or more data"
        )
    kwargs = {"n_splits": n_splits, "shuffle": shuffle, "random_state": seed if shuffle else None}
    repeated = {"n_splits": n_splits, "n_repeats": n_repeats, "random_state": seed}
    if not stratified:
        if n_repeats > 1:
            return list(RepeatedKFold(**repeated).split(np.zeros(len(y))))
        return list(KFold(**kwargs).split(np.zeros(len(y))))
    labels, counts = np.unique(y, return_counts=True)
    if counts.min() < n_splits:
        raise DataError(
            f"error: class {label_name(labels[counts.argmin()])!r} has {counts.min()} training samples, fewer than the "
            f"{n_splits} folds, so a stratified split cannot put it in every fold; use fewer folds (cv.n_splits), "
            "more data (dataset.limit), or cv.stratified: false"
        )
    if n_repeats > 1:
        return list(RepeatedStratifiedKFold(**repeated).split(np.zeros(len(y)), y))
    return list(StratifiedKFold(**kwargs).split(np.zeros(len(y)), y))


def _can_stratify(y: np.ndarray, n_small: int) -> bool:
    _, counts = np.unique(y, return_counts=True)
    return y.ndim == 1 and counts.min() >= 2 and n_small >= len(counts) and len(y) - n_small >= len(counts)


def split(x, y, fraction: float, *, seed: int, stratify: bool, what: str, of: int | None = None):
    """Split ``ceil(fraction * of)`` samples off ``x`` and ``y`` (default ``of``: all of them); seeded.

    Returns ``(x_rest, x_part, y_rest, y_part)``, as scikit-learn's ``train_test_split``. ``of`` counts the
    samples the fraction is of when ``x`` is what an earlier split left (the calibration split is a fraction
    of the whole training set, taken from what the validation split left).

    >>> x_rest, x_part, _, _ = split(np.arange(8), np.zeros(8), 0.25, seed=0, stratify=False, what="a", of=12)
    >>> len(x_rest), len(x_part)
    (5, 3)

    Raises:
        DataError: the split would leave no sample on one side.
    """
    from sklearn.model_selection import train_test_split

    n_small = math.ceil((len(x) if of is None else of) * fraction)
    if n_small < 1 or n_small >= len(x):
        if of is not None:
            raise DataError(
                f"error: a {what} split of {fraction} of {of} samples takes {n_small}, but only {len(x)} are left "
                "after the earlier splits, so none would be trained on; use more data or lower the splits"
            )
        raise DataError(
            f"error: {len(x)} samples are too few for a {what} split of {fraction}; use more data or change the split"
        )
    strat = y if stratify and _can_stratify(y, n_small) else None
    # The count: of a fraction sklearn takes ceil(fraction * len(x)), so without `of` the split is as it was.
    return train_test_split(x, y, test_size=n_small, random_state=seed, stratify=strat)


def subsample(x, y, limit: int, *, seed: int, stratify: bool):
    if len(x) <= limit:
        return x, y
    from sklearn.model_selection import train_test_split

    strat = y if stratify and _can_stratify(y, limit) else None
    xs, _, ys, _ = train_test_split(x, y, train_size=limit, random_state=seed, stratify=strat)
    return xs, ys


def inner_split(y: np.ndarray, fraction: float, *, seed: int, stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(y)-1`` into (fit, validation) index arrays: ``fraction`` of them for validation.

    The inner validation split of a cross-validation fold's training part: the data that early
    stopping and a plateau schedule watch, so the held-out fold is only scored. Stratified by
    ``y`` when ``stratify`` and every class can be split. Pure index arithmetic, seeded.

    >>> fit, val = inner_split(np.array([0, 1] * 10), 0.2, seed=0, stratify=True)
    >>> len(fit), len(val), np.bincount(np.array([0, 1] * 10)[val]).tolist()
    (16, 4, [2, 2])

    Raises:
        DataError: the fraction leaves no sample on one side.
    """
    positions = np.arange(len(y))
    fit, val = split(
        positions, np.asarray(y), fraction, seed=seed, stratify=stratify, what="validation (sweep.cv.inner_validation)"
    )[0:2]
    return np.sort(fit), np.sort(val)
