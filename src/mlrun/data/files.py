"""Datasets in files: NPZ archives and CSV tables (optionally cleaned by ``dataset.cleaning``)."""

from __future__ import annotations

import csv
import math
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlrun.config import CleaningConfig, DatasetConfig
from mlrun.errors import DataError

if TYPE_CHECKING:
    from mlrun.data.cleaning import CleanTable

#: What a source gives: ``(x, y, x_test, y_test, names, task, source)``.
SourceArrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, list[str] | None, str | None, str]


def dataset_path(cfg: DatasetConfig, base_dir: Path | None) -> Path:
    """``dataset.path``; a relative path that does not exist here is looked up beside the config (``base_dir``)."""
    if cfg.path is None:
        raise ValueError("the dataset config names no file (dataset.path is unset)")
    path = Path(cfg.path)
    if base_dir is not None and not path.is_absolute() and not path.exists():
        path = Path(base_dir) / path
    return path


def csv_header(path: Path) -> list[str]:
    """The first non-blank row of a CSV file, its cells stripped."""
    with open(path, encoding="utf-8", newline="") as f:
        header = next((r for r in csv.reader(f) if any(c.strip() for c in r)), [])
    return [h.strip() for h in header]


def load_file(path: Path, label: str | list[str]) -> SourceArrays:
    """Read an NPZ or CSV dataset file.

    Returns:
        ``(x, y, x_test, y_test, names, task, source)``: the test arrays only when the NPZ file has them;
        ``names`` and ``task`` are None (a file does not say them).
    """
    if not path.exists():
        raise DataError(
            f"error: dataset.path {path} does not exist (a relative path is looked up in the current directory, then beside the config file)"
        )
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return (*load_npz(path), None, None, str(path))
    if suffix in (".csv", ".txt"):
        x, y = _load_csv(path, label)
        return x, y, None, None, None, None, str(path)
    raise DataError(f"error: dataset.path {path}: unsupported file type {suffix!r}; use a .csv or .npz file")


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Read ``x`` and ``y`` (or ``x_train``, ``y_train``, ``x_test``, ``y_test``) from an NPZ file; never unpickles."""
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


def load_clean_csv(path: Path, label: str | list[str], cleaning: CleaningConfig) -> CleanTable:
    """Read a CSV file and run the cleaning steps that learn nothing (see :func:`mlrun.data.cleaning.prepare_table`)."""
    from mlrun.data.cleaning import prepare_table

    if not path.exists():
        raise DataError(
            f"error: dataset.path {path} does not exist (a relative path is looked up in the current directory, then beside the config file)"
        )
    header, rows, labels = read_csv_table(path, label)
    return prepare_table(header, rows, labels, cleaning, source=str(path))


def _load_csv(path: Path, label: str | list[str]) -> tuple[np.ndarray, np.ndarray]:
    header, rows, labels = read_csv_table(path, label)
    features = [c for c in header if c not in labels]
    data = np.array(rows, dtype=object)
    cols = {c: data[:, header.index(c)] for c in header}
    x = np.stack([numeric_column(cols[c], c, path) for c in features], axis=1).astype(np.float32)
    ys = [_label_column(cols[c]) for c in labels]
    y = ys[0] if len(ys) == 1 else np.stack(ys, axis=1)
    return x, y


def numeric_column(values: np.ndarray, name: str, path: Path) -> np.ndarray:
    """Parse a CSV column of feature values as float64; a DataError names the line of the first bad value."""
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
