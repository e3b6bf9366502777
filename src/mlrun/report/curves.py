"""Arithmetic on ROC and precision-recall curves: the areas their legends print, and thinning for drawing.

numpy only, imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlrun.report.rundata import Curve


def thin(x: Sequence[float], y: Sequence[float], limit: int = 2000) -> tuple[Any, Any]:
    """Keep at most ``limit`` evenly spaced points of a curve (and its ends): more cannot show in a plot."""
    import numpy as np

    x, y = np.asarray(x), np.asarray(y)
    if len(x) <= limit:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, limit).round().astype(int))
    return x[keep], y[keep]


def trapezoid_area(x: Sequence[float], y: Sequence[float]) -> float:
    import numpy as np

    return abs(float(np.trapezoid(y, x))) if len(x) > 1 else float("nan")


def average_precision(curve: Curve) -> float:
    """Average precision as scikit-learn computes it: sum of precisions times recall steps."""
    import numpy as np

    recall, precision = np.asarray(curve.x), np.asarray(curve.y)
    if len(recall) < 2:
        return float("nan")
    if recall[0] < recall[-1]:
        recall, precision = recall[::-1], precision[::-1]
    return float(-np.sum(np.diff(recall) * precision[:-1]))
