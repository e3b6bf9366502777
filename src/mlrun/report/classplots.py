"""Figures of a classifier's test results: confusion matrix, ROC and precision-recall curves, reliability."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlrun.report import summary
from mlrun.report.canvas import (
    BEST_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    Plot,
    figure,
    perfectly_calibrated,
    safe_label,
    series_color,
    unit_axes,
)
from mlrun.report.curves import average_precision, thin, trapezoid_area
from mlrun.report.rundata import Confusion, Curve, to_float

#: Above this many classes, per-class curves are drawn without a legend entry each.
MAX_LEGEND_CLASSES = 12


def confusion_heatmaps(confusion: Confusion) -> Plot:
    """Plot the confusion matrix twice, side by side: counts, and each row normalized to 1."""
    import numpy as np

    counts = np.asarray(confusion.counts, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(confusion.labels)
    labels = [safe_label(label, 14) for label in confusion.labels]
    longest = max(map(len, labels), default=1)
    rotate = longest > 3
    # Margins sized for the labels.
    side = min(max(0.4 * n + 1.0, 2.6), 6.5)
    left = 0.45 + 0.075 * longest
    bottom = 0.5 + (0.055 * longest if rotate else 0.1)
    top, right = 0.35, 0.15
    width, height = 2 * (left + side) + right, bottom + side + top
    plots: list[Plot] = []
    with figure(width, height, "confusion matrix", plots, ncols=2) as (fig, axes):
        fig.subplots_adjust(
            left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height, wspace=left / side
        )
        for ax, data, title, as_count in (
            (axes[0], counts, "counts", True),
            (axes[1], normalized, "normalized by true class (recall)", False),
        ):
            ax.imshow(data, cmap="Blues", vmin=0, vmax=(data.max() or 1) if as_count else 1)
            ax.set_title(title)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_xticks(
                range(n),
                labels,
                rotation=45 if rotate else 0,
                ha="right" if rotate else "center",
                rotation_mode="anchor",
            )
            ax.set_yticks(range(n), labels)
            ax.grid(False)
            if n <= 20:
                top = data.max() or 1
                size = 8 if n <= 10 else 6
                for i in range(n):
                    for j in range(n):
                        text = f"{int(data[i, j]):,}" if as_count else f"{data[i, j]:.2f}"
                        if text in ("0", "0.00"):
                            continue  # a sea of zeros hides the errors; the counts show what rounds to 0.00
                        color = "white" if data[i, j] > 0.6 * top else "#1f2937"
                        ax.text(j, i, text, ha="center", va="center", fontsize=size, color=color)
    return plots[0]


def roc_curves(curves: Mapping[str, Curve], aucs: Mapping[str, float | None]) -> Plot:
    """Plot ROC curves per class (AUC in the legend), the micro and macro averages, and the chance line."""
    import numpy as np

    plots: list[Plot] = []
    classes = [c for c in curves if c not in ("micro", "macro")]
    with figure(4.8, 4.3, "ROC curves", plots) as (_, ax):

        def auc(label: str) -> str:
            value = aucs.get(label)
            return f"AUC {value if value is not None else trapezoid_area(curves[label].x, curves[label].y):.3f}"

        _class_curves(ax, curves, classes, auc)
        if "micro" in curves:
            _micro_average(ax, curves["micro"], f"AUC {trapezoid_area(curves['micro'].x, curves['micro'].y):.3f}")
        if len(classes) > 1:
            grid = np.unique(np.concatenate([np.asarray(curves[c].x) for c in classes]))
            mean_tpr = np.mean([np.interp(grid, curves[c].x, curves[c].y) for c in classes], axis=0)
            ax.plot(
                *thin(grid, mean_tpr),
                color="#7c3aed",
                linestyle="--",
                linewidth=1.8,
                label=f"macro average (AUC {trapezoid_area(grid, mean_tpr):.3f})",
            )
        ax.plot([0, 1], [0, 1], color=BEST_COLOR, linestyle=":", linewidth=1, label="chance (AUC 0.5)")
        unit_axes(ax, "false positive rate", "true positive rate", "ROC curves")
        ax.legend(loc="lower right")
    return plots[0]


def _class_curves(ax: Any, curves: Mapping[str, Curve], classes: Sequence[str], score: Any) -> None:
    """One line per class, labelled ``class (score(class))``; thin and unlabelled when there are too many for a legend."""
    many = len(classes) > MAX_LEGEND_CLASSES
    for i, label in enumerate(classes):
        curve = curves[label]
        ax.plot(
            *thin(curve.x, curve.y),
            linewidth=0.8 if many else 1.4,
            alpha=0.5 if many else 1.0,
            color=series_color(i),
            label=None if many else f"{safe_label(label, 18)} ({score(label)})",
        )


def pr_curves(curves: Mapping[str, Curve], *, positive_rate: float | None = None) -> Plot:
    """Plot precision against recall per class (average precision in the legend) and the micro average."""
    plots: list[Plot] = []
    classes = [c for c in curves if c not in ("micro", "macro")]
    with figure(4.8, 4.3, "precision-recall curves", plots) as (_, ax):
        _class_curves(ax, curves, classes, lambda label: f"AP {average_precision(curves[label]):.3f}")
        if "micro" in curves:
            _micro_average(ax, curves["micro"], f"AP {average_precision(curves['micro']):.3f}")
        if positive_rate is not None:
            ax.axhline(
                positive_rate, color=BEST_COLOR, linestyle=":", linewidth=1, label=f"chance ({positive_rate:.2f})"
            )
        unit_axes(ax, "recall", "precision", "Precision-recall curves")
        ax.legend(loc="lower left")
    return plots[0]


def reliability_diagram(bins: Sequence[Mapping[str, str]], *, ece: float | None = None) -> Plot | None:
    """Plot accuracy against confidence per bin (calibration.csv), with the diagonal of perfect calibration."""
    rows = [
        (
            to_float(b.get("bin_lower")),
            to_float(b.get("bin_upper")),
            to_float(b.get("count")),
            to_float(b.get("confidence")),
            to_float(b.get("accuracy")),
        )
        for b in bins
    ]
    bounded = [
        (lo, hi, n, conf, acc) for lo, hi, n, conf, acc in rows if lo is not None and hi is not None and n is not None
    ]
    if not bounded:
        return None
    out: list[Plot] = []
    title = "Reliability" + (f" (ECE {summary.fmt(ece)})" if ece is not None else "")
    with figure(4.2, 3.6, "reliability diagram: accuracy per confidence bin", out) as (fig, ax):
        perfectly_calibrated(ax)
        filled = [r for r in bounded if r[2] and r[4] is not None]
        ax.bar(
            [r[0] for r in filled],
            [r[4] for r in filled],
            width=[r[1] - r[0] for r in filled],
            align="edge",
            color=TRAIN_COLOR,
            alpha=0.75,
            edgecolor="white",
            label="accuracy",
        )
        ax.plot(
            [r[3] for r in filled],
            [r[4] for r in filled],
            "o",
            color=VAL_COLOR,
            markersize=3,
            label="accuracy at mean confidence",
        )
        unit_axes(ax, "confidence (highest class probability)", "accuracy", title)
        ax.legend(loc="upper left")
    return out[0]


def _micro_average(ax: Any, micro: Curve, score: str) -> None:
    """The micro-averaged curve, dashed black, its score in the legend."""
    ax.plot(*thin(micro.x, micro.y), color="#111827", linestyle="--", linewidth=1.8, label=f"micro average ({score})")
