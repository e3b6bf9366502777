"""Filter, sort and describe listed runs (``mlrun runs``): by name, status and a metric."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlrun import store
from mlrun.errors import ConfigError
from mlrun.metrics import registry

#: Statuses a listing can filter on: those written to run.json, and ``crashed``.
STATUS_CHOICES = (*store.STATUSES, "crashed")

_RUN_FACTS = ("duration_s", "epochs_completed", "best_epoch", "params")


@dataclass(frozen=True)
class ListedRun:
    """A run as listed, with the value of the metric it was sorted by (None when unsorted or absent)."""

    run: store.RunInfo
    sort_value: float | None = None


def select_runs(
    runs: Iterable[store.RunInfo],
    *,
    name: str | None = None,
    statuses: Sequence[str] = (),
    sort: str | None = None,
) -> list[ListedRun]:
    """Filter runs by name and status, then sort them best first by ``sort`` (a metric), if given.

    Raises:
        ConfigError: an unknown status, or a metric no listed run has.
    """
    kept = filter_runs(runs, name=name, statuses=statuses)
    if sort is None:
        return [ListedRun(run) for run in kept]
    return [ListedRun(run, value) for run, value in sort_runs(kept, sort)]


def filter_runs(
    runs: Iterable[store.RunInfo], *, name: str | None = None, statuses: Sequence[str] = ()
) -> list[store.RunInfo]:
    """Keep the runs whose name or id matches ``name`` and whose shown status is one of ``statuses``.

    ``name`` is a case-insensitive substring, or a glob pattern when it holds
    ``*``, ``?`` or ``[``.

    Raises:
        ConfigError: a status is not one a run can have.
    """
    for status in statuses:
        if status not in STATUS_CHOICES:
            close = difflib.get_close_matches(status, STATUS_CHOICES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown status {status!r}{hint}: choose from {', '.join(STATUS_CHOICES)}")
    return [
        run for run in runs if (not statuses or run.status in statuses) and (name is None or _name_matches(run, name))
    ]


def _name_matches(run: store.RunInfo, pattern: str) -> bool:
    names = [run.run_id.lower(), str(run.info.get("name") or "").lower()]
    pattern = pattern.lower()
    if any(ch in pattern for ch in "*?["):
        return any(fnmatch.fnmatchcase(n, pattern) for n in names)
    return any(pattern in n for n in names)


def read_metrics(run: store.RunInfo) -> dict[str, float]:
    """Return a run's numeric test metrics from metrics.json ({} when it has none or it is unreadable)."""
    try:
        metrics = store.read_json(run.path / store.METRICS_FILE)
    except (OSError, ValueError):
        return {}
    if not isinstance(metrics, Mapping):
        return {}
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def metric_value(run: store.RunInfo, metric: str, metrics: Mapping[str, float] | None = None) -> float | None:
    """Return ``metric`` for a run: a test metric, the headline, or a run fact such as ``duration_s``."""
    metrics = read_metrics(run) if metrics is None else metrics
    key = metric.removeprefix("test_")
    if key in metrics:
        return metrics[key]
    headline = run.info.get("headline")
    if isinstance(headline, Mapping) and headline.get("metric") == key:
        value = headline.get("value")
        return float(value) if isinstance(value, (int, float)) else None
    if metric in _RUN_FACTS:
        value = run.info.get(metric)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return None


def sort_runs(runs: Sequence[store.RunInfo], metric: str) -> list[tuple[store.RunInfo, float | None]]:
    """Sort runs best first by ``metric`` (descending for scores, ascending for losses and the rest).

    Runs without the metric come last, in their listed order.

    Raises:
        ConfigError: no run has ``metric``.
    """
    all_metrics = [read_metrics(run) for run in runs]
    scored = [(run, metric_value(run, metric, m)) for run, m in zip(runs, all_metrics)]
    if runs and all(value is None for _, value in scored):
        known = sorted({k for m in all_metrics for k in m} | set(_RUN_FACTS))
        close = difflib.get_close_matches(metric, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"no listed run has a metric {metric!r}{hint}; sort by one of: {', '.join(known)}")
    sign = -1.0 if registry.direction(metric) == "max" else 1.0
    return sorted(scored, key=lambda item: (item[1] is None, sign * item[1] if item[1] is not None else 0.0))


def run_record(run: store.RunInfo) -> dict[str, Any]:
    """Describe a run as a JSON-ready dict (``mlrun runs --json``)."""
    info = run.info
    dataset = info.get("dataset")
    return {
        "id": run.run_id,
        "name": info.get("name"),
        "status": run.status,
        "task": info.get("task"),
        "dataset": dataset.get("name") if isinstance(dataset, Mapping) else None,
        "started_at": info.get("started_at"),
        "ended_at": info.get("ended_at"),
        "duration_s": info.get("duration_s"),
        "epochs_completed": info.get("epochs_completed"),
        "best_epoch": info.get("best_epoch"),
        "smoke": bool(info.get("smoke", False)),
        "headline": info.get("headline"),
        "metrics": read_metrics(run),
        "error": info.get("error"),
        "path": str(run.path),
    }
