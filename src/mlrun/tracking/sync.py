"""``mlrun sync``: record runs and sweeps trained offline (or whose tracking failed) in MLflow and TensorBoard.

Everything comes from the run directory: config.yaml (params), history.csv (one metric step per
epoch), metrics.json, run.json (status, tags) and the files. Syncing is idempotent: an MLflow
run is found again by its ``mlrun.run_id`` tag and gets only what it lacks, and TensorBoard's
files are rewritten. A failed, interrupted or crashed run keeps its status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlrun import store
from mlrun.errors import ConfigError
from mlrun.store import is_sweep_dir


@dataclass
class SyncResult:
    """What :func:`sync` recorded: every run (``<sweep>/<trial>`` for a sweep's) and sweep, by mlrun id."""

    runs: list[str] = field(default_factory=list)
    sweeps: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the terminal."""
        return f"synced {len(self.runs)} runs" + (f" ({len(self.sweeps)} sweeps)" if self.sweeps else "")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _run_info(run_dir: Path) -> dict[str, Any]:
    info = store.read_run_info(run_dir)
    return {**info, "status": store.effective_status(info)}


def sync_refs(
    refs: list[str], runs_dir: Path, everything: bool, *, mlflow: str | None, tensorboard: bool
) -> SyncResult:
    """``mlrun sync``: the runs and sweeps ``refs`` name (or all, ``everything``) into MLflow and/or TensorBoard.

    Raises:
        ConfigError: nothing named, or nowhere to record it.
        RunNotFound: a reference names no run or sweep.
    """
    if (mlflow is None and not tensorboard) or (not refs and not everything):
        raise ConfigError("error: name runs (or --all) and where to record them: --mlflow URI and/or --tensorboard")
    return sync(targets(refs, runs_dir, everything=everything), mlflow=mlflow, tensorboard=tensorboard)


def targets(refs: Iterable[str], runs_dir: Path, *, everything: bool) -> list[Path]:
    """The run and sweep directories that RUN|SWEEP references (or ``--all``: all of ``runs_dir``) name."""
    if everything:
        found = [r.path for r in store.iter_runs(runs_dir)]
        found += (
            sorted(p for p in Path(runs_dir).iterdir() if p.is_dir() and is_sweep_dir(p)) if runs_dir.is_dir() else []
        )
        return found
    return [store.resolve_run(ref, runs_dir, sweeps=True) for ref in refs]


def sync(paths: Iterable[Path], *, mlflow: str | None, tensorboard: bool, experiment: str | None = None) -> SyncResult:
    """Record each run or sweep directory of ``paths`` in MLflow (at URI ``mlflow``) and/or as TensorBoard files.

    Raises:
        TrackingError: ``mlflow`` is ``env`` and MLFLOW_TRACKING_URI is not set.
        Exception: MLflow's own, when the server cannot be reached (nothing is lost: sync again).
    """
    uri = None
    if mlflow is not None:
        from mlrun.tracking.mlflow import resolve_uri

        uri = resolve_uri(mlflow)
    result = SyncResult()
    for path in paths:
        if is_sweep_dir(path):
            result.runs += sync_sweep(path, uri=uri, tensorboard=tensorboard, experiment=experiment)
            result.sweeps.append(path.name)
        else:
            sync_run(path, uri=uri, tensorboard=tensorboard, experiment=experiment)
            result.runs.append(path.name)
    return result


def sync_run(
    run_dir: Path,
    *,
    uri: str | None,
    tensorboard: bool,
    experiment: str | None = None,
    sweep: dict[str, Any] | None = None,
) -> None:
    """Record one run; ``sweep`` (``sweep_id``, ``parent``, ``kind``, ``params``) makes it a sweep's nested run."""
    from mlrun.tracking.mlflow import read_history

    info = _run_info(run_dir)
    config = _read_yaml(run_dir / store.CONFIG_FILE)
    rows = read_history(run_dir)
    mlrun_id = f"{sweep['sweep_id']}/{run_dir.name}" if sweep else run_dir.name
    if tensorboard:
        from mlrun.tracking.tensorboard import rewrite_from_history, write_trial_hparams

        board = rewrite_from_history(run_dir, rows)
        if sweep:
            write_trial_hparams(board, sweep["params"], mlrun_id)
        board.close()
    if uri is None:
        return
    from mlrun.tracking.mlflow import Recorder, flatten_params, record_end, run_tags

    tags = run_tags(info, **({"kind": sweep["kind"], "sweep_id": sweep["sweep_id"]} if sweep else {}))
    name = experiment or config.get("name") or info.get("name") or run_dir.name
    recorder = Recorder.open(
        uri,
        str(name),
        mlrun_id,
        tags=tags,
        parent=sweep["parent"] if sweep else None,
        started_at=info.get("started_at"),
    )
    config.pop("tracking", None)
    recorder.log_params({**flatten_params(config), **flatten_params(sweep["params"] if sweep else {})})
    recorder.log_history(rows, skip_logged=True)
    record_end(recorder, run_dir, info, tags)


def sync_sweep(sweep_dir: Path, *, uri: str | None, tensorboard: bool, experiment: str | None = None) -> list[str]:
    """Record a sweep: its parent run with the results, and a nested run per trial and the refit; return their ids."""
    from mlrun.sweep.files import REFIT_DIR, SWEEP_FILE, SWEEP_YAML, TRIAL_FILE, TRIALS_DIR

    info = store.read_json(sweep_dir / SWEEP_FILE)
    config = _read_yaml(sweep_dir / SWEEP_YAML)
    name = str(experiment or config.get("name") or info.get("name"))
    parent = None
    if uri is not None:
        parent = _sync_parent(sweep_dir, info, config, uri=uri, experiment=name)
    if tensorboard:
        _sweep_table(sweep_dir, config)
    runs = []
    trial_dirs = sorted(p for p in (sweep_dir / TRIALS_DIR).glob("*") if (p / store.RUN_FILE).is_file())
    for run_dir in [*trial_dirs, *[p for p in [sweep_dir / REFIT_DIR] if (p / store.RUN_FILE).is_file()]]:
        trial = _read_json(run_dir / TRIAL_FILE)
        link = {"sweep_id": sweep_dir.name, "parent": parent, "kind": trial.get("kind", "trial")}
        link["params"] = trial.get("params") or {}
        sync_run(run_dir, uri=uri, tensorboard=tensorboard, experiment=name, sweep=link)
        runs.append(f"{sweep_dir.name}/{run_dir.name}")
    if parent is not None:
        _end_parent(sweep_dir, info, uri=str(uri), experiment=name)
    return runs


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return store.read_json(path)
    except (OSError, ValueError):
        return {}


def _sync_parent(sweep_dir: Path, info: dict[str, Any], config: dict[str, Any], *, uri: str, experiment: str) -> str:
    from mlrun.tracking.mlflow import Recorder, flatten_params, run_tags

    backend = (config.get("runtime") or {}).get("backend")
    tags = run_tags({**info, "runtime": {"backend": backend}}, kind="sweep")
    recorder = Recorder.open(uri, experiment, sweep_dir.name, tags=tags, started_at=info.get("started_at"))
    config.pop("tracking", None)
    recorder.log_params(flatten_params(config))
    return recorder.run_id


def _end_parent(sweep_dir: Path, info: dict[str, Any], *, uri: str, experiment: str) -> None:
    from mlrun.tracking.mlflow import Recorder
    from mlrun.tracking.sweeps import record_sweep_end

    recorder = Recorder.open(uri, experiment, sweep_dir.name, tags={})
    status = store.effective_status(info) if info.get("status") == "running" else info.get("status")
    record_sweep_end(recorder, sweep_dir, {**info, "status": status})


def _sweep_table(sweep_dir: Path, config: dict[str, Any]) -> None:
    """The HParams table's columns, from results.csv's grid values."""
    from mlrun.sweep.files import RESULTS_JSON
    from mlrun.tracking.tensorboard import TENSORBOARD_DIR, write_sweep_hparams

    space: dict[str, list[Any]] = {}
    for row in _read_json(sweep_dir / RESULTS_JSON).get("points") or []:
        for key, value in (row.get("params") or {}).items():
            space.setdefault(key, []).append(value)
    metrics = ["loss", *(config.get("metrics") or [])]
    directory = sweep_dir / TENSORBOARD_DIR
    if directory.exists():
        import shutil

        shutil.rmtree(directory)
    write_sweep_hparams(directory, space, metrics)
