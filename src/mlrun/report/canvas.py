"""The drawing surface every report figure shares: size, style, colors, PNG data URIs.

matplotlib is imported inside the functions, so the terminal report never pays
for it. Figures are plain :class:`matplotlib.figure.Figure` objects on the Agg
canvas: no pyplot, no global figure state, no display needed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlrun.report import summary

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

#: Pixels per inch of the page (CSS px) and of the PNG: images are drawn at twice
#: the size they are shown, so they stay sharp on high-density screens.
CSS_DPI = 96
PNG_DPI = 144  # 1.5 device pixels per CSS pixel: sharp on HiDPI screens, 30% less to draw than 2x
TRAIN_COLOR, VAL_COLOR, BEST_COLOR = "#2563eb", "#ea580c", "#6b7280"
_PALETTE = (
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

_STYLE: dict[RcKeyType, Any] = {
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
def figure(width: float, height: float, alt: str, out: list[Plot], **subplots: Any) -> Iterator[tuple[Any, Any]]:
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


def epoch_axis(ax: Any, epochs: Sequence[int]) -> None:
    """Label the x axis with whole epochs and show every epoch, even those with only NaN values."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs:
        pad = max(0.3, 0.03 * (epochs[-1] - epochs[0]))
        ax.set_xlim(epochs[0] - pad, epochs[-1] + pad)


def safe_label(text: str, width: int = 24) -> str:
    """Shorten a label from a data file and escape ``$``, which would start TeX math in matplotlib."""
    return summary.short_label(str(text), width).replace("$", r"\$")


def series_color(i: int) -> str:
    """The color of the ``i``-th line of a figure (a run, a class); the palette repeats after 12."""
    return _PALETTE[i % len(_PALETTE)]


def as_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def unit_axes(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)


def perfectly_calibrated(ax: Any) -> None:
    """The diagonal of a calibration plot: what a perfectly calibrated model would show."""
    ax.plot([0, 1], [0, 1], color=BEST_COLOR, linestyle=":", linewidth=1, label="perfectly calibrated")
