"""Figures of a run's training and data: learning curves (one run, or several overlaid), regression fits, samples.

Classification results are drawn by :mod:`mlrun.report.classplots`; both draw on :mod:`mlrun.report.canvas`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlrun.report import summary
from mlrun.report.canvas import (
    BEST_COLOR,
    TRAIN_COLOR,
    VAL_COLOR,
    Plot,
    as_nan,
    epoch_axis,
    figure,
    safe_label,
    series_color,
)
from mlrun.report.rundata import RunData, to_float


def learning_curves(run: RunData) -> list[Plot]:
    """Plot each logged metric per epoch, training against validation, with the best epoch marked."""
    from matplotlib.ticker import LogFormatter, NullFormatter

    plots: list[Plot] = []
    epochs = run.epochs
    best = run.best_epoch
    marker = "o" if len(epochs) <= 30 else None
    # The first epoch whose loss is NaN or infinite: a diverged run's last rows plot as nothing otherwise.
    broken = next((row["epoch"] for row in run.history if not math.isfinite(as_nan(row.get("loss")))), None)
    for metric in summary.base_metrics(run):
        with figure(5.0, 3.2, f"{metric} per epoch", plots) as (_, ax):
            for key, label, color in ((metric, "train", TRAIN_COLOR), (f"val_{metric}", "validation", VAL_COLOR)):
                values = [as_nan(row.get(key)) for row in run.history]
                if any(math.isfinite(v) for v in values):
                    ax.plot(epochs, values, label=label, color=color, marker=marker, markersize=3, linewidth=1.6)
            if best is not None:
                ax.axvline(best, color=BEST_COLOR, linestyle=":", linewidth=1.2, label=f"best epoch ({best})")
            if broken is not None:
                ax.axvline(broken, color="#dc2626", linestyle="--", linewidth=1.2, label=f"non-finite loss ({broken})")
            epoch_axis(ax, epochs)
            ax.set_title(safe_label(summary.metric_label(metric), 40))
            ax.legend()
    for key in summary.LEARNING_RATE_KEYS:
        values = [as_nan(row.get(key)) for row in run.history]
        finite = [v for v in values if math.isfinite(v)]
        if finite and min(finite) != max(finite):
            with figure(5.0, 3.2, "learning rate per epoch", plots) as (_, ax):
                ax.plot(epochs, values, color=BEST_COLOR, marker=marker, markersize=3)
                if min(finite) > 0 and max(finite) / min(finite) > 10:
                    # Plain tick labels: the default ones are TeX math, slow to lay out.
                    ax.set_yscale("log")
                    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=True))
                    ax.yaxis.set_minor_formatter(NullFormatter())
                else:
                    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 4))
                ax.set_title("learning rate")
                epoch_axis(ax, epochs)
    return plots


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
        with figure(4.6, 4.2, f"predicted vs true{suffix}", plots) as (_, ax):
            alpha = 0.7 if len(y_true) < 500 else 0.3
            ax.scatter(y_true, y_pred, s=10, alpha=alpha, color=TRAIN_COLOR, edgecolors="none")
            low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
            ax.plot([low, high], [low, high], color=VAL_COLOR, linestyle="--", linewidth=1.2, label="perfect")
            ax.set_title(safe_label(f"Predicted vs true{suffix}", 60))
            ax.set_xlabel("true")
            ax.set_ylabel("predicted")
            ax.legend(loc="upper left")
        with figure(4.6, 4.2, f"residuals{suffix}", plots) as (_, ax):
            ax.hist(residuals, bins=min(40, max(10, len(residuals) // 10)), color=TRAIN_COLOR, alpha=0.85)
            ax.axvline(0, color=VAL_COLOR, linestyle="--", linewidth=1.2)
            ax.set_title(safe_label(f"Residuals (predicted − true){suffix}", 60))
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
        with figure(5.2, 3.4, f"{metric} per epoch, all runs", plots) as (_, ax):
            for i, (run, label) in enumerate(zip(runs, labels)):
                epochs = run.epochs
                for key, style, suffix in ((f"val_{metric}", "-", "val"), (metric, "--", "train")):
                    values = [as_nan(row.get(key)) for row in run.history]
                    if any(not math.isnan(v) for v in values):
                        ax.plot(
                            epochs,
                            values,
                            linestyle=style,
                            color=series_color(i),
                            linewidth=1.5,
                            alpha=1.0 if style == "-" else 0.6,
                            label=f"{safe_label(label)} {suffix}",
                        )
            ax.set_title(safe_label(summary.metric_label(metric), 40))
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
    return plots


def _mosaic(images: Any, cells: Sequence[Sequence[int]], *, cols: int, gap: int, vgap: int, top: int) -> Any:
    """The images laid out in rows on white, as one RGB array.

    One mosaic image in one axes: a subplot per image costs about 10 ms each (a second for 80 samples).
    """
    import numpy as np

    rows = len(cells)
    h, w = images.shape[1:3]
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
    return mosaic


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
    h, w = images.shape[1:3]
    gap = max(1, round(min(h, w) / 8))
    vgap = gap if by_row else max(gap, round(h * 0.35))  # room for a caption above each row
    top = 0 if by_row else vgap
    mosaic = _mosaic(images, cells, cols=cols, gap=gap, vgap=vgap, top=top)
    cell = 0.62
    left = 1.1 if by_row else 0.1
    caption = 0.0 if by_row else 0.16
    width, height = left + cols * cell + 0.1, rows * (cell + caption) + 0.15
    plots: list[Plot] = []
    with figure(width, height, "sample images per class", plots) as (fig, ax):
        fig.subplots_adjust(left=left / width, right=1 - 0.1 / width, bottom=0.05 / height, top=1 - 0.1 / height)
        ax.imshow(mosaic, interpolation="nearest", aspect="auto")
        ax.grid(False)
        ax.set_xticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if by_row:
            ax.set_yticks([r * (h + vgap) + h / 2 for r in range(rows)])
            ax.set_yticklabels(
                [safe_label(classes[c] if c < len(classes) else str(c), 14) for c in present], fontsize=8
            )
            ax.tick_params(axis="y", length=0)
        else:
            ax.set_yticks([])
            for r in range(rows):
                for c, i in enumerate(cells[r][:cols]):
                    name = classes[labels[i]] if labels[i] < len(classes) else str(labels[i])
                    ax.text(
                        c * (w + gap) + w / 2,
                        top + r * (h + vgap) - 1,
                        safe_label(name, 10),
                        ha="center",
                        va="bottom",
                        fontsize=6,
                    )
    return plots[0]
