"""Clean a CSV table before it becomes arrays: the lecture's "preparing the data" step.

:func:`clean_table` applies a ``dataset.cleaning`` block to the rows of a CSV
file, in a fixed order (drop columns, convert types, drop duplicates, handle
missing values, one-hot encode) and returns the feature matrix, the labels and
a record of what every step removed or changed. The record goes into run.json
(``dataset.cleaning``); :func:`describe` turns it into sentences. Pure Python
and numpy: no pandas, no Keras.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.preprocessing import OneHotEncoder

from mlrun.config import CleaningConfig
from mlrun.data.cells import (
    Cell,
    as_numbers,
    category_order,
    cell_key,
    cell_text,
    convert,
    fill_value,
    is_numeric,
    label_values,
    plain_number,
)
from mlrun.errors import DataError


def clean_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    labels: Sequence[str],
    cfg: CleaningConfig,
    *,
    source: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Apply the cleaning steps to a CSV table.

    Args:
        header: column names.
        rows: data rows, one string per column.
        labels: the label column(s).
        cfg: the ``dataset.cleaning`` block.
        source: the file, for messages.

    Returns:
        ``(x, y, record)``: float32 features, the labels (numbers where every
        label is a number, else text; a matrix for several label columns) and
        what cleaning did.

    Raises:
        DataError: a named column does not exist, a value cannot be converted,
            or missing values remain without a ``missing`` strategy.
    """
    t = _Table(source, list(header), [[c.strip() for c in r] for r in rows], list(range(2, len(rows) + 2)))
    record: dict[str, Any] = {"rows_before": len(rows), "columns_before": len(header)}
    na = {v.strip() for v in cfg.na_values}
    t.cols = [[None if v in na else v for v in col] for col in t.cols]

    _drop_columns(t, cfg, labels)
    record["dropped_columns"] = list(cfg.drop_columns)
    record["converted"] = _convert_types(t, cfg)
    if cfg.drop_duplicates:
        record["duplicates_dropped"] = _drop_duplicates(t)
    label_idx = [t.index(name, "label") for name in labels]
    features = [c for c in t.header if c not in labels]
    record["missing"] = _handle_missing(t, cfg, labels, label_idx, features, record)
    out_names, out_cols, record["one_hot"] = _encode_features(t, cfg, labels, features)
    if not out_cols:
        raise DataError(f"error: {source}: cleaning left no feature columns besides the label")
    if t.n_rows == 0:
        raise DataError(
            f"error: {source}: cleaning removed every row ({record['rows_before']} before); check dataset.cleaning"
        )
    x = np.stack(out_cols, axis=1).astype(np.float32)
    ys = [label_values(t.cols[i]) for i in label_idx]
    y = ys[0] if len(ys) == 1 else np.stack(ys, axis=1)
    record["rows_after"] = t.n_rows
    record["features"] = out_names
    return x, y, record


def describe(record: dict[str, Any]) -> list[str]:
    """What cleaning did, one sentence per step that changed something (for reports)."""
    out = [
        f"{record.get('rows_before', '?')} rows in, {record.get('rows_after', '?')} rows out; "
        f"{record.get('columns_before', '?')} columns in, {len(record.get('features') or [])} feature columns out"
    ]
    if record.get("dropped_columns"):
        out.append(f"dropped columns: {', '.join(record['dropped_columns'])}")
    for name, conv in (record.get("converted") or {}).items():
        out.append(f"converted {name} to {conv.get('to')} ({conv.get('changed', 0)} values reformatted)")
    if record.get("duplicates_dropped") is not None:
        out.append(f"dropped {record['duplicates_dropped']} duplicate rows")
    if record.get("rows_dropped_missing_label"):
        out.append(f"dropped {record['rows_dropped_missing_label']} rows without a label")
    for name, m in (record.get("missing") or {}).items():
        if m.get("strategy") == "drop":
            out.append(f"{name}: {m.get('count')} missing values, rows dropped")
        else:
            out.append(
                f"{name}: {m.get('count')} missing values filled with the {m.get('strategy', '').replace('_', ' ')} ({fill_value(m.get('fill'))})"
            )
    if record.get("rows_dropped_missing"):
        out.append(f"dropped {record['rows_dropped_missing']} rows with missing values in total")
    for name, cats in (record.get("one_hot") or {}).items():
        shown = ", ".join(cats[:8]) + (f", ... ({len(cats)} in all)" if len(cats) > 8 else "")
        out.append(f"one-hot encoded {name} into {len(cats)} columns: {shown}")
    return out


