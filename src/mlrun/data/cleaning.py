"""Clean a CSV table before it becomes arrays: the lecture's "preparing the data" step.

Cleaning runs in two stages, so that nothing is learned from the validation and test rows:

1. :func:`prepare_table` runs the steps that learn nothing, on the whole file, in
   this order: drop columns, convert types, drop duplicates, drop rows without a
   label and (``missing: drop``) rows with a missing value. It checks every
   column and decides each one's fill strategy and whether it is one-hot encoded.
2. The :class:`~mlrun.data.cleaner.Cleaner` it returns learns the fill values and
   the one-hot categories from the training rows only, once the splits are known
   (:meth:`CleanTable.fit_transform`), and transforms every row with them.

The record of what each step did goes into run.json (``dataset.cleaning``);
:func:`describe` turns it into sentences. No pandas, no Keras.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrun.config import CleaningConfig
from mlrun.data.cells import Cell, Table, cell_key, convert_types, fill_value, is_numeric, label_values, numeric_cells
from mlrun.data.cleaner import FILL_STRATEGIES, Cleaner
from mlrun.errors import DataError


@dataclass
class Cleaned:
    """The feature matrices of the training, validation and test rows, and the cleaner fitted on the training rows."""

    x: np.ndarray
    x_val: np.ndarray | None
    x_test: np.ndarray
    cleaner: Cleaner
    record: dict[str, Any]
    """What cleaning did (run.json ``dataset.cleaning``), fill values and categories from the training rows."""


@dataclass
class CleanTable:
    """A CSV table after the cleaning steps that learn nothing, and the (unfitted) cleaner of its features."""

    source: str
    cols: list[list[Cell]]
    """The cells of each feature column, in ``cleaner.columns`` order (None: missing)."""
    lines: list[int]
    """The file line of each row."""
    y: np.ndarray
    record: dict[str, Any]
    cleaner: Cleaner

    @property
    def n_rows(self) -> int:
        return len(self.lines)

    def fit_transform(self, train: np.ndarray, val: np.ndarray | None, test: np.ndarray) -> Cleaned:
        """Fit the cleaner on the ``train`` rows (row numbers), then build the features of every part."""
        cleaner = self.cleaner.fit(self._cells(train), source=self.source)
        record = {
            **self.record,
            "missing": {c: {**m, **_fill_of(cleaner, c)} for c, m in self.record["missing"].items()},
            "one_hot": cleaner.categories,
            "features": cleaner.features,
            "fitted_on_rows": cleaner.n_fit,
        }
        return Cleaned(
            self.features(cleaner, train),
            None if val is None else self.features(cleaner, val),
            self.features(cleaner, test),
            cleaner,
            record,
        )

    def _cells(self, rows: np.ndarray) -> list[list[Cell]]:
        return [[col[r] for r in rows] for col in self.cols]

    def features(self, cleaner: Cleaner, rows: np.ndarray) -> np.ndarray:
        """The features of ``rows`` (row numbers) as ``cleaner`` (fitted on the training rows) makes them."""
        return cleaner.transform(self._cells(rows), [self.lines[r] for r in rows], source=self.source)


def clean_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    labels: Sequence[str],
    cfg: CleaningConfig,
    *,
    source: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Apply every cleaning step to a CSV table, learning fill values and categories from all of its rows.

    For a table that is all training data; :func:`mlrun.data.load_dataset` fits on the training rows instead.

    Returns:
        ``(x, y, record)``: float32 features, the labels and what cleaning did.
    """
    table = prepare_table(header, rows, labels, cfg, source=source)
    every = np.arange(table.n_rows)
    cleaned = table.fit_transform(every, None, every[:0])
    return cleaned.x, table.y, cleaned.record


