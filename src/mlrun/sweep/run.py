"""Run a sweep: plan it, run the trials that are not finished yet, aggregate, refit the best point.

The sweep directory ``<runs>/<sweep_id>/`` holds sweep.yaml, sweep.json,
``trials/<trial>/`` (one run directory per grid point and fold), results.csv,
results.json, best_config.yaml and, with ``refit``, ``refit/``. Running the
same sweep again resumes it: finished trials are skipped.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun import store
from mlrun.config import config_to_dict
from mlrun.runtime_choice import choose_backend
from mlrun.sweep.claims import POLL_S, RESULTS_LOCK, SEARCH_LOCK, Claims, file_lock
from mlrun.sweep.config import SweepSpec
from mlrun.sweep.events import ProgressCallback, SweepProgress
from mlrun.sweep.executors import LocalBackend, make_backend
from mlrun.sweep.files import REFIT_DIR, SWEEP_FILE, SWEEP_YAML
from mlrun.sweep.info import sweep_info
from mlrun.sweep.plan import ModelChecker, SweepPlan, plan_sweep
from mlrun.sweep.refit import run_refit
from mlrun.sweep.results import PointResult, SweepTable, aggregate, best_summary, write_results
from mlrun.sweep.trials import (
    is_done,
    prepare_dir,
    read_error,
    record_outcome,
    trial_info,
    trial_state,
    trial_task,
)
from mlrun.tracking.sweeps import track_sweep

#: Trial states that count as failed in sweep.json (interrupted and missing trials are pending).
_FAILED = ("failed", "diverged", "crashed")


@dataclass
class SweepResult:
    """How a sweep ended: its plan, its results table, what ran and what failed."""

    plan: SweepPlan
    table: SweepTable
    status: str
    ran: int
    skipped: int
    failures: list[tuple[str, str | None]] = field(default_factory=list)
    refit: dict[str, Any] | None = None

    @property
    def sweep_dir(self) -> Path:
        return self.plan.sweep_dir


def run_sweep(
    spec: SweepSpec,
    runs_dir: Path,
    *,
    workers: int | None = None,
    backend: str = "local",
    ray_address: str | None = None,
    fail_fast: bool = False,
    on_progress: ProgressCallback | None = None,
    command: Sequence[str] | None = None,
    retries: int = 1,
) -> SweepResult:
    """Run every trial of a sweep that has not completed yet, then aggregate and refit.

    Args:
        spec: the sweep, from :func:`mlrun.sweep.read_sweep_config`.
        runs_dir: the sweep directory is ``runs_dir/<sweep_id>``.
        workers: trials run at once; default: the CPU cores (local) or the cluster's CPUs (ray).
        backend: ``local`` (worker processes) or ``ray`` (Ray tasks).
        ray_address: the Ray cluster to use; default: start a local instance.
        fail_fast: stop at the first failed trial (the trials still running are interrupted).
        on_progress: called before the first trial and after each one.
        command: the command line recorded in sweep.json and each run.json (default ``sys.argv``).
        retries: with ``ray``, how often a trial whose worker process or node died is run again
            (a trial that fails by itself is not).

    Returns:
        The result; ``status`` is ``completed`` when every trial (and the refit) completed, else ``failed``.

    Raises:
        ConfigError, DataError: before anything trains.
        RunError: the same sweep is already running.
        KeyboardInterrupt: after marking the sweep ``interrupted``.
    """
    options: dict[str, Any] = {
        "workers": workers,
        "command": list(command if command is not None else sys.argv),
        "notify": on_progress or (lambda progress: None),
    }
    executor = make_backend(backend, ray_address=ray_address, retries=retries)
    with contextlib.ExitStack() as stack:
        checker = None
        if isinstance(executor, LocalBackend):
            checker = _start_local(executor, spec, workers, stack)
        return _plan_and_run(spec, runs_dir, executor, checker, fail_fast=fail_fast, options=options)


def worker_layout(executor: Any, spec: SweepSpec, workers: int | None) -> tuple[int, int]:
    """How many trials run at once, and each one's thread count (the config's, else the cores shared out)."""
    n = workers or executor.default_workers()
    return n, spec.base.runtime.intra_op_threads or executor.threads_per_worker(n)


def _start_local(
    executor: LocalBackend, spec: SweepSpec, workers: int | None, stack: contextlib.ExitStack
) -> ModelChecker:
    """Start the local workers before the sweep plans, and say where its models are checked.

    The workers import Keras while this process loads the data. A grid's models are then built
    in the first worker, which goes on to run trials; a search, which checks every point it
    samples while trials run, gets a process of its own. Either way this process never imports Keras.
    """
    keras_backend = choose_backend(spec.base, here=False).backend
    n, threads = worker_layout(executor, spec, workers)
    stack.enter_context(executor)  # the workers are stopped when the sweep ends, however it ends
    if spec.is_search:
        executor.prestart(keras_backend, workers=n, threads=threads)
        process = LocalBackend.model_checker(keras_backend)
        stack.callback(process.close)
        return process
    cv = spec.block.cv
    trials = len(spec.points) * (cv.n_splits * cv.n_repeats if cv is not None else 1)
    executor.prestart(keras_backend, workers=min(n, trials), threads=threads)
    return functools.partial(executor.check_models, keras_backend=keras_backend, threads=threads)


def _plan_and_run(
    spec: SweepSpec,
    runs_dir: Path,
    executor: Any,
    checker: ModelChecker | None,
    *,
    fail_fast: bool,
    options: dict[str, Any],
) -> SweepResult:
    """Plan the sweep (its models checked by ``checker``), claim its directory and run it: :func:`run_sweep`'s body."""
    run: SweepRun
    if spec.is_search:
        from mlrun.sweep.search import SearchRun, plan_search

        plan = plan_search(spec, runs_dir)
        run = SearchRun(plan, executor, model_checker=checker, **options)
    else:
        plan = plan_sweep(spec, runs_dir, model_checker=checker)
        run = SweepRun(plan, executor, **options)
    _claim_sweep_dir(plan)
    with run, track_sweep(run):  # MLflow's parent run, TensorBoard's HParams table: see tracking.sweeps
        if spec.is_search:  # one study, one asker: a second invocation of the same search waits for the first
            run.hold(plan.sweep_dir / SEARCH_LOCK)
        try:
            return run.execute(fail_fast=fail_fast)
        except KeyboardInterrupt:
            run.info["status"] = "interrupted"
            raise
        except BaseException as exc:
            run.info.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            run.info["ended_at"] = store.now_iso()
            run.write_info()


