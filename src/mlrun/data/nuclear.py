"""``dataset: {name: nuclear_masses}``: the residuals of a theoretical nuclear mass table, to be learned.

The target is ``M_AME2012 - M_FRDM95`` (MeV): the measured mass excess of a nucleus (Wang et al.,
the 2012 Atomic Mass Evaluation) minus the one the finite-range droplet model predicts (Möller
et al. 1995), for every nucleus in both tables. A model that learns it refines FRDM95; the
residual's rms on held-out nuclei is what FRDM95 alone gets wrong, the model's rms what is left.

The inputs are ``Z, N, A``, the pairing parities ``Z_odd, N_odd`` and the distances of ``Z`` and
``N`` to the nearest magic number (2, 8, 20, 28, 50, 82, 126, 184): where shell effects peak.

Both tables come with the ``masstable`` package (MIT licence; ``pip install 'mlrun[nuclear]'``),
read here straight from its data files with numpy (its own pandas reader fails on pandas 3).
Nothing is downloaded and no table is copied into mlrun.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlrun.errors import DataError

NAME = "nuclear_masses"
MAGIC = np.array([2, 8, 20, 28, 50, 82, 126, 184])
FEATURES = ["Z", "N", "A", "Z_odd", "N_odd", "Z_magic_distance", "N_magic_distance"]
TARGET = "residual_MeV"
#: The measured table and the theory it refines, as masstable names its files.
MEASURED, THEORY = "AME2012", "FRDM95"


def table_dir() -> Path:
    """masstable's data directory.

    Raises:
        DataError: masstable is not installed, with the command that installs it.
    """
    import importlib.util

    spec = importlib.util.find_spec("masstable")
    if spec is None or spec.origin is None:
        raise DataError(
            f"error: dataset {NAME!r} reads the AME2012 and FRDM95 mass tables of the masstable package, "
            "which is not installed: pip install 'mlrun[nuclear]' (or pip install masstable)"
        )
    return Path(spec.origin).parent / "data"


def read_table(path: Path) -> dict[tuple[int, int], float]:
    """A masstable data file (columns ``Z N M``, mass excess in MeV) as {(Z, N): M}."""
    try:
        rows = np.loadtxt(path, skiprows=1, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DataError(f"error: cannot read the mass table {path} ({exc}); reinstall masstable") from None
    return {(int(z), int(n)): float(m) for z, n, m in rows}


def magic_distance(values: np.ndarray) -> np.ndarray:
    """The distance of each proton or neutron number to the nearest magic number.

    >>> magic_distance(np.array([8, 10, 82, 90])).tolist()
    [0, 2, 0, 8]
    """
    return np.abs(np.asarray(values)[:, None] - MAGIC[None, :]).min(axis=1)


def features(z: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The model's inputs for nuclei (Z, N): the columns of :data:`FEATURES`."""
    z, n = np.asarray(z), np.asarray(n)
    return np.c_[z, n, z + n, z % 2, n % 2, magic_distance(z), magic_distance(n)].astype(np.float32)


def load_masses() -> tuple[np.ndarray, np.ndarray]:
    """(inputs, residuals) of every nucleus in both tables, sorted by (Z, N)."""
    folder = table_dir()
    measured, theory = read_table(folder / f"{MEASURED}.txt"), read_table(folder / f"{THEORY}.txt")
    both = sorted(set(measured) & set(theory))
    if not both:
        raise DataError(f"error: {MEASURED} and {THEORY} share no nucleus in {folder}; reinstall masstable")
    zn = np.array(both)
    y = np.array([measured[k] - theory[k] for k in both], dtype=np.float32)
    return features(zn[:, 0], zn[:, 1]), y
