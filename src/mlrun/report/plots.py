"""Matplotlib figures for the HTML page, returned as embeddable PNG data URIs.

matplotlib is imported inside the functions, so the terminal report never pays
for it. Figures are plain :class:`matplotlib.figure.Figure` objects on the Agg
canvas: no pyplot, no global figure state, no display needed.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mlrun.report import summary
from mlrun.report.rundata import Confusion, Curve, RunData, to_float

#: Pixels per inch of the page (CSS px) and of the PNG: images are drawn at twice
#: the size they are shown, so they stay sharp on high-density screens.
CSS_DPI = 96
PNG_DPI = 144  # 1.5 device pixels per CSS pixel: sharp on HiDPI screens, 30% less to draw than 2x
#: Above this many classes, per-class curves are drawn without a legend entry each.
MAX_LEGEND_CLASSES = 12
TRAIN_COLOR, VAL_COLOR, BEST_COLOR = "#2563eb", "#ea580c", "#6b7280"

_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Plot:
    """An image ready for an ``<img>`` tag: a data URI and its display size in CSS pixels."""

    uri: str
    width: int
    height: int
    alt: str


@contextmanager
def _figure(width: float, height: float, alt: str, out: list[Plot], **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """Yield (figure, axes) of the given size in inches; on exit, render it as PNG and append it to ``out``.

    Margins are fixed in inches: a layout engine would double the drawing time.
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(left=0.75 / width, right=1 - 0.2 / width, bottom=0.5 / height, top=1 - 0.35 / height)
        axes = fig.subplots(**subplots)
        yield fig, axes
        buf = io.BytesIO()
        fig.savefig(
            buf,
            format="png",
            dpi=PNG_DPI,
            metadata={"Software": None},
            facecolor="white",
            pil_kwargs={"compress_level": 1},
        )
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    out.append(Plot(uri=uri, width=round(width * CSS_DPI), height=round(height * CSS_DPI), alt=alt))


def learning_curves(run: RunData) -> list[Plot]:
    """Plot each logged metric per epoch, training against validation, with the best epoch marked."""
    from matplotlib.ticker import LogFormatter, NullFormatter

    plots: list[Plot] = []
    epochs = [row["epoch"] for row in run.history]
    best = run.best_epoch
    marker = "o" if len(epochs) <= 30 else None
    # The first epoch whose loss is NaN or infinite: a diverged run's last rows plot as nothing otherwise.
    broken = next((row["epoch"] for row in run.history if not math.isfinite(_nan(row.get("loss")))), None)
    for metric in summary.base_metrics(run):
        with _figure(5.0, 3.2, f"{metric} per epoch", plots) as (_, ax):
            for key, label, color in ((metric, "train", TRAIN_COLOR), (f"val_{metric}", "validation", VAL_COLOR)):
                values = [_nan(row.get(key)) for row in run.history]
                if any(math.isfinite(v) for v in values):
                    ax.plot(epochs, values, label=label, color=color, marker=marker, markersize=3, linewidth=1.6)
            if best is not None:
                ax.axvline(best, color=BEST_COLOR, linestyle=":", linewidth=1.2, label=f"best epoch ({best})")
            if broken is not None:
                ax.axvline(broken, color="#dc2626", linestyle="--", linewidth=1.2, label=f"non-finite loss ({broken})")
            _epoch_axis(ax, epochs)
            ax.set_title(_safe(summary.metric_label(metric), 40))
            ax.legend()
    for key in summary.LEARNING_RATE_KEYS:
        values = [_nan(row.get(key)) for row in run.history]
        finite = [v for v in values if math.isfinite(v)]
        if finite and min(finite) != max(finite):
            with _figure(5.0, 3.2, "learning rate per epoch", plots) as (_, ax):
                ax.plot(epochs, values, color=BEST_COLOR, marker=marker, markersize=3)
                if min(finite) > 0 and max(finite) / min(finite) > 10:
                    # Plain tick labels: the default ones are TeX math, slow to lay out.
                    ax.set_yscale("log")
                    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=True))
                    ax.yaxis.set_minor_formatter(NullFormatter())
                else:
                    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 4))
                ax.set_title("learning rate")
                _epoch_axis(ax, epochs)
    return plots


