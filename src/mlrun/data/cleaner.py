"""The cleaning steps that learn from data: fill values and one-hot categories, fitted on training rows.

A :class:`Cleaner` is made unfitted by :func:`mlrun.data.cleaning.prepare_table`
(which columns to fill and how, which to one-hot encode), fitted on the rows the
model trains on (scikit-learn's ``SimpleImputer`` learns each fill value), and
then transforms any rows: training, validation, test, and at predict time raw
CSV rows (:meth:`Cleaner.replay`). Categories unseen in the training rows encode
as all zeros (``OneHotEncoder(handle_unknown="ignore")``). preprocessing.json
records the fitted cleaner (:meth:`Cleaner.to_dict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mlrun.data.cells import Cell, Table, as_numbers, category_order, cell_key, cell_text, convert_types, numeric_cells
from mlrun.errors import DataError

#: The ``missing`` strategies that fill a value (``drop`` drops the row instead).
FILL_STRATEGIES = ("mean", "median", "most_frequent")


@dataclass
class Cleaner:
    """How feature cells become model inputs: fill missing values, one-hot encode, parse numbers."""

    columns: list[str]
    """The feature columns, in order (the CSV's columns less the labels and ``drop_columns``)."""
    labels: list[str]
    dropped: list[str]
    """``drop_columns``: ignored when present in raw rows at predict time."""
    na_values: list[str]
    dtypes: dict[str, str]
    missing: dict[str, str]
    """The strategy of each column that has one: ``drop`` or one of :data:`FILL_STRATEGIES`."""
    encoded: list[str]
    """The one-hot encoded columns."""
    fill: dict[str, Cell] = field(default_factory=dict)
    """Fitted: the fill value of each column with a fill strategy (a statistic of the training rows)."""
    categories: dict[str, list[str]] = field(default_factory=dict)
    """Fitted: the categories of each one-hot column (those of the training rows, after filling)."""
    n_fit: int = 0
    """Fitted: how many training rows the fill values and categories come from."""

    @property
    def features(self) -> list[str]:
        """The model's input feature names: ``column=category`` for one-hot columns."""
        out: list[str] = []
        for name in self.columns:
            out += [f"{name}={cat}" for cat in self.categories[name]] if name in self.encoded else [name]
        return out

    def fit(self, cols: Sequence[Sequence[Cell]], *, source: str) -> Cleaner:
        """Learn the fill values and categories from the training rows' cells (one list per column).

        Raises:
            DataError: a column to fill has no value in the training rows.
        """
        n = len(cols[0]) if cols else 0
        fill: dict[str, Cell] = {}
        categories: dict[str, list[str]] = {}
        for name, col in zip(self.columns, cols):
            strategy = self.missing.get(name)
            if strategy in FILL_STRATEGIES:
                fill[name] = _fit_fill(col, name, strategy, n_rows=n, source=source)
                col = [fill[name] if v is None else v for v in col]
            if name in self.encoded:
                categories[name] = sorted({cell_text(v) for v in col if v is not None}, key=category_order)
        return replace(self, fill=fill, categories=categories, n_fit=n)

    def transform(self, cols: Sequence[Sequence[Cell]], lines: Sequence[int], *, source: str) -> np.ndarray:
        """The float32 feature matrix of rows given as cells (one list per column; ``lines`` for messages).

        Raises:
            DataError: a cell is missing and its column has no fill value, or is not a number.
        """
        from sklearn.preprocessing import OneHotEncoder

        out: list[np.ndarray] = []
        for name, col in zip(self.columns, cols):
            if name in self.fill:
                col = [self.fill[name] if v is None else v for v in col]
            if name not in self.encoded:
                out.append(numeric_cells(col, name, lines, source))
                continue
            numeric_cells([0.0 if v is not None else None for v in col], name, lines, source)  # missing: an error
            cats = self.categories[name]
            if not col:  # sklearn takes no empty arrays
                out += [np.zeros(0) for _ in cats]
                continue
            encoder = OneHotEncoder(categories=[cats], handle_unknown="ignore", sparse_output=False, dtype=np.float64)
            encoder.fit(np.array(cats, dtype=object).reshape(-1, 1))
            out += list(encoder.transform(np.array([cell_text(v) for v in col], dtype=object).reshape(-1, 1)).T)
        if not out:
            return np.empty((len(lines), 0), dtype=np.float32)
        return np.stack(out, axis=1).astype(np.float32)

    def replay(self, header: Sequence[str], rows: Sequence[Sequence[str]], *, source: str) -> np.ndarray:
        """Clean raw CSV rows (the training CSV's columns, any order) as the training rows were; drop none.

        Raises:
            DataError: columns are missing or unexpected, a value cannot be converted, or a value is
                missing in a column without a fill value (predict never drops a row).
        """
        self.check_columns(header, source)
        t = Table(source, header, rows, self.na_values)
        t.keep_columns(self.columns)
        convert_types(t, {c: kind for c, kind in self.dtypes.items() if c in self.columns})
        for name, col in zip(self.columns, t.cols):
            if name in self.fill or None not in col:
                continue
            line = t.lines[col.index(None)]
            strategy = self.missing.get(name)
            why = (
                "the run dropped rows missing it (missing: drop)"
                if strategy == "drop"
                else "the run has no fill value for it"
            )
            raise DataError(
                f"error: {source} line {line}, column {name!r} is missing and {why}; predict does not drop rows: "
                "fill in the value or remove the row"
            )
        return self.transform(t.cols, t.lines, source=source)

    def check_columns(self, header: Sequence[str], source: str) -> None:
        """Raise a DataError listing the raw columns missing from ``header`` and those it should not have."""
        ignored = {*self.labels, *self.dropped}
        missing = [c for c in self.columns if c not in header]
        extra = [c for c in header if c not in self.columns and c not in ignored]
        if not (missing or extra):
            return
        parts = ([f"missing columns {missing}"] if missing else []) + ([f"unexpected columns {extra}"] if extra else [])
        raise DataError(
            f"error: {source} does not have the columns of the run's training CSV: {'; '.join(parts)}. "
            f"It needs the raw columns {self.columns} (any order; the label {self.labels} and dropped columns "
            f"{self.dropped} are ignored), which are cleaned as the training rows were; "
            f"or the cleaned feature columns {self.features}."
        )

    def to_dict(self) -> dict[str, Any]:
        """What preprocessing.json records, for ``mlrun predict`` to replay."""
        return {
            "columns": self.columns,
            "labels": self.labels,
            "dropped_columns": self.dropped,
            "na_values": self.na_values,
            "dtypes": self.dtypes,
            "missing": self.missing,
            "fill": self.fill,
            "one_hot": self.categories,
            "features": self.features,
            "fitted_on_rows": self.n_fit,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cleaner:
        """The fitted cleaner :meth:`to_dict` recorded."""
        categories = {str(k): [str(c) for c in v] for k, v in data["one_hot"].items()}
        return cls(
            columns=list(data["columns"]),
            labels=list(data["labels"]),
            dropped=list(data["dropped_columns"]),
            na_values=list(data["na_values"]),
            dtypes=dict(data["dtypes"]),
            missing=dict(data["missing"]),
            encoded=list(categories),
            fill=dict(data["fill"]),
            categories=categories,
            n_fit=int(data["fitted_on_rows"]),
        )


def _fit_fill(col: Sequence[Cell], name: str, strategy: str | None, *, n_rows: int, source: str) -> Cell:
    """The fill value of a column: the mean, median or most frequent value of its present cells."""
    from sklearn.impute import SimpleImputer

    present = [v for v in col if v is not None]
    if not present:
        raise DataError(
            f"error: {source}: column {name!r} has no values in the {n_rows} training rows, so its "
            f"{str(strategy).replace('_', ' ')} fill value cannot be learned; drop the column "
            "(dataset.cleaning.drop_columns) or drop its rows (dataset.cleaning.missing: {" + name + ": drop})"
        )
    numbers = as_numbers(present)
    if numbers is not None:
        values = np.array(numbers, dtype=np.float64).reshape(-1, 1)
        return float(SimpleImputer(strategy=strategy or "most_frequent").fit(values).statistics_[0])
    # Text: the most frequent value; cells that are the same number ("1", "1.0") count as one value.
    texts = np.array([cell_text(cell_key(v)) for v in present], dtype=object).reshape(-1, 1)
    return str(SimpleImputer(strategy="most_frequent", missing_values=None).fit(texts).statistics_[0])
