"""A source's raw arrays, before splitting, encoding and scaling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mlrun.data.cleaning import CleanTable


@dataclass
class RawData:
    """A source's arrays before splitting, encoding and scaling; ``x_test`` is None when the source has no test set."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    names: list[str] | None
    """Class, label or target names, when the source has them."""
    task: str | None
    """The task the source implies, or None to infer it from the labels."""
    source: str
    notes: list[str] = field(default_factory=list)
    table: CleanTable | None = None
    """A cleaned CSV file's table; ``x`` then holds its row numbers, turned into features once the
    splits are known (:meth:`mlrun.data.cleaning.CleanTable.fit_transform`)."""
