"""Synthetic datasets: scikit-learn's ``make_*`` generators and the truth tables of logic gates.

:func:`generate` turns a ``dataset: {name: synthetic, generator: ...}`` block
into arrays, seeded by the config's seed, so the same config always gives the
same data. It returns raw inputs and labels; :func:`mlrun.data.load_dataset`
splits, encodes and scales them like any other source.
"""

from __future__ import annotations

import itertools
from typing import TypeVar

import numpy as np

from mlrun.config import DatasetConfig
from mlrun.data.raw import RawData

T = TypeVar("T")

#: How many standard deviations of the targets a regression outlier is shifted by.
OUTLIER_SHIFT = 10.0


def generate(cfg: DatasetConfig, *, seed: int) -> RawData:
    """Generate the synthetic dataset a ``dataset`` block describes.

    Args:
        cfg: a ``dataset`` block with ``name: synthetic`` (its generator's defaults already filled in).
        seed: the config's seed; every generator is seeded with it.
    """
    if cfg.generator == "gate":
        return gate_data(
            _given(cfg.gate),
            n_inputs=_given(cfg.n_inputs),
            repeat=_given(cfg.repeat),
            noise=_given(cfg.noise),
            seed=seed,
        )
    if cfg.generator == "regression":
        return _regression(cfg, seed)
    if cfg.generator == "multilabel":
        return _multilabel(cfg, seed)
    x, y, params = _classes(cfg, seed)
    source = f"synthetic {cfg.generator} (n_samples={cfg.n_samples}, {params})"
    return RawData(x.astype(np.float32), y.astype(np.int64), None, None, None, None, source)


