"""Run one trial in a worker; in the driver, build a trial's task and read and record its state on disk.

The worker functions take and return plain data (dicts of strings, numbers and
lists), so they run the same in a spawned process and in a Ray task. A trial
is finished when its run.json says ``completed``; anything else (no
directory, ``running`` with a dead process, ``failed``, ``diverged``,
``interrupted``) is run again when the sweep is resumed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun import store
from mlrun.config import config_to_dict
from mlrun.errors import MlrunError
from mlrun.runtime_choice import choose_backend
from mlrun.sweep.files import TRACEBACK_FILE, TRIAL_FILE

if TYPE_CHECKING:
    from mlrun.config import ExperimentConfig
    from mlrun.data import Fold
    from mlrun.sweep.plan import SweepPlan, Trial

# --------------------------------------------------------------------------- in the worker


def run_trial(task: dict[str, Any]) -> dict[str, Any]:
    """Train one trial into the existing directory ``task["run_dir"]`` and return its outcome.

    A failed trial is recorded in its run.json and returned, not raised; only an
    interrupt (Ctrl-C, SIGTERM) propagates, after the runner marks the run
    ``interrupted``. The Keras session is cleared first (which also collects
    garbage), so a worker that runs many trials holds nothing from the previous one.

    With ``task["prune"]`` (a pruned search), Optuna's pruner is asked after every epoch
    (:func:`mlrun.sweep.study.pruning_hook`); a fold it stops is evaluated as it stands, and its
    status is ``pruned``.

    Returns:
        ``{"name", "key", "status", "error", "duration_s", "pid"}``.
    """
    from mlrun.backend import import_keras
    from mlrun.config import validate_config
    from mlrun.data import Fold
    from mlrun.runner import run_experiment

    keras = import_keras(task.get("backend"))  # a worker gets tasks of one backend only (see mlrun.sweep.executors)
    run_dir = Path(task["run_dir"])
    started = time.time()
    status, error = "failed", None
    keras.backend.clear_session()  # Keras' global state and the previous trial's model; runs gc.collect() too
    try:
        cfg = validate_config(task["config"], source=task["name"])
        fold = Fold(*task["fold"]) if task["fold"] is not None else None
        should_stop = None
        if task.get("prune"):
            from mlrun.sweep.study import pruning_hook

            should_stop = pruning_hook(task["prune"])
        result = run_experiment(
            cfg,
            run_dir.parent,
            run_dir=run_dir,
            fold=fold,
            inner_validation=task.get("inner_validation"),
            evaluate_on=task["evaluate_on"],
            smoke=task["smoke"],
            command=task["command"],
            base_dir=Path(task["base_dir"]),
            should_stop=should_stop,
        )
        status = result.status
        if status != "completed":
            error = store.read_run_info(run_dir).get("error")
        elif store.read_run_info(run_dir).get("pruned_at_epoch") is not None:
            status = "pruned"
    except MlrunError as exc:
        error = str(exc).removeprefix("error: ")
    except Exception as exc:  # a bug or a Keras failure: keep the traceback beside the run
        error = f"{type(exc).__name__}: {exc}"
        store.write_atomic(run_dir / TRACEBACK_FILE, traceback.format_exc())
    if status == "failed":
        mark_failed(run_dir, error or "failed", name=task["name"], fold=task["fold"])
    return {
        "name": task["name"],
        "key": task["key"],
        "status": status,
        "error": error,
        "duration_s": round(time.time() - started, 3),
        "pid": os.getpid(),
    }


def run_trial_packed(task: dict[str, Any]) -> dict[str, Any]:
    """Run a trial in a temporary directory and return its outcome with the directory's files.

    For workers on other machines (Ray): the driver writes ``outcome["files"]``
    (name -> bytes) into the trial's directory with :func:`commit_files`.
    """
    with tempfile.TemporaryDirectory(prefix="mlrun-trial-") as tmp:
        run_dir = Path(tmp) / task["name"]
        run_dir.mkdir()
        outcome = run_trial({**task, "run_dir": str(run_dir)})
        outcome["files"] = {
            p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file() and not p.name.startswith(".")
        }
    return outcome


# --------------------------------------------------------------------------- in the driver


def trial_task(
    plan: SweepPlan,
    name: str,
    key: str,
    cfg: ExperimentConfig,
    fold: Fold | None,
    run_dir: Path,
    *,
    evaluate_on: str,
    threads: int,
    command: list[str],
    prune: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The plain-data task a worker runs (see :func:`run_trial`): the config with this worker's thread counts filled in.

    Args:
        plan: the sweep (its smoke flag and the base directory of relative dataset paths).
        name: the trial's name, for messages.
        key: the trial's key, recorded in its outcome.
        cfg: the trial's config.
        fold: the cross-validation fold it validates on, or None (the validation split).
        run_dir: the (existing, empty) run directory it trains into.
        evaluate_on: ``validation`` for a trial, ``test`` for the refit.
        threads: the worker's thread count, used where the config leaves it open.
        command: the command line recorded in run.json.
        prune: how the worker reports to the study of a pruned search (see :func:`mlrun.sweep.study.pruning_hook`).
    """
    config = config_to_dict(cfg)
    runtime = config["runtime"]
    if runtime.get("intra_op_threads") is None:
        runtime["intra_op_threads"] = threads
    if runtime.get("inter_op_threads") is None:
        runtime["inter_op_threads"] = 1
    cv = plan.block.cv
    return {
        "name": name,
        "key": key,
        "config": config,
        "backend": choose_backend(
            cfg, here=False
        ).backend,  # which kind of worker runs it (runtime.backend may be auto)
        "fold": fold.as_list() if fold is not None else None,
        "inner_validation": cv.inner_validation if cv is not None and fold is not None else None,
        "evaluate_on": evaluate_on,
        "smoke": plan.spec.smoke,
        "command": command,
        "base_dir": str(plan.spec.base_dir),
        "run_dir": str(run_dir),
        "prune": prune,
    }