def _epoch_axis(ax: Any, epochs: Sequence[int]) -> None:
    """Label the x axis with whole epochs and show every epoch, even those with only NaN values."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs:
        pad = max(0.3, 0.03 * (epochs[-1] - epochs[0]))
        ax.set_xlim(epochs[0] - pad, epochs[-1] + pad)


def confusion_heatmaps(confusion: Confusion) -> Plot:
    """Plot the confusion matrix twice, side by side: counts, and each row normalized to 1."""
    import numpy as np

    counts = np.asarray(confusion.counts, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(confusion.labels)
    labels = [_safe(label, 14) for label in confusion.labels]
    longest = max(map(len, labels), default=1)
    rotate = longest > 3
    # Margins sized for the labels.
    side = min(max(0.4 * n + 1.0, 2.6), 6.5)
    left = 0.45 + 0.075 * longest
    bottom = 0.5 + (0.055 * longest if rotate else 0.1)
    top, right = 0.35, 0.15
    width, height = 2 * (left + side) + right, bottom + side + top
    plots: list[Plot] = []
    with _figure(width, height, "confusion matrix", plots, ncols=2) as (fig, axes):
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
    with _figure(4.8, 4.3, "ROC curves", plots) as (_, ax):

        def auc(label: str) -> str:
            value = aucs.get(label)
            return f"AUC {value if value is not None else _trapezoid(curves[label].x, curves[label].y):.3f}"

        _class_curves(ax, curves, classes, auc)
        if "micro" in curves:
            micro = curves["micro"]
            ax.plot(
                *_thin(micro.x, micro.y),
                color="#111827",
                linestyle="--",
                linewidth=1.8,
                label=f"micro average (AUC {_trapezoid(micro.x, micro.y):.3f})",
            )
        if len(classes) > 1:
            grid = np.unique(np.concatenate([np.asarray(curves[c].x) for c in classes]))
            mean_tpr = np.mean([np.interp(grid, curves[c].x, curves[c].y) for c in classes], axis=0)
            ax.plot(
                *_thin(grid, mean_tpr),
                color="#7c3aed",
                linestyle="--",
                linewidth=1.8,
                label=f"macro average (AUC {_trapezoid(grid, mean_tpr):.3f})",
            )
        ax.plot([0, 1], [0, 1], color=BEST_COLOR, linestyle=":", linewidth=1, label="chance (AUC 0.5)")
        _unit_axes(ax, "false positive rate", "true positive rate", "ROC curves")
        ax.legend(loc="lower right")
    return plots[0]


def _class_curves(ax: Any, curves: Mapping[str, Curve], classes: Sequence[str], score: Any) -> None:
    """One line per class, labelled ``class (score(class))``; thin and unlabelled when there are too many for a legend."""
    many = len(classes) > MAX_LEGEND_CLASSES
    for i, label in enumerate(classes):
        curve = curves[label]
        ax.plot(
            *_thin(curve.x, curve.y),
            linewidth=0.8 if many else 1.4,
            alpha=0.5 if many else 1.0,
            color=_color(i),
            label=None if many else f"{_safe(label, 18)} ({score(label)})",
        )


def pr_curves(curves: Mapping[str, Curve], *, positive_rate: float | None = None) -> Plot:
    """Plot precision against recall per class (average precision in the legend) and the micro average."""
    plots: list[Plot] = []
    classes = [c for c in curves if c not in ("micro", "macro")]
    with _figure(4.8, 4.3, "precision-recall curves", plots) as (_, ax):
        _class_curves(ax, curves, classes, lambda label: f"AP {_average_precision(curves[label]):.3f}")
        if "micro" in curves:
            micro = curves["micro"]
            ax.plot(
                *_thin(micro.x, micro.y),
                color="#111827",
                linestyle="--",
                linewidth=1.8,
                label=f"micro average (AP {_average_precision(micro):.3f})",
            )
        if positive_rate is not None:
            ax.axhline(
                positive_rate, color=BEST_COLOR, linestyle=":", linewidth=1, label=f"chance ({positive_rate:.2f})"
            )
        _unit_axes(ax, "recall", "precision", "Precision-recall curves")
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
    rows = [r for r in rows if None not in r[:3]]
    if not rows:
        return None
    out: list[Plot] = []
    title = "Reliability" + (f" (ECE {summary.fmt(ece)})" if ece is not None else "")
    with _figure(4.2, 3.6, "reliability diagram: accuracy per confidence bin", out) as (fig, ax):
        ax.plot([0, 1], [0, 1], color=BEST_COLOR, linestyle=":", linewidth=1, label="perfectly calibrated")
        filled = [r for r in rows if r[2] and r[4] is not None]
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
        _unit_axes(ax, "confidence (highest class probability)", "accuracy", title)
        ax.legend(loc="upper left")
    return out[0]


def regression_plots(predictions: Sequence[Mapping[str, str]], *, max_outputs: int = 4) -> list[Plot]:
    """Plot predicted against true values (with the identity line) and a histogram of residuals, per output."""
    import numpy as np

    plots: list[Plot] = []
    header = list(predictions[0]) if predictions else []
    pairs = (
        [("y_true", "y_pred", "")]
        if "y_true" in header
        else [
            (c, "y_pred_" + c[7:], f" (output {c[7:]})")
            for c in header
            if c.startswith("y_true_") and "y_pred_" + c[7:] in header
        ]
    )
    for true_key, pred_key, suffix in pairs[:max_outputs]:
        values = [(to_float(r.get(true_key)), to_float(r.get(pred_key))) for r in predictions]
        values = [(t, p) for t, p in values if t is not None and p is not None]
        if not values:
            continue
        y_true, y_pred = (np.asarray(v) for v in zip(*values))
        residuals = y_pred - y_true
        with _figure(4.6, 4.2, f"predicted vs true{suffix}", plots) as (_, ax):
            alpha = 0.7 if len(y_true) < 500 else 0.3
            ax.scatter(y_true, y_pred, s=10, alpha=alpha, color=TRAIN_COLOR, edgecolors="none")
            low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
            ax.plot([low, high], [low, high], color=VAL_COLOR, linestyle="--", linewidth=1.2, label="perfect")
            ax.set_title(_safe(f"Predicted vs true{suffix}", 60))
            ax.set_xlabel("true")
            ax.set_ylabel("predicted")
            ax.legend(loc="upper left")
        with _figure(4.6, 4.2, f"residuals{suffix}", plots) as (_, ax):
            ax.hist(residuals, bins=min(40, max(10, len(residuals) // 10)), color=TRAIN_COLOR, alpha=0.85)
            ax.axvline(0, color=VAL_COLOR, linestyle="--", linewidth=1.2)
            ax.set_title(_safe(f"Residuals (predicted − true){suffix}", 60))
            ax.set_xlabel("residual")
            ax.set_ylabel("samples")
    return plots


def overlaid_curves(runs: Sequence[RunData], labels: Sequence[str]) -> list[Plot]:
    """Plot each metric of several runs in one chart: a color per run, solid validation, dashed training."""
    from matplotlib.ticker import MaxNLocator

    metrics: dict[str, None] = {}
    for run in runs:
        metrics.update(dict.fromkeys(summary.base_metrics(run)))
    plots: list[Plot] = []
    for metric in metrics:
        with _figure(5.2, 3.4, f"{metric} per epoch, all runs", plots) as (_, ax):
            for i, (run, label) in enumerate(zip(runs, labels)):
                epochs = [row["epoch"] for row in run.history]
                for key, style, suffix in ((f"val_{metric}", "-", "val"), (metric, "--", "train")):
                    values = [_nan(row.get(key)) for row in run.history]
                    if any(not math.isnan(v) for v in values):
                        ax.plot(
                            epochs,
                            values,
                            linestyle=style,
                            color=_color(i),
                            linewidth=1.5,
                            alpha=1.0 if style == "-" else 0.6,
                            label=f"{_safe(label)} {suffix}",
                        )
            ax.set_title(_safe(summary.metric_label(metric), 40))
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
    return plots


# --------------------------------------------------------------------------- helpers


def _safe(text: str, width: int = 24) -> str:
    """Shorten a label from a data file and escape ``$``, which would start TeX math in matplotlib."""
    return summary.short_label(str(text), width).replace("$", r"\$")


def _thin(x: Sequence[float], y: Sequence[float], limit: int = 2000) -> tuple[Any, Any]:
    """Keep at most ``limit`` evenly spaced points of a curve (and its ends): more cannot show in a plot."""
    import numpy as np

    x, y = np.asarray(x), np.asarray(y)
    if len(x) <= limit:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, limit).round().astype(int))
    return x[keep], y[keep]


def _color(i: int) -> str:
    palette = (
        "#2563eb",
        "#ea580c",
        "#16a34a",
        "#dc2626",
        "#9333ea",
        "#0891b2",
        "#ca8a04",
        "#db2777",
        "#4b5563",
        "#65a30d",
        "#0d9488",
        "#c2410c",
    )
    return palette[i % len(palette)]


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _unit_axes(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)


def _trapezoid(x: Sequence[float], y: Sequence[float]) -> float:
    import numpy as np

    return abs(float(np.trapezoid(y, x))) if len(x) > 1 else float("nan")


def _average_precision(curve: Curve) -> float:
    """Average precision as scikit-learn computes it: sum of precisions times recall steps."""
    import numpy as np

    recall, precision = np.asarray(curve.x), np.asarray(curve.y)
    if len(recall) < 2:
        return float("nan")
    if recall[0] < recall[-1]:
        recall, precision = recall[::-1], precision[::-1]
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def sample_grid(images: Any, labels: Sequence[int], classes: Sequence[str]) -> Plot:
    """Draw sample images: one row per class (up to 20 classes), else a grid captioned by class."""
    import numpy as np

    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    labels = [int(v) for v in labels]
    present = sorted(set(labels))
    by_row = len(present) <= 20
    if by_row:
        per = max(labels.count(c) for c in present)
        rows, cols = len(present), per
        cells = [[i for i, v in enumerate(labels) if v == c] for c in present]
    else:
        cols = 12
        rows = math.ceil(len(labels) / cols)
        order = list(range(len(labels)))
        cells = [order[r * cols : (r + 1) * cols] for r in range(rows)]
    # One mosaic image in one axes: a subplot per image costs about 10 ms each (a second for 80 samples).
    h, w = images.shape[1:3]
    gap = max(1, round(min(h, w) / 8))
    vgap = gap if by_row else max(gap, round(h * 0.35))  # room for a caption above each row
    top = 0 if by_row else vgap
    rgb = images.ndim == 4
    mosaic = np.full(
        (top + rows * (h + vgap) - vgap, cols * (w + gap) - gap, *((images.shape[-1],) if rgb else ())),
        255,
        dtype=np.uint8,
    )
    for r in range(rows):
        for c, i in enumerate(cells[r][:cols]):
            y0 = top + r * (h + vgap)
            mosaic[y0 : y0 + h, c * (w + gap) : c * (w + gap) + w] = images[i]
    if not rgb:
        mosaic = np.stack([mosaic] * 3, axis=-1)  # gray samples on white gaps, without a colormap
    cell = 0.62
    left = 1.1 if by_row else 0.1
    caption = 0.0 if by_row else 0.16
    width, height = left + cols * cell + 0.1, rows * (cell + caption) + 0.15
    plots: list[Plot] = []
    with _figure(width, height, "sample images per class", plots) as (fig, ax):
        fig.subplots_adjust(left=left / width, right=1 - 0.1 / width, bottom=0.05 / height, top=1 - 0.1 / height)
        ax.imshow(mosaic, interpolation="nearest", aspect="auto")
        ax.grid(False)
        ax.set_xticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if by_row:
            ax.set_yticks([r * (h + vgap) + h / 2 for r in range(rows)])
            ax.set_yticklabels([_safe(classes[c] if c < len(classes) else str(c), 14) for c in present], fontsize=8)
            ax.tick_params(axis="y", length=0)
        else:
            ax.set_yticks([])
            for r in range(rows):
                for c, i in enumerate(cells[r][:cols]):
                    name = classes[labels[i]] if labels[i] < len(classes) else str(labels[i])
                    ax.text(
                        c * (w + gap) + w / 2,
                        top + r * (h + vgap) - 1,
                        _safe(name, 10),
                        ha="center",
                        va="bottom",
                        fontsize=6,
                    )
    return plots[0]
