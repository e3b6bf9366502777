"""Metrics: the registry (:mod:`.registry`, light: no numpy) and the test-set computations (:mod:`.compute`, sklearn).

Import the computations from :mod:`mlrun.metrics.compute`; this package imports only the registry, so the
report and the CLI can ask what a metric is without loading scikit-learn.
"""

from mlrun.metrics.registry import (
    METRICS,
    TASKS,
    Metric,
    base_name,
    default_epoch_metrics,
    did_you_mean,
    direction,
    epoch_metrics,
    headline,
    held_out_metrics,
    label,
    logged_names,
    scored_metrics,
)

__all__ = [
    "METRICS",
    "TASKS",
    "Metric",
    "base_name",
    "default_epoch_metrics",
    "did_you_mean",
    "direction",
    "epoch_metrics",
    "headline",
    "held_out_metrics",
    "label",
    "logged_names",
    "scored_metrics",
]