def _drop_columns(t: _Table, cfg: CleaningConfig, labels: Sequence[str]) -> None:
    """Step 1: drop ``drop_columns`` (never a label column)."""
    for name in cfg.drop_columns:
        t.index(name, "drop_columns")
        if name in labels:
            raise DataError(
                f"error: {t.source}: dataset.cleaning.drop_columns: {name!r} is the label column; set dataset.label to another column"
            )
    t.keep_columns([c for c in t.header if c not in cfg.drop_columns])


def _convert_types(t: _Table, cfg: CleaningConfig) -> dict[str, dict[str, Any]]:
    """Step 2: convert the ``dtypes`` columns; return, per column, the type and how many values changed."""
    converted: dict[str, dict[str, Any]] = {}
    for name, kind in cfg.dtypes.items():
        i = t.index(name, "dtypes")
        changed = 0
        values: list[Cell] = []
        for value, line in zip(t.cols[i], t.lines):
            if value is None:
                values.append(None)
                continue
            new = convert(value, kind)
            if new is None:
                raise DataError(
                    f"error: {t.source} line {line}, column {name!r}: cannot convert {value!r} to {kind} (dataset.cleaning.dtypes); "
                    f"fix the value, or add it to dataset.cleaning.na_values to treat it as missing"
                )
            changed += plain_number(value) != new
            values.append(new)
        t.cols[i] = values
        converted[name] = {"to": kind, "changed": int(changed)}
    return converted


def _drop_duplicates(t: _Table) -> int:
    """Step 3: keep the first of identical rows; return how many were dropped."""
    seen: set[tuple[Cell, ...]] = set()
    keep = []
    for r in range(t.n_rows):
        key = tuple(cell_key(col[r]) for col in t.cols)
        if key not in seen:
            seen.add(key)
            keep.append(r)
    dropped = t.n_rows - len(keep)
    t.keep_rows(keep)
    return dropped


def _encode_features(
    t: _Table, cfg: CleaningConfig, labels: Sequence[str], features: list[str]
) -> tuple[list[str], list[np.ndarray], dict[str, list[str]]]:
    """Step 5: one-hot encode the ``one_hot`` columns (``auto``: the text ones), parse the others as numbers.

    Returns:
        The output feature names, their columns, and the categories of each encoded column.
    """
    numeric = {c: is_numeric(t.cols[t.index(c, "")]) for c in features}
    if cfg.one_hot == "auto":
        one_hot = [c for c in features if not numeric[c]]
    else:
        one_hot = list(cfg.one_hot)
        for name in one_hot:
            t.index(name, "one_hot")
            if name in labels:
                raise DataError(
                    f"error: {t.source}: dataset.cleaning.one_hot: {name!r} is the label column; the labels are encoded from the task"
                )
    encoded: dict[str, list[str]] = {}
    out_names: list[str] = []
    out_cols: list[np.ndarray] = []
    for name in features:
        col = t.cols[t.index(name, "")]
        if name in one_hot:
            texts = np.array([cell_text(v) for v in col], dtype=object).reshape(-1, 1)
            categories = sorted(set(texts[:, 0]), key=category_order)
            encoded[name] = categories
            onehot = OneHotEncoder(categories=[categories], sparse_output=False, dtype=np.float64).fit_transform(texts)
            out_names += [f"{name}={cat}" for cat in categories]
            out_cols += list(onehot.T)
        else:
            out_names.append(name)
            out_cols.append(_numeric(col, name, t))
    return out_names, out_cols, encoded


