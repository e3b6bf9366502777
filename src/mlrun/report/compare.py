"""Compare runs side by side: the config keys that differ, and one metric table with the best marked."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlrun.errors import ConfigError
from mlrun.metrics import registry
from mlrun.report import summary
from mlrun.report.rundata import RunData


class _Missing:
    """The value of a config key that one run does not have."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class MetricRow:
    """One metric across runs; ``best`` holds the indexes of the best value(s), empty when there is no order.

    ``kind`` says how to show the values: ``metric``, ``count`` or ``seconds``.
    """

    key: str
    label: str
    values: list[float | None]
    best: frozenset[int]
    kind: str = "metric"

    def text(self, i: int) -> str:
        """Return the value of run ``i`` formatted for display."""
        value = self.values[i]
        if value is None:
            return "—"
        if self.kind == "count":
            return summary.fmt(int(value))
        if self.kind == "seconds":
            return summary.fmt_duration(value)
        return summary.fmt(value)


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: ``config_diff`` is (dotted key, value per run) for keys that differ."""

    runs: list[RunData]
    labels: list[str]
    config_diff: list[tuple[str, list[Any]]]
    metrics: list[MetricRow]


def compare_runs(runs: Sequence[RunData]) -> Comparison:
    """Compare two or more runs.

    Raises:
        ConfigError: fewer than two runs were given.
    """
    if len(runs) < 2:
        raise ConfigError(f"compare needs at least two runs (got {len(runs)}): `mlrun compare RUN RUN [RUN ...]`")
    return Comparison(
        runs=list(runs),
        labels=summary.column_labels(runs),
        config_diff=diff_configs([run.config for run in runs]),
        metrics=metric_rows(runs),
    )


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys; lists of mappings get an index (``model.layers.0.type``).

    Lists of plain values stay whole: ``model.hidden_units: [256, 64]`` is one value.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        elif isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    flat.update(flatten(item, f"{dotted}.{i}."))
                else:
                    flat[f"{dotted}.{i}"] = item
            if not value:
                flat[dotted] = value
        else:
            flat[dotted] = value
    return flat


def diff_configs(configs: Sequence[Mapping[str, Any] | None]) -> list[tuple[str, list[Any]]]:
    """Return (dotted key, value per config) for every key whose value is not the same in all configs.

    A key a config does not have is :data:`MISSING` there. Keys keep the order of
    their first appearance.
    """
    flats = [flatten(c or {}) for c in configs]
    keys: dict[str, None] = {}
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    diff = []
    for key in keys:
        values = [flat.get(key, MISSING) for flat in flats]
        if any(not _same(values[0], v) for v in values[1:]):
            diff.append((key, values))
    return diff


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    # 1 and 1.0 are the same value, but True is not 1.
    return a == b and type(a) is type(b) or (summary.is_number(a) and summary.is_number(b) and float(a) == float(b))


def metric_rows(runs: Sequence[RunData]) -> list[MetricRow]:
    """Return the test metrics, final validation/training metrics and run facts across runs."""
    rows: list[MetricRow] = []
    test_keys: dict[str, None] = {}
    for run in runs:
        test_keys.update(dict.fromkeys(k for k, _ in summary.evaluation_metrics(run)))
    for key in test_keys:
        values = [dict(summary.evaluation_metrics(run)).get(key) for run in runs]
        rows.append(_row(f"test.{key}", f"test {summary.metric_label(key)}", values, registry.direction(key)))

    bases: dict[str, None] = {}
    for run in runs:
        bases.update(dict.fromkeys(summary.base_metrics(run)))
    for split, prefix in (("val", "val_"), ("train", "")):
        for base in bases:
            values = [run.history[-1].get(f"{prefix}{base}") if run.history else None for run in runs]
            if any(v is not None for v in values):
                rows.append(_row(f"{split}.{base}", f"{split} {base} (final)", values, registry.direction(base)))

    rows.append(_row("best_epoch", "best epoch", [summary.as_number(run.best_epoch) for run in runs], None, "count"))
    rows.append(_row("epochs", "epochs run", [float(run.epochs_completed) for run in runs], None, "count"))
    rows.append(
        _row("params", "parameters", [summary.as_number(run.info.get("params")) for run in runs], None, "count")
    )
    rows.append(_row("duration_s", "duration", [run.duration_s for run in runs], None, "seconds"))
    return rows


def _row(key: str, label: str, values: list[float | None], order: str | None, kind: str = "metric") -> MetricRow:
    scored = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    best: frozenset[int] = frozenset()
    if order and len(scored) > 1:
        target = max(v for v, _ in scored) if order == "max" else min(v for v, _ in scored)
        best = frozenset(i for v, i in scored if v == target)
        if len(best) == len(scored):
            best = frozenset()  # all equal: nothing stands out
    return MetricRow(key=key, label=label, values=values, best=best, kind=kind)
