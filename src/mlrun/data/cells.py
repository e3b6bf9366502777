"""Cells of a CSV table: converting text to numbers, missing values, category order. Pure Python."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlrun.errors import DataError

_TRUE = {"true", "yes", "y", "t", "on", "1", "1.0"}
_FALSE = {"false", "no", "n", "f", "off", "0", "0.0"}
_NUMBER_JUNK = re.compile(r"[,\s$€£¥_]")

Cell = Any  # a text cell (str), a converted number (float) or missing (None)


def convert(value: str, kind: str) -> float | None:
    if kind == "bool":
        low = value.lower()
        return 1.0 if low in _TRUE else 0.0 if low in _FALSE else None
    text = _NUMBER_JUNK.sub("", value)
    text = text[:-1] if text.endswith("%") else text
    try:
        number = float(text)
    except ValueError:
        return None
    if not np.isfinite(number):
        return None
    if kind == "int" and not number.is_integer():
        return None
    return number


def plain_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def cell_key(value: Cell) -> Cell:
    """Cells that are the same number compare equal whatever their text ("1" and "1.0")."""
    if isinstance(value, str):
        number = plain_number(value)
        return number if number is not None else value
    return value


def as_numbers(values: Sequence[Cell]) -> list[float] | None:
    out = []
    for v in values:
        number = v if isinstance(v, float) else plain_number(v)
        if number is None or not np.isfinite(number):
            return None
        out.append(number)
    return out


def is_numeric(col: Sequence[Cell]) -> bool:
    return as_numbers([v for v in col if v is not None]) is not None


def cell_text(value: Cell) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def category_order(text: str) -> tuple[int, float, str]:
    number = plain_number(text)
    return (0, number, "") if number is not None else (1, 0.0, text)


def label_values(col: Sequence[Cell]) -> np.ndarray:
    numbers = as_numbers(col)
    if numbers is not None:
        return np.array(numbers, dtype=np.float64)
    return np.array([cell_text(v) for v in col])


def fill_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Table:
    """Columns of cells with the file line of each row, shrinking as rows and columns are dropped.

    Cells are stripped and the ``na_values`` are None (missing).
    """

    def __init__(
        self, source: str, header: Sequence[str], rows: Sequence[Sequence[str]], na_values: Sequence[str]
    ) -> None:
        na = {v.strip() for v in na_values}
        self.source = source
        self.header = list(header)
        cols = [list(col) for col in zip(*rows)] if rows else [[] for _ in header]
        self.cols: list[list[Cell]] = [[None if v.strip() in na else v.strip() for v in col] for col in cols]
        self.lines = list(range(2, len(rows) + 2))  # the header is line 1

    @property
    def n_rows(self) -> int:
        return len(self.lines)

    def index(self, name: str, key: str) -> int:
        """The position of column ``name``; a DataError names ``dataset.cleaning.<key>`` and the closest column."""
        if name in self.header:
            return self.header.index(name)
        hint = difflib.get_close_matches(name, self.header, n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        where = f"dataset.cleaning.{key}: " if key and key != "label" else ""
        raise DataError(f"error: {self.source}: {where}no column {name!r}{did}; the columns are {self.header}")

    def column(self, name: str) -> list[Cell]:
        return self.cols[self.index(name, "")]

    def keep_columns(self, names: list[str]) -> None:
        idx = [self.header.index(n) for n in names]
        self.header = names
        self.cols = [self.cols[i] for i in idx]

    def keep_rows(self, rows: Sequence[int]) -> None:
        self.cols = [[col[r] for r in rows] for col in self.cols]
        self.lines = [self.lines[r] for r in rows]


def convert_types(t: Table, dtypes: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Convert the ``dtypes`` columns in place; return, per column, the type and how many values changed."""
    converted: dict[str, dict[str, Any]] = {}
    for name, kind in dtypes.items():
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


def numeric_cells(
    col: Sequence[Cell], name: str, lines: Sequence[int], source: str, *, missing_ok: bool = False
) -> np.ndarray:
    """A column of cells as float64; a DataError names the line of the first missing or non-numeric cell.

    With ``missing_ok`` a missing cell is NaN instead.
    """
    out = np.empty(len(col), dtype=np.float64)
    for r, v in enumerate(col):
        if v is None and missing_ok:
            out[r] = np.nan
            continue
        if v is None:
            raise DataError(
                f"error: {source} line {lines[r]}, column {name!r} is missing: "
                "set dataset.cleaning.missing (drop, mean, median or most_frequent), or drop the column"
            )
        number = v if isinstance(v, float) else plain_number(v)
        if number is None or not np.isfinite(number):
            raise DataError(
                f"error: {source} line {lines[r]}, column {name!r} is not a number ({v!r}): one-hot encode it "
                f"(dataset.cleaning.one_hot: [{name}]), convert it (dataset.cleaning.dtypes) or drop it (drop_columns)"
            )
        out[r] = number
    return out
