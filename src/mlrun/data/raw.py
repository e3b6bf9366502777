"""A source's raw arrays, before splitting, encoding and scaling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
    cleaning: dict[str, Any] | None = None
    """What ``dataset.cleaning`` did to a CSV file."""
