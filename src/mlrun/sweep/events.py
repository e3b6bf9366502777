"""What a running sweep tells its progress display: one event before the first trial and one after each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class SweepProgress:
    """What a progress display needs after each finished trial (and once before the first)."""

    stage: str
    """``trials``, then ``refit``."""
    total: int
    """Trials this invocation runs (finished ones from an earlier invocation are not counted)."""
    finished: int
    failed: int
    skipped: int
    """Trials finished by an earlier invocation of the same sweep."""
    trial: str | None = None
    status: str | None = None
    error: str | None = None

    @classmethod
    def after_trial(
        cls, total: int, finished: int, failed: int, skipped: int, task: dict[str, Any], outcome: dict[str, Any]
    ) -> SweepProgress:
        """The progress after ``task`` finished with ``outcome``."""
        return cls("trials", total, finished, failed, skipped, task["name"], outcome["status"], outcome.get("error"))


ProgressCallback = Callable[[SweepProgress], None]