def _classes(cfg: DatasetConfig, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Inputs, class labels and the parameters shown in the source, of the classification, moons, circles or blobs generator."""
    from sklearn import datasets as skd

    g = cfg.generator
    if g == "classification":
        x, y = skd.make_classification(
            n_samples=cfg.n_samples,
            n_features=cfg.n_features,
            n_informative=cfg.n_informative,
            n_redundant=cfg.n_redundant,
            n_repeated=0,
            n_classes=cfg.n_classes,
            n_clusters_per_class=cfg.n_clusters_per_class,
            class_sep=cfg.class_sep,
            flip_y=cfg.flip_y,
            random_state=seed,
        )
        return (
            x,
            y,
            f"n_features={cfg.n_features}, n_classes={cfg.n_classes}, class_sep={cfg.class_sep}, flip_y={cfg.flip_y}",
        )
    if g == "moons":
        x, y = skd.make_moons(n_samples=cfg.n_samples, noise=cfg.noise, random_state=seed)
        return x, y, f"noise={cfg.noise}"
    if g == "circles":
        x, y = skd.make_circles(n_samples=cfg.n_samples, noise=cfg.noise, factor=cfg.factor, random_state=seed)
        return x, y, f"noise={cfg.noise}, factor={cfg.factor}"
    x, y = skd.make_blobs(
        n_samples=cfg.n_samples,
        n_features=cfg.n_features,
        centers=cfg.n_classes,
        cluster_std=cfg.cluster_std,
        random_state=seed,
    )
    return x, y, f"n_features={cfg.n_features}, n_classes={cfg.n_classes}, cluster_std={cfg.cluster_std}"


def _multilabel(cfg: DatasetConfig, seed: int) -> RawData:
    from sklearn.datasets import make_multilabel_classification

    x, y = make_multilabel_classification(
        n_samples=cfg.n_samples,
        n_features=cfg.n_features,
        n_classes=cfg.n_classes,
        n_labels=cfg.n_labels,
        random_state=seed,
    )
    names = [f"label_{i}" for i in range(_given(cfg.n_classes))]
    source = f"synthetic multilabel (n_samples={cfg.n_samples}, n_features={cfg.n_features}, n_classes={cfg.n_classes}, n_labels={cfg.n_labels})"
    return RawData(x.astype(np.float32), y.astype(np.int64), None, None, names, "multilabel", source)


def _given(value: T | None) -> T:
    """A parameter of the chosen generator: the dataset schema has filled in its default if it was left out."""
    if value is None:
        raise AssertionError("the dataset schema fills in every parameter of the chosen generator")
    return value


def gate_data(gate: str, *, n_inputs: int = 2, repeat: int = 1, noise: float = 0.0, seed: int = 0) -> RawData:
    """The truth table of a logic gate: the training set is ``repeat`` copies (inputs jittered by ``noise``),
    the test set the clean table itself.

    ``and``/``or``/``nand``/``nor`` combine all ``n_inputs``; ``xor`` is their parity (true for an odd
    number of ones).
    """
    table = np.array(list(itertools.product((0.0, 1.0), repeat=n_inputs)), dtype=np.float32)
    ones = table.sum(axis=1)
    out = {
        "and": ones == n_inputs,
        "or": ones >= 1,
        "nand": ones != n_inputs,
        "nor": ones == 0,
        "xor": ones % 2 == 1,
    }[gate].astype(np.int64)
    x = np.tile(table, (repeat, 1))
    y = np.tile(out, repeat)
    if noise > 0:
        x = x + np.random.default_rng(seed).normal(0.0, noise, size=x.shape).astype(np.float32)
    rows = ", ".join(f"{''.join(str(int(v)) for v in row)}->{label}" for row, label in zip(table[:8], out[:8]))
    more = " ..." if len(table) > 8 else ""
    source = f"synthetic {gate} gate ({n_inputs} inputs, {len(table)}-row truth table x {repeat}{f', noise {noise}' if noise else ''})"
    notes = [f"{gate} truth table: {rows}{more}; the test set is the clean truth table"]
    return RawData(x.astype(np.float32), y, table.copy(), out.copy(), ["0", "1"], "binary", source, notes)


def _regression(cfg: DatasetConfig, seed: int) -> RawData:
    from sklearn.datasets import make_regression
    from sklearn.model_selection import train_test_split

    x, y, coef = make_regression(
        n_samples=cfg.n_samples,
        n_features=cfg.n_features,
        n_informative=cfg.n_informative,
        n_targets=cfg.n_targets,
        noise=cfg.noise,
        bias=cfg.bias,
        coef=True,
        random_state=seed,
    )
    x, y = x.astype(np.float32), y.astype(np.float32)
    n_targets = _given(cfg.n_targets)
    names = ["target"] if n_targets == 1 else [f"target_{i}" for i in range(n_targets)]
    source = f"synthetic regression (n_samples={cfg.n_samples}, n_features={cfg.n_features}, noise={cfg.noise}"
    source += f", outliers={cfg.outliers})" if cfg.outliers else ")"
    notes = [_true_function(np.asarray(coef).reshape(_given(cfg.n_features), -1), _given(cfg.bias))]
    if not cfg.outliers:
        return RawData(x, y, None, None, names, "regression", source, notes)
    shift = OUTLIER_SHIFT * y.std(axis=0)
    # Outliers go into the training part only: the clean test set measures the fit to the true function.
    if cfg.test_size == 0:
        x_test, y_test = x.copy(), y.copy()
    else:
        x, x_test, y, y_test = train_test_split(x, y, test_size=cfg.test_size, random_state=seed)
    y = y.copy()
    rng = np.random.default_rng(seed)
    n_out = int(round(cfg.outliers * len(y)))
    rows = rng.choice(len(y), size=n_out, replace=False)
    y[rows] += shift
    notes.append(
        f"{n_out} of {len(y)} training targets shifted up by {OUTLIER_SHIFT:g} standard deviations (outliers); the test set is clean"
    )
    return RawData(x, y, x_test, y_test, names, "regression", source, notes)


def _true_function(coef: np.ndarray, bias: float) -> str:
    if coef.shape[1] > 1:
        return f"true function: linear in {coef.shape[0]} features, {coef.shape[1]} targets, bias {bias:g}"
    terms = " + ".join(f"{w:.3g}*x{i}" for i, w in enumerate(coef[:, 0]) if w != 0)
    return f"true function: y = {terms or '0'} + {bias:g} (+ noise)"
