"""Cells of a CSV table: converting text to numbers, missing values, category order. Pure Python."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

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
