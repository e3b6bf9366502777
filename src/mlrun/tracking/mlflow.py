"""One MLflow run per mlrun run, through MLflow's client API (``MlflowClient``).

A run is found again by its ``mlrun.run_id`` tag, so recording it twice (live, then
``mlrun sync``; or syncing twice) adds only what is missing: params not logged yet,
metric steps not logged yet, tags and artifacts (which overwrite themselves).
This module imports MLflow when it is imported: reach it only when a run asks for MLflow.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlrun.errors import MlrunError

RUN_ID_TAG = "mlrun.run_id"
PARENT_TAG = "mlflow.parentRunId"
PARAM_VALUE_MAX = 6000
"""MLflow refuses longer param values."""
PARAM_KEY_MAX = 250
_BATCH = 100  # log_batch takes at most 100 params (and 1000 metrics) per call
MLFLOW_STATUS = {"completed": "FINISHED", "running": "RUNNING", "interrupted": "KILLED"}
"""mlrun's status -> MLflow's; every other one (failed, diverged, crashed) is FAILED."""
RUN_ARTIFACTS = (
    "report.html",
    "metrics.json",
    "config.yaml",
    "run.json",
    "history.csv",
    "confusion_matrix.csv",
    "predictions.csv",
)
SWEEP_ARTIFACTS = ("results.csv", "results.json", "sweep.json", "sweep.yaml", "best_config.yaml", "report.html")
MODEL_FILE = "model.keras"


class TrackingError(MlrunError):
    """A tracking URI that cannot be used as given."""


def resolve_uri(value: str) -> str:
    """The tracking URI ``value`` names: itself, or ``$MLFLOW_TRACKING_URI`` for ``env``."""
    if value != "env":
        return value
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        raise TrackingError("error: tracking.mlflow: env, but MLFLOW_TRACKING_URI is not set; set it, or give the URI")
    return uri


def fail_fast_http() -> None:
    """Keep a dead tracking server from stalling training: no retries, a 10 s timeout (unless already set).

    Also keep MLflow from printing its "View run ... at" lines into mlrun's one-line summaries.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def flatten_params(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config data as MLflow params: dotted keys, lists and scalars as JSON, both cut to MLflow's limits.

    >>> flatten_params({"optimizer": {"name": "adam", "learning_rate": 0.001}, "model": {"hidden_units": [64, 32]}})
    {'optimizer.name': 'adam', 'optimizer.learning_rate': '0.001', 'model.hidden_units': '[64, 32]'}
    """
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten_params(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            out[_param_key(name)] = text[:PARAM_VALUE_MAX]
    return out


def _param_key(name: str) -> str:
    """``name`` cut to MLflow's key length; a cut key ends in a hash of the whole, so two long keys stay apart."""
    if len(name) <= PARAM_KEY_MAX:
        return name
    return f"{name[: PARAM_KEY_MAX - 9]}~{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def numeric_metrics(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers in ``data`` (nested mappings by dotted name), as MLflow metrics named ``prefix + name``."""
    out: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(numeric_metrics(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[f"{prefix}{key}"] = float(value)
    return out


def _millis(iso: str | None) -> int | None:
    try:
        return int(_dt.datetime.fromisoformat(iso).timestamp() * 1000) if iso else None
    except ValueError:
        return None


class Recorder:
    """One MLflow run that records one mlrun run (or sweep): found by its ``mlrun.run_id`` tag, else created."""

    def __init__(self, client: MlflowClient, run_id: str, params: Mapping[str, str]) -> None:
        self.client, self.run_id = client, run_id
        self._params = dict(params)
        self._steps: dict[str, set[int]] | None = None

    @classmethod
    def open(
        cls,
        uri: str,
        experiment: str,
        mlrun_id: str,
        *,
        tags: Mapping[str, str],
        parent: str | None = None,
        started_at: str | None = None,
    ) -> Recorder:
        """The MLflow run of ``mlrun_id`` in ``experiment`` at ``uri`` (created with ``tags`` if there is none)."""
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found is not None else client.create_experiment(experiment)
        quoted = mlrun_id.replace("'", "\\'")
        existing = client.search_runs([exp_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{quoted}'", max_results=1)
        if existing:
            return cls(client, existing[0].info.run_id, existing[0].data.params)
        all_tags = {RUN_ID_TAG: mlrun_id, **tags, **({PARENT_TAG: parent} if parent else {})}
        run = client.create_run(exp_id, start_time=_millis(started_at), tags=all_tags, run_name=mlrun_id)
        return cls(client, run.info.run_id, {})

    def log_params(self, params: Mapping[str, str]) -> None:
        """Log the params this run does not have yet (MLflow refuses to change one)."""
        new = [Param(k, v) for k, v in params.items() if k not in self._params]
        for i in range(0, len(new), _BATCH):
            self.client.log_batch(self.run_id, params=new[i : i + _BATCH])
        self._params.update({p.key: p.value for p in new})

    def log_epoch(self, epoch: int, row: Mapping[str, float]) -> None:
        """One step (the 1-based epoch) of every finite value in ``row``."""
        self.log_history([(epoch, row)])

    def log_history(self, rows: Iterable[tuple[int, Mapping[str, float]]], *, skip_logged: bool = False) -> None:
        """Log per-epoch values; with ``skip_logged``, only the (metric, epoch) pairs the run does not have yet."""
        now = int(_dt.datetime.now().timestamp() * 1000)
        metrics = []
        for epoch, row in rows:
            for key, value in numeric_metrics(row).items():
                if not (skip_logged and epoch in self._logged_steps(key)):
                    metrics.append(Metric(key, value, now, epoch))
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])

    def _logged_steps(self, key: str) -> set[int]:
        if self._steps is None:
            self._steps = {}
        if key not in self._steps:
            self._steps[key] = {m.step for m in self.client.get_metric_history(self.run_id, key)}
        return self._steps[key]

    def log_values(self, values: Mapping[str, float]) -> None:
        """Single-valued metrics (test metrics), logged once: a value already there is left alone."""
        have = self.client.get_run(self.run_id).data.metrics
        new = [Metric(k, v, int(_dt.datetime.now().timestamp() * 1000), 0) for k, v in values.items() if k not in have]
        for i in range(0, len(new), 1000):
            self.client.log_batch(self.run_id, metrics=new[i : i + 1000])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_files(self, directory: Path, names: Iterable[str], *, model: bool = False) -> None:
        """Upload the files of ``directory`` among ``names`` (and its plots, and the model under ``model/``)."""
        for name in [*names, *sorted(p.name for p in directory.glob("*.png"))]:
            if (directory / name).is_file():
                self.client.log_artifact(self.run_id, str(directory / name))
        if model and (directory / MODEL_FILE).is_file():
            self.client.log_artifact(self.run_id, str(directory / MODEL_FILE), artifact_path="model")

    def terminate(self, status: str, ended_at: str | None = None) -> None:
        """End the MLflow run with the status matching mlrun's ``status``."""
        mlflow_status = MLFLOW_STATUS.get(status, "FAILED")
        if mlflow_status != "RUNNING":
            self.client.set_terminated(self.run_id, status=mlflow_status, end_time=_millis(ended_at))


# --------------------------------------------------------------------------- what an mlrun run is in MLflow


def run_tags(info: Mapping[str, Any], *, kind: str = "run", sweep_id: str | None = None) -> dict[str, str]:
    """The tags of a run's MLflow run, from its run.json: status, task, backend, smoke, sweep and fold."""
    runtime = info.get("runtime") or {}
    tags = {
        "mlrun.kind": kind,
        "mlrun.status": str(info.get("status")),
        "mlrun.task": str(info.get("task")),
        "mlrun.backend": str(runtime.get("backend") if isinstance(runtime, Mapping) else None),
        "mlrun.smoke": str(bool(info.get("smoke"))).lower(),
    }
    if sweep_id is not None:
        tags["mlrun.sweep_id"] = sweep_id
    fold = info.get("fold")
    if isinstance(fold, Mapping) and fold.get("index") is not None:
        tags.update({"mlrun.fold": str(fold["index"]), "mlrun.n_splits": str(fold.get("n_splits"))})
    return tags


def record_end(recorder: Recorder, run_dir: Path, info: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Log what a finished (or failed, interrupted) run left: its evaluation metrics, tags, files; end the MLflow run.

    metrics.json's numbers are logged as ``test_<name>`` (``validation_<name>`` for a sweep's trial,
    which is scored on its held-out fold).
    """
    metrics_file = run_dir / "metrics.json"
    if metrics_file.is_file():
        prefix = f"{info.get('evaluated_on') or 'test'}_"
        recorder.log_values(numeric_metrics(json.loads(metrics_file.read_text(encoding="utf-8")), prefix))
    recorder.set_tags({**tags, "mlrun.status": str(info.get("status"))})
    recorder.log_files(run_dir, RUN_ARTIFACTS, model=True)
    recorder.terminate(str(info.get("status")), info.get("ended_at"))


def read_history(run_dir: Path) -> list[tuple[int, dict[str, float]]]:
    """history.csv as (1-based epoch, values) rows; empty cells left out."""
    from mlrun.store import read_csv

    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    rows = []
    for raw in read_csv(path):
        values = {k: float(v) for k, v in raw.items() if k != "epoch" and v not in ("", None)}
        rows.append((int(raw["epoch"]), values))
    return rows