def prepare_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    labels: Sequence[str],
    cfg: CleaningConfig,
    *,
    source: str,
) -> CleanTable:
    """Run the cleaning steps that learn nothing on a whole CSV table, and check every column.

    Args:
        header: column names.
        rows: data rows, one string per column.
        labels: the label column(s).
        cfg: the ``dataset.cleaning`` block.
        source: the file, for messages.

    Returns:
        The table's converted feature cells, labels (numbers where every label is a number, else
        text; a matrix for several label columns), the record so far, and the cleaner to fit.

    Raises:
        DataError: a named column does not exist, a value cannot be converted, a feature column
            is not numeric and not one-hot encoded, or missing values remain without a ``missing`` strategy.
    """
    t = Table(source, header, rows, cfg.na_values)
    record: dict[str, Any] = {"rows_before": len(rows), "columns_before": len(header)}
    _drop_columns(t, cfg, labels)
    record["dropped_columns"] = list(cfg.drop_columns)
    record["converted"] = convert_types(t, cfg.dtypes)
    if cfg.drop_duplicates:
        record["duplicates_dropped"] = _drop_duplicates(t)
    label_idx = [t.index(name, "label") for name in labels]
    features = [c for c in t.header if c not in labels]
    strategies = _handle_missing(t, cfg, labels, label_idx, features, record)
    one_hot = _one_hot_columns(t, cfg, labels, features)
    _check_numbers(t, [c for c in features if c not in one_hot], strategies)
    if not features:
        raise DataError(f"error: {source}: cleaning left no feature columns besides the label")
    if t.n_rows == 0:
        raise DataError(
            f"error: {source}: cleaning removed every row ({record['rows_before']} before); check dataset.cleaning"
        )
    ys = [label_values(t.cols[i]) for i in label_idx]
    record["rows_after"] = t.n_rows
    cleaner = Cleaner(
        columns=features,
        labels=list(labels),
        dropped=list(cfg.drop_columns),
        na_values=list(cfg.na_values),
        dtypes=dict(cfg.dtypes),
        missing=strategies,
        encoded=one_hot,
    )
    cols = [t.column(name) for name in features]
    return CleanTable(source, cols, t.lines, ys[0] if len(ys) == 1 else np.stack(ys, axis=1), record, cleaner)


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
    fitted = f" of the {record['fitted_on_rows']} training rows" if record.get("fitted_on_rows") is not None else ""
    for name, m in (record.get("missing") or {}).items():
        if m.get("strategy") == "drop":
            out.append(f"{name}: {m.get('count')} missing values, rows dropped")
        else:
            out.append(
                f"{name}: {m.get('count')} missing values filled with the {m.get('strategy', '').replace('_', ' ')}"
                f"{fitted} ({fill_value(m.get('fill'))})"
            )
    if record.get("rows_dropped_missing"):
        out.append(f"dropped {record['rows_dropped_missing']} rows with missing values in total")
    for name, cats in (record.get("one_hot") or {}).items():
        shown = ", ".join(cats[:8]) + (f", ... ({len(cats)} in all)" if len(cats) > 8 else "")
        of = f" (the categories of the {record['fitted_on_rows']} training rows)" if fitted else ""
        out.append(f"one-hot encoded {name} into {len(cats)} columns{of}: {shown}")
    return out


def _fill_of(cleaner: Cleaner, column: str) -> dict[str, Any]:
    return {"fill": cleaner.fill[column]} if column in cleaner.fill else {}


def _drop_columns(t: Table, cfg: CleaningConfig, labels: Sequence[str]) -> None:
    """Step 1: drop ``drop_columns`` (never a label column)."""
    for name in cfg.drop_columns:
        t.index(name, "drop_columns")
        if name in labels:
            raise DataError(
                f"error: {t.source}: dataset.cleaning.drop_columns: {name!r} is the label column; set dataset.label to another column"
            )
    t.keep_columns([c for c in t.header if c not in cfg.drop_columns])


def _drop_duplicates(t: Table) -> int:
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


def _check_numbers(t: Table, columns: list[str], strategies: dict[str, str]) -> None:
    """Step 5, checked on every row: the columns not one-hot encoded are numbers (missing ones to be filled)."""
    for name in columns:
        numeric_cells(t.column(name), name, t.lines, t.source, missing_ok=strategies.get(name) in FILL_STRATEGIES)


def _one_hot_columns(t: Table, cfg: CleaningConfig, labels: Sequence[str], features: list[str]) -> list[str]:
    """The columns to one-hot encode: ``one_hot``, or (``auto``) the feature columns that are not numeric."""
    if cfg.one_hot == "auto":
        return [c for c in features if not is_numeric(t.column(c))]
    for name in cfg.one_hot:
        t.index(name, "one_hot")
        if name in labels:
            raise DataError(
                f"error: {t.source}: dataset.cleaning.one_hot: {name!r} is the label column; the labels are encoded from the task"
            )
    return list(cfg.one_hot)


def _handle_missing(
    t: Table,
    cfg: CleaningConfig,
    labels: Sequence[str],
    label_idx: list[int],
    features: list[str],
    record: dict[str, Any],
) -> dict[str, str]:
    """Step 4: drop rows without a label, and rows with a missing value in a ``drop`` column.

    Records, per column with missing values, how many and the strategy (``record["missing"]``).

    Returns:
        The strategy of each feature column that has one (``mean`` and ``median`` of a text column
        are ``most_frequent``, as documented); its fill value is learned later, from the training rows.
    """
    record["missing"] = {}
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
    counts = {c: sum(v is None for v in t.column(c)) for c in features}
    unhandled = [c for c in features if counts[c] and c not in strategies]
    if unhandled:
        raise DataError(
            f"error: {t.source}: columns {unhandled} have missing values but no strategy in dataset.cleaning.missing; "
            f"add them, e.g. missing: {{{unhandled[0]}: most_frequent}}"
        )
    drop = {r for c in features if strategies.get(c) == "drop" for r, v in enumerate(t.column(c)) if v is None}
    if drop:
        t.keep_rows([r for r in range(t.n_rows) if r not in drop])
    record["rows_dropped_missing"] = len(drop)
    for c, strategy in strategies.items():
        if strategy in ("mean", "median") and not is_numeric(t.column(c)):
            strategies[c] = "most_frequent"
    record["missing"] = {c: {"count": counts[c], "strategy": strategies[c]} for c in features if counts[c]}
    return strategies


def _missing_strategies(
    t: Table, missing: str | Mapping[str, str], labels: Sequence[str], features: list[str]
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
