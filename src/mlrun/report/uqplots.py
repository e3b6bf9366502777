"""Figures of a run's uncertainty: the regression calibration curve, predictions with error bars, ensemble members.

Drawn on :mod:`mlrun.report.canvas`, like every report figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrun import store
from mlrun.report import summary
from mlrun.report.canvas import (
    TRAIN_COLOR,
    VAL_COLOR,
    Plot,
    epoch_axis,
    figure,
    perfectly_calibrated,
    series_color,
)
from mlrun.report.rundata import to_float

#: The members' directory of an ensemble run (mlrun.ensemble.MEMBERS_DIR; not imported: it needs no Keras).
MEMBERS_DIR = "members"


def calibration_curve(rows: Sequence[Mapping[str, str]], *, coverage_68: float | None = None) -> Plot | None:
    """Observed against expected coverage of central intervals (regression calibration.csv), with the diagonal."""
    points = [(to_float(r.get("expected")), to_float(r.get("observed"))) for r in rows]
    pairs = [(x, y) for x, y in points if x is not None and y is not None]
    if not pairs:
        return None
    out: list[Plot] = []
    title = "Calibration" + (f" (68 % coverage {summary.fmt(coverage_68)})" if coverage_68 is not None else "")
    with figure(4.2, 3.8, "calibration curve: observed against expected coverage", out) as (_, ax):
        perfectly_calibrated(ax)
        ax.plot([p[0] for p in pairs], [p[1] for p in pairs], "o-", color=TRAIN_COLOR, markersize=3, label="observed")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("expected coverage (central interval)")
        ax.set_ylabel("fraction of test targets inside")
        ax.set_title(title)
        ax.legend(loc="upper left")
    return out[0]


def error_bars(predictions: Sequence[Mapping[str, str]], *, limit: int = 400) -> Plot | None:
    """Predicted against true values with ±1σ error bars (``y_std``), the first ``limit`` test samples."""
    rows = [(to_float(r.get("y_true")), to_float(r.get("y_pred")), to_float(r.get("y_std"))) for r in predictions]
    kept = [(t, p, s) for t, p, s in rows if t is not None and p is not None and s is not None][:limit]
    if not kept:
        return None
    true, pred, std = (list(v) for v in zip(*kept))
    out: list[Plot] = []
    with figure(4.6, 4.2, "predicted vs true with ±1σ error bars", out) as (_, ax):
        ax.errorbar(true, pred, yerr=std, fmt="o", markersize=2.5, color=TRAIN_COLOR, ecolor=TRAIN_COLOR, alpha=0.5)
        low, high = min(min(true), min(pred)), max(max(true), max(pred))
        ax.plot([low, high], [low, high], color=VAL_COLOR, linestyle="--", linewidth=1.2, label="perfect")
        ax.set_title("Predicted ± 1σ vs true" + (f" ({limit} samples)" if len(rows) > limit else ""))
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        ax.legend(loc="upper left")
    return out[0]


def member_curves(run_dir: Path) -> list[Plot]:
    """The loss per epoch of every ensemble member (``members/<i>/history.csv``), overlaid; [] without members."""
    root = Path(run_dir) / MEMBERS_DIR
    if not root.is_dir():
        return []
    histories = []
    for folder in sorted((p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)):
        file = folder / store.HISTORY_FILE
        if file.is_file():
            histories.append((folder.name, store.read_csv(file)))
    if len(histories) < 2:
        return []
    out: list[Plot] = []
    with figure(5.0, 3.2, "loss per epoch of each ensemble member", out) as (_, ax):
        longest: list[int] = []
        for i, (name, rows) in enumerate(histories):
            epochs = [int(float(r.get("epoch") or 0)) for r in rows]
            longest = epochs if len(epochs) > len(longest) else longest
            for key, style in (("loss", "-"), ("val_loss", "--")):
                values = [to_float(r.get(key)) for r in rows]
                if any(v is not None for v in values):
                    label = f"member {name}" if key == "loss" else None
                    ax.plot(
                        epochs,
                        [float("nan") if v is None else v for v in values],
                        style,
                        color=series_color(i),
                        linewidth=1.2,
                        label=label,
                    )
        epoch_axis(ax, longest)
        ax.set_title("Ensemble members: loss (solid) and validation loss (dashed)")
        ax.legend()
    return out
