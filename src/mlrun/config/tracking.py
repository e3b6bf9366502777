"""The ``tracking`` block: where a run is also recorded (an MLflow server, TensorBoard event files).

Tracking never changes what a run computes: a sweep's trial keys leave this block out.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from mlrun.config.base import Strict


class SweepLink(Strict):
    """The sweep a trial belongs to, as ``mlrun sweep`` passes it to the worker that trains the trial."""

    uri: str
    """The tracking URI of the sweep's MLflow run (``env`` already resolved)."""
    parent_run_id: str
    """The sweep's MLflow run: the trial's run is nested in it."""
    sweep_id: str
    kind: str = "trial"
    """``trial`` or ``refit``."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The trial's grid (or sampled) values, by dotted key."""
    fold: dict[str, Any] | None = None


class TrackingConfig(Strict):
    """Where a run is also recorded, live as it trains: MLflow and TensorBoard."""

    mlflow: str | None = Field(default=None, min_length=1)
    """An MLflow tracking URI (``http://host:5000``, ``sqlite:///mlflow.db``), or ``env`` for
    ``$MLFLOW_TRACKING_URI``; default: no MLflow (pip install 'mlrun[mlflow]' to use it)."""
    experiment: str | None = Field(default=None, min_length=1)
    """The MLflow experiment the run is recorded in; default: the config's ``name``."""
    tensorboard: bool = False
    """Write TensorBoard event files into ``<run>/tensorboard/`` (per-epoch scalars and the
    learning rate; a sweep adds the HParams table)."""
    sweep: SweepLink | None = None
    """Set by ``mlrun sweep`` for its trials; leave it out."""


def mlflow_override(uri: str | None) -> list[str]:
    """The ``--set`` override that ``--mlflow URI`` stands for (none without a URI).

    >>> mlflow_override("http://127.0.0.1:5000")
    ['tracking.mlflow="http://127.0.0.1:5000"']
    """
    return [f"tracking.mlflow={json.dumps(uri)}"] if uri else []
