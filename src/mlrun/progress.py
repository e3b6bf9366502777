"""Progress bars for the CLI (rich): epochs of a training run, trials of a sweep.

The library reports progress through callbacks and never prints; these objects
are the callbacks the CLI passes in. A bar appears with the first update, so an
error raised before any progress prints nothing but its message.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from mlrun.sweep import SweepProgress


_Bars = TypeVar("_Bars", bound="StageBars")


class StageBars:
    """One rich bar per stage (``epoch``, ``trials``, ``refit``), with elapsed time, ETA and a description.

    Use it as a context manager; when ``enabled`` is False every update is ignored.
    """

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self: _Bars) -> _Bars:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)

    def show(self, stage: str, *, completed: int, total: int, description: str) -> None:
        """Move ``stage``'s bar to ``completed`` of ``total`` and show ``description`` beside it."""
        if not self.enabled:
            return
        progress = self._progress
        if progress is None:
            progress = self._progress = Progress(
                TextColumn("{task.fields[stage]}"),
                MofNCompleteColumn(),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                console=self.console,
                transient=False,
            )
            progress.__enter__()
        if stage not in self._tasks:
            self._tasks[stage] = progress.add_task("", total=total, stage=stage)
        progress.update(self._tasks[stage], completed=completed, description=description)


class EpochProgress(StageBars):
    """A bar over a run's epochs showing the latest loss and metrics: ``on_epoch`` of ``run_experiment``."""

    def update(self, epoch: int, total: int, logs: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k != "learning_rate")
        self.show("epoch", completed=epoch, total=total, description=shown)


class TrialProgress(StageBars):
    """A bar over a sweep's trials, then one over the refit: ``on_progress`` of ``run_sweep``."""

    def update(self, event: SweepProgress) -> None:
        if not self.enabled or event.total == 0:
            return
        notes = [
            f"{event.skipped} already done" if event.skipped else "",
            f"{event.failed} failed" if event.failed else "",
        ]
        if event.trial and event.status and event.status != "completed":
            notes.append(f"{event.trial}: {event.status}")
        shown = "; ".join(n for n in notes if n)
        self.show(event.stage, completed=event.finished, total=event.total, description=shown)


def notebook_console() -> Console:
    """The console the notebook API draws its bars on: Jupyter's own display where rich can drive it.

    rich animates a bar in Jupyter through ipywidgets; without them it would draw nothing, so there
    the bar is written as plain text once it finishes.
    """
    console = Console()
    if console.is_jupyter and importlib.util.find_spec("ipywidgets") is None:
        return Console(force_jupyter=False, force_terminal=False, width=120)
    return console
