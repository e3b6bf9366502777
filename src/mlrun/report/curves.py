"""Arithmetic on ROC and precision-recall curves: the areas their legends print, and thinning for drawing.

numpy only, imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlrun.report.rundata import Curve

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def thin(x: ArrayLike, y: ArrayLike, limit: int = 2000) -> tuple[Any, Any]:
    """Keep at most ``limit`` evenly spaced points of a curve (and its ends): more cannot show in a plot."""
    import numpy as np

    xs, ys = np.asarray(x), np.asarray(y)
    if len(xs) <= limit:
        return xs, ys
    keep = np.unique(np.linspace(0, len(xs) - 1, limit).round().astype(int))
    return xs[keep], ys[keep]


def trapezoid_area(x: ArrayLike, y: ArrayLike) -> float:
    """The area under a curve by the trapezoidal rule, as scikit-learn's ``auc``; NaN for fewer than two points."""
    import numpy as np

    xs, ys = np.asarray(x), np.asarray(y)
    return abs(float(np.trapezoid(ys, xs))) if len(xs) > 1 else float("nan")


def average_precision(curve: Curve) -> float:
    """Average precision as scikit-learn computes it: sum of precisions times recall steps."""
    import numpy as np

    recall, precision = np.asarray(curve.x), np.asarray(curve.y)
    if len(recall) < 2:
        return float("nan")
    if recall[0] < recall[-1]:
        recall, precision = recall[::-1], precision[::-1]
    return float(-np.sum(np.diff(recall) * precision[:-1]))
