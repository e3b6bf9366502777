"""Figures of a random or TPE search: optimization history, parameter importances, slices (on :mod:`.canvas`)."""

from __future__ import annotations

import math
from typing import Any

from mlrun.report import summary
from mlrun.report.canvas import BEST_COLOR, TRAIN_COLOR, VAL_COLOR, Plot, figure, safe_label
from mlrun.report.studydata import SearchData, Slice

PRUNED_COLOR, FAILED_COLOR = "#ca8a04", "#dc2626"
#: Slice panels per row of the slice figure.
SLICE_COLUMNS = 3


def optimization_history(data: SearchData) -> Plot | None:
    """Each configuration's score by trial number, the best so far as a step line; pruned and failed marked."""
    if not data.history:
        return None
    out: list[Plot] = []
    label = safe_label(summary.metric_label(data.metric), 40)
    with figure(6.4, 3.4, f"optimization history: {data.metric} per trial", out) as (_, ax):
        done = [h for h in data.history if h.state == "completed" and h.value is not None]
        pruned = [h for h in data.history if h.state == "pruned" and h.value is not None]
        failed = [h for h in data.history if h.state == "failed" or (h.state == "pruned" and h.value is None)]
        ax.scatter([h.number for h in done], [h.value for h in done], s=18, color=TRAIN_COLOR, label="completed")
        if pruned:
            ax.scatter(
                [h.number for h in pruned],
                [h.value for h in pruned],
                s=22,
                marker="v",
                color=PRUNED_COLOR,
                label="pruned (value when stopped)",
            )
        best = [(h.number, h.best) for h in data.history if h.best is not None]
        if best:
            ax.step(*zip(*best), where="post", color=VAL_COLOR, linewidth=1.6, label="best so far")
        for i, h in enumerate(failed):  # no score: a mark on the x axis
            ax.axvline(h.number, color=FAILED_COLOR, linestyle=":", linewidth=1, label="failed" if i == 0 else None)
        ax.set_xlabel("trial")
        ax.set_ylabel(label)
        ax.set_title(f"Optimization history ({data.search})")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    return out[0]


def importances(data: SearchData) -> Plot | None:
    """The fANOVA importances as horizontal bars, most important on top."""
    if not data.importances:
        return None
    out: list[Plot] = []
    items = sorted(data.importances.items(), key=lambda kv: kv[1])
    height = 1.2 + 0.3 * len(items)
    with figure(6.4, height, "parameter importances (fANOVA)", out) as (fig, ax):
        fig.subplots_adjust(left=2.2 / 6.4)
        ax.barh([safe_label(k, 32) for k, _ in items], [v for _, v in items], color=TRAIN_COLOR)
        for y, (_, v) in enumerate(items):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, max(1.0, max(v for _, v in items) * 1.15))
        ax.set_xlabel("share of the score's variance (fANOVA)")
        ax.set_title("Parameter importances")
        ax.grid(axis="y", visible=False)
    return out[0]


def slices(data: SearchData) -> Plot | None:
    """Each sampled parameter's values against the score, one panel per parameter (log axes for log ranges)."""
    panels = [s for s in data.slices if s.values]
    if not panels:
        return None
    out: list[Plot] = []
    ncols = min(SLICE_COLUMNS, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    width, height = 2.6 * ncols + 0.6, 2.6 * nrows + 0.3
    label = safe_label(summary.metric_label(data.metric), 40)
    with figure(width, height, "slice plot: each parameter against the score", out, nrows=nrows, ncols=ncols) as (
        fig,
        axes,
    ):
        fig.subplots_adjust(wspace=0.35, hspace=0.6, bottom=0.7 / height)
        flat = list(axes.flat) if hasattr(axes, "flat") else [axes]
        for i, (ax, s) in enumerate(zip(flat, panels)):
            _slice_panel(ax, s)
            ax.set_ylabel(label if i % ncols == 0 else "")
        for ax in flat[len(panels) :]:
            ax.set_visible(False)
    return out[0]


def _slice_panel(axis: Any, s: Slice) -> None:
    """One parameter: its values on x (categories by name, a log axis for a log range), the score on y."""
    if s.categories is not None:
        positions = {c: i for i, c in enumerate(s.categories)}
        axis.scatter([positions[v] for v in s.values], s.scores, s=16, color=TRAIN_COLOR, alpha=0.8)
        axis.set_xticks(range(len(s.categories)), [safe_label(c, 14) for c in s.categories], rotation=20, ha="right")
        axis.set_xlim(-0.5, len(s.categories) - 0.5)
    else:
        axis.scatter(s.values, s.scores, s=16, color=TRAIN_COLOR, alpha=0.8)
        if s.log:
            from matplotlib.ticker import LogFormatter, NullFormatter

            axis.set_xscale("log")
            # Plain tick labels: the default ones are TeX math, slow to lay out.
            axis.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=True))
            axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_title(safe_label(s.param, 30), fontsize=9)
    axis.tick_params(labelsize=7)
    axis.grid(color=BEST_COLOR, alpha=0.2)