def trial_info(plan: SweepPlan, trial: Trial) -> dict[str, Any]:
    """trial.json: what the trial is (sweep, key, point, params, fold, dataset fingerprint), written before it runs."""
    point = plan.spec.point(trial.point)
    fold: dict[str, int] | None = None
    if trial.fold is not None:
        fold = {"index": trial.fold.index, "n_splits": trial.fold.n_splits}
        if trial.fold.n_repeats > 1:
            fold |= {"repeat": trial.fold.repeat, "n_repeats": trial.fold.n_repeats}
    return {
        "kind": "trial",
        "sweep_id": plan.sweep_id,
        "key": trial.key,
        "point": trial.point,
        "params": point.params,
        "fold": fold,
        "dataset_fingerprint": plan.fingerprints[trial.point],
    }


def record_outcome(run_dir: Path, task: dict[str, Any], outcome: dict[str, Any]) -> bool:
    """Put a finished trial's outcome on disk; return True when it completed."""
    files = outcome.pop("files", None)
    if files:
        commit_files(run_dir, files)
    if outcome.get("attempts") is not None:  # a Ray task: how many times it ran (its worker died before)
        with contextlib.suppress(OSError, ValueError):
            info = store.read_json(run_dir / TRIAL_FILE)
            store.write_json(run_dir / TRIAL_FILE, {**info, "attempts": outcome["attempts"]})
    if outcome["status"] not in ("completed", "pruned"):
        mark_failed(run_dir, outcome.get("error") or outcome["status"], name=task["name"], fold=task["fold"])
    return outcome["status"] == "completed" and is_done(run_dir)


def read_key(run_dir: Path) -> str | None:
    """The key in a trial's trial.json (None when it cannot be read)."""
    try:
        return store.read_json(run_dir / TRIAL_FILE).get("key")
    except (OSError, ValueError):
        return None


def prepare_dir(run_dir: Path, info: dict[str, Any]) -> None:
    """Empty (or create) a trial's directory and write its trial.json: what it is, before it runs."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    store.write_json(run_dir / TRIAL_FILE, info)


def commit_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """Write a packed trial's files into its directory, run.json last, so a crash never shows a half-written completed run."""
    for name, data in files.items():
        if name != store.RUN_FILE:
            store.write_atomic(run_dir / name, data)
    if store.RUN_FILE in files:
        store.write_atomic(run_dir / store.RUN_FILE, files[store.RUN_FILE])


def trial_state(run_dir: Path) -> str:
    """The trial's status: ``missing`` (never ran), ``crashed``, ``pruned`` (stopped by a search's pruner,
    then evaluated: not finished, so trained again when needed), or the status in its run.json."""
    try:
        info = store.read_json(run_dir / store.RUN_FILE)
    except (OSError, ValueError):
        return "missing"
    status = store.effective_status(info)
    return "pruned" if status == "completed" and info.get("pruned_at_epoch") is not None else status


def is_done(run_dir: Path) -> bool:
    """True when the trial completed and its metrics are on disk: a resumed sweep skips it."""
    return trial_state(run_dir) == "completed" and (run_dir / store.METRICS_FILE).is_file()


def mark_failed(run_dir: Path, error: str, *, name: str, fold: list[Any] | None = None) -> None:
    """Record a failure in the trial's run.json: update a ``running`` one, or write a minimal one if there is none.

    Used when the runner could not record it: the data or config failed before
    the run started, or the worker process died.
    """
    try:
        info = store.read_json(run_dir / store.RUN_FILE)
    except (OSError, ValueError):
        info = {
            "id": run_dir.name,
            "name": name,
            "started_at": store.now_iso(),
            **store.host_info(),
            "fold": {"index": fold[0], "n_splits": fold[1]} if fold else None,
        }
    if info.get("status") not in (None, "running"):
        return  # the runner recorded how it ended
    info.update(status="failed", error=error, ended_at=store.now_iso())
    run_dir.mkdir(parents=True, exist_ok=True)
    store.write_json(run_dir / store.RUN_FILE, info)


def read_error(run_dir: Path) -> str | None:
    """The error recorded in a trial's run.json, if any."""
    try:
        return store.read_json(run_dir / store.RUN_FILE).get("error")
    except (OSError, ValueError):
        return None