class SweepRun:
    """One invocation of a sweep: runs the missing trials and the refit, keeps sweep.json up to date.

    The backend is opened (for Ray: a local instance started or a cluster
    joined) only when a trial has to run, so a finished sweep reruns instantly.
    """

    def __init__(
        self, plan: SweepPlan, backend: Any, *, workers: int | None, command: list[str], notify: ProgressCallback
    ) -> None:
        self.plan, self.backend, self.workers, self.command, self.notify = plan, backend, workers, command, notify
        self._stack = contextlib.ExitStack()
        self._opened = False
        self.threads = 1
        self.todo = [t for t in plan.trials if not is_done(plan.trial_dir(t))]
        self.skipped = len(plan.trials) - len(self.todo)
        self.ran = 0
        self.counts = {"total": len(plan.trials), "done": self.skipped, "failed": 0, "pending": len(self.todo)}
        self.failures: list[tuple[str, str | None]] = []
        self.started = time.time()
        self.info = sweep_info(plan, backend.name, workers, command)
        self.claims = Claims(plan.sweep_dir, started=self.started)

    def hold(self, lock: Path) -> None:
        """Wait for the file lock ``lock`` and hold it until this run closes."""
        self._stack.enter_context(file_lock(lock))

    def __enter__(self) -> SweepRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()  # closes the backend if it was opened

    def execute(self, *, fail_fast: bool) -> SweepResult:
        """Run the missing trials, aggregate them, refit the best point, write the results; say how it went."""
        plan = self.plan
        self.write_info()
        stopped = self.run_trials(fail_fast=fail_fast)
        with file_lock(plan.sweep_dir / RESULTS_LOCK):  # another invocation may be writing them: one at a time
            if not plan.spec.is_search:
                self.settle()
            table = self.aggregate()
            refit = None
            best = table.best
            if plan.block.refit and not stopped and best is not None:
                refit = self.refit(best)  # a refit done by another invocation is read back
                if refit["status"] != "completed":
                    self.failures.append((REFIT_DIR, refit.get("error")))
            write_results(plan, table, refit=refit)
            status = "completed" if not self.failures and self.counts["pending"] == 0 else "failed"
            failed = ", ".join(n for n, _ in self.failures[:5])
            self.info.update(
                status=status,
                best=best_summary(table),
                refit=refit,
                error=f"{len(self.failures)} failed: {failed}" if self.failures else None,
            )
            self.info["ended_at"] = store.now_iso()
            self.write_info()
        return SweepResult(plan, table, status, ran=self.ran, skipped=self.skipped, failures=self.failures, refit=refit)

    def aggregate(self) -> SweepTable:
        """Read every trial back from disk into the results table."""
        return aggregate(self.plan)

    def open(self) -> Any:
        """The backend, opened on first use; it closes with this run."""
        if not self._opened:
            self._stack.enter_context(self.backend)
            self.workers, self.threads = worker_layout(self.backend, self.plan.spec, self.workers)
            self.info.update(workers=self.workers, threads_per_worker=self.threads)
            self._opened = True
        return self.backend

    def run_trials(self, *, fail_fast: bool) -> bool:
        """Run the trials that are not done; return True when stopped early by ``fail_fast``.

        Each trial is claimed before it trains (:mod:`mlrun.sweep.claims`): trials another invocation of
        the same sweep is training are waited for, and taken over if its process dies.
        """
        self.notify(SweepProgress("trials", len(self.todo), 0, 0, self.skipped))
        while True:
            states = {t.name: self.claims.state(t.name) for t in self.todo if not is_done(self.plan.trial_dir(t))}
            if "free" in states.values():
                if self.run_free(fail_fast=fail_fast):
                    return True
            elif "running" in states.values():
                time.sleep(POLL_S)  # another invocation trains them
            else:
                return False

    def run_free(self, *, fail_fast: bool) -> bool:
        """Claim and run the trials that are free, as workers become free; True when stopped by ``fail_fast``."""
        plan = self.plan
        be = self.open()
        pending = [t for t in self.todo if self.claims.state(t.name) == "free"]

        def feed() -> dict[str, Any] | None:
            while pending:
                t = pending.pop(0)
                run_dir = plan.trial_dir(t)
                if not self.claims.claim(t.name, done=functools.partial(is_done, run_dir)):
                    continue  # another invocation took it (or finished it) meanwhile
                prepare_dir(run_dir, trial_info(plan, t))
                cfg = plan.spec.point(t.point).config
                return trial_task(
                    plan,
                    t.name,
                    t.key,
                    cfg,
                    t.fold,
                    run_dir,
                    evaluate_on="validation",
                    threads=self.threads,
                    command=self.command,
                )
            return None

        assert self.workers is not None, "open() sets it"
        workers = min(self.workers, len(pending)) or 1
        with contextlib.closing(be.run(feed, workers=workers, threads=self.threads)) as finished:
            for task, outcome in finished:
                ok = record_outcome(Path(task["run_dir"]), task, outcome)
                self.claims.release(task["name"], outcome["status"])
                self.ran += 1
                self.counts["pending"] -= 1
                self.counts["done" if ok else "failed"] += 1
                if not ok:
                    self.failures.append((task["name"], outcome.get("error")))
                self.write_info()
                progress = (len(self.todo), self.ran, len(self.failures), self.skipped)
                self.notify(SweepProgress.after_trial(*progress, task, outcome))
                if not ok and fail_fast:
                    return True
        return False

    def settle(self) -> None:
        """Count the trials from disk (others may have trained some) and add the failures of other invocations."""
        counts = {"total": len(self.plan.trials), "done": 0, "failed": 0, "pending": 0}
        mine = {name for name, _ in self.failures}
        for t in self.plan.trials:
            run_dir = self.plan.trial_dir(t)
            state = "done" if is_done(run_dir) else "failed" if trial_state(run_dir) in _FAILED else "pending"
            counts[state] += 1
            if state == "failed" and t.name not in mine:
                self.failures.append((t.name, read_error(run_dir)))
        self.counts = counts

    def refit(self, best: PointResult) -> dict[str, Any]:
        """Retrain the best point on all training data and test it: :func:`mlrun.sweep.refit.run_refit`."""

        def opened() -> tuple[Any, int]:
            return self.open(), self.threads  # open() sets the trials' thread count

        return run_refit(self.plan, best, opened, command=self.command, notify=self.notify)

    def write_info(self) -> None:
        self.info["trials"] = dict(self.counts)
        self.info["updated_at"] = store.now_iso()
        self.info["duration_s"] = round(time.time() - self.started, 3)
        store.write_json(self.plan.sweep_dir / SWEEP_FILE, self.info)


# --------------------------------------------------------------------------- the sweep directory


def _claim_sweep_dir(plan: SweepPlan) -> None:
    """Create the sweep directory and write sweep.yaml (another invocation of the same sweep writes the same)."""
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    block = plan.block.model_dump(mode="json")
    store.write_yaml(plan.sweep_dir / SWEEP_YAML, {**config_to_dict(plan.spec.base), "sweep": block})