class _Table:
    """Columns of cells with the file line of each row, shrinking as rows and columns are dropped."""

    def __init__(self, source: str, header: list[str], rows: list[list[str]], lines: list[int]) -> None:
        self.source = source
        self.header = header
        self.cols: list[list[Cell]] = [list(col) for col in zip(*rows)] if rows else [[] for _ in header]
        self.lines = lines

    @property
    def n_rows(self) -> int:
        return len(self.lines)

    def index(self, name: str, key: str) -> int:
        if name in self.header:
            return self.header.index(name)
        hint = difflib.get_close_matches(name, self.header, n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        where = f"dataset.cleaning.{key}: " if key and key != "label" else ""
        raise DataError(f"error: {self.source}: {where}no column {name!r}{did}; the columns are {self.header}")

    def keep_columns(self, names: list[str]) -> None:
        idx = [self.header.index(n) for n in names]
        self.header = names
        self.cols = [self.cols[i] for i in idx]

    def keep_rows(self, rows: list[int]) -> None:
        self.cols = [[col[r] for r in rows] for col in self.cols]
        self.lines = [self.lines[r] for r in rows]


def _handle_missing(
    t: _Table,
    cfg: CleaningConfig,
    labels: Sequence[str],
    label_idx: list[int],
    features: list[str],
    record: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Step 4: drop rows without a label, then drop or fill missing feature values by their column's strategy.

    Returns:
        Per column with missing values: how many, the strategy, and the fill value.
    """
    no_label = [r for r in range(t.n_rows) if any(t.cols[i][r] is None for i in label_idx)]
    if cfg.missing is None:
        if no_label:
            raise DataError(
                f"error: {t.source} line {t.lines[no_label[0]]}: the label is missing ({len(no_label)} rows); "
                "set dataset.cleaning.missing (rows without a label are then dropped)"
            )
        return {}
    if no_label:
        dropped = set(no_label)
        t.keep_rows([r for r in range(t.n_rows) if r not in dropped])
    record["rows_dropped_missing_label"] = len(no_label)
    strategies = _missing_strategies(t, cfg.missing, labels, features)
    counts = {c: sum(v is None for v in t.cols[t.index(c, "")]) for c in features}
    unhandled = [c for c in features if counts[c] and c not in strategies]
    if unhandled:
        raise DataError(
            f"error: {t.source}: columns {unhandled} have missing values but no strategy in dataset.cleaning.missing; "
            f"add them, e.g. missing: {{{unhandled[0]}: most_frequent}}"
        )
    out: dict[str, dict[str, Any]] = {}
    drop = {
        r for c in features if strategies.get(c) == "drop" for r, v in enumerate(t.cols[t.index(c, "")]) if v is None
    }
    for c in features:
        if counts[c] and strategies[c] == "drop":
            out[c] = {"count": counts[c], "strategy": "drop"}
    if drop:
        t.keep_rows([r for r in range(t.n_rows) if r not in drop])
    record["rows_dropped_missing"] = len(drop)
    for c in features:
        if counts[c] and strategies[c] != "drop":
            out[c] = _fill_missing(t, c, strategies[c])
    return out


def _missing_strategies(
    t: _Table, missing: str | Mapping[str, str], labels: Sequence[str], features: list[str]
) -> dict[str, str]:
    """The strategy of each feature column: one for all, or those named per column (never a label column)."""
    if isinstance(missing, str):
        return dict.fromkeys(features, missing)
    for name in missing:
        t.index(name, "missing")
        if name in labels:
            raise DataError(
                f"error: {t.source}: dataset.cleaning.missing: {name!r} is the label column; rows without a label are always dropped"
            )
    return dict(missing)


def _fill_missing(t: _Table, column: str, strategy: str) -> dict[str, Any]:
    """Fill ``column``'s missing values: its mean or median (numbers only), else its most frequent value."""
    i = t.index(column, "")
    present = [v for v in t.cols[i] if v is not None]
    n_missing = sum(v is None for v in t.cols[i])
    if not present:
        raise DataError(
            f"error: {t.source}: column {column!r} has no values at all to fill its missing ones from; drop it (dataset.cleaning.drop_columns)"
        )
    numbers = as_numbers(present)
    if strategy in ("mean", "median") and numbers is not None:
        fill: Cell = float(np.mean(numbers) if strategy == "mean" else np.median(numbers))
    else:
        strategy = "most_frequent"  # also for text columns under mean/median, as documented
        fill = Counter(cell_key(v) for v in present).most_common(1)[0][0]
    t.cols[i] = [fill if v is None else v for v in t.cols[i]]
    return {"count": n_missing, "strategy": strategy, "fill": fill}


def _numeric(col: Sequence[Cell], name: str, t: _Table) -> np.ndarray:
    out = np.empty(len(col), dtype=np.float64)
    for r, v in enumerate(col):
        if v is None:
            raise DataError(
                f"error: {t.source} line {t.lines[r]}, column {name!r} is missing: "
                "set dataset.cleaning.missing (drop, mean, median or most_frequent), or drop the column"
            )
        number = v if isinstance(v, float) else plain_number(v)
        if number is None or not np.isfinite(number):
            raise DataError(
                f"error: {t.source} line {t.lines[r]}, column {name!r} is not a number ({v!r}): one-hot encode it "
                f"(dataset.cleaning.one_hot: [{name}]), convert it (dataset.cleaning.dtypes) or drop it (drop_columns)"
            )
        out[r] = number
    return out
