"""Run trials in parallel: spawned worker processes on this machine, or Ray tasks on a cluster.

Both backends take plain task dicts (see :mod:`mlrun.sweep.trials`) and yield
``(task, outcome)`` as trials finish, in completion order. Closing the
iterator early (``--fail-fast``, Ctrl-C) stops the trials still running; they
are marked ``interrupted`` and run again when the sweep is resumed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from mlrun.errors import ConfigError, RunError
from mlrun.sweep.workerproc import ModelCheckProcess, thread_env, worker_main

if TYPE_CHECKING:
    from mlrun.sweep.ray_backend import RayBackend

Outcome = dict[str, Any]
TaskFeed = Callable[[], dict[str, Any] | None]
"""Called whenever a worker is free: the next task, or None when there is none now (a search: until a trial finishes)."""
Tasks = Sequence[dict[str, Any]] | TaskFeed

#: A local worker process runs at most this many trials, then a fresh one takes over (bounds any leak).
MAX_TRIALS_PER_WORKER = 20
PRELOAD_MODULE = "mlrun.sweep.preload"


def available_cpus() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def task_feed(tasks: Tasks) -> TaskFeed:
    """A feed over a fixed list of tasks (a grid), or the feed itself (a search submits tasks as trials finish)."""
    if callable(tasks):
        return tasks
    pending = deque(tasks)
    return lambda: pending.popleft() if pending else None


def failed_outcome(task: dict[str, Any], error: str) -> Outcome:
    """The outcome of a trial whose worker could not report one."""
    return {
        "name": task["name"],
        "key": task["key"],
        "status": "failed",
        "error": error,
        "duration_s": None,
        "pid": None,
    }


# --------------------------------------------------------------------------- local processes


def worker_context(keras_backend: str = "tensorflow") -> Any:
    """The multiprocessing context for local workers.

    TensorFlow sweeps fork their workers from a fork server that imported
    TensorFlow once (:mod:`mlrun.sweep.preload`), where the platform has one
    (Linux, macOS); otherwise (Windows, the JAX backend) each worker is a
    freshly spawned interpreter that imports its backend itself.
    ``MLRUN_WORKER_START=spawn`` forces the latter (for comparison, or if
    forking ever misbehaves on a platform).
    """
    forced = os.environ.get("MLRUN_WORKER_START", "").strip().lower()
    if forced not in ("", "spawn", "forkserver"):
        raise ConfigError(f"error: MLRUN_WORKER_START={forced!r}: use spawn or forkserver (or unset it)")
    if forced != "spawn" and keras_backend == "tensorflow" and "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([PRELOAD_MODULE])
        return ctx
    return multiprocessing.get_context("spawn")


def task_backend(task: dict[str, Any]) -> str:
    """The Keras backend a task's trial runs on (chosen by the driver: see :func:`mlrun.sweep.trials.trial_task`)."""
    return str(task.get("backend") or "tensorflow")


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    conn: Connection
    backend: str  # the Keras backend it imported: it runs tasks of that backend only
    threads: int  # its thread pools' size, fixed when it started
    trials: int = 0
    used: bool = False  # it was sent something (a prestarted worker may never be)
    stopping: bool = False  # it was told to stop


class LocalBackend:
    """Trials in worker processes on this machine, one trial per process at a time.

    TensorFlow workers are forked from a fork server that imported TensorFlow once (see
    :func:`worker_context`); JAX workers are spawned and import JAX themselves, which
    :meth:`prestart` overlaps with the sweep's planning. Each runs trials one after another with
    a cleared Keras session (:mod:`mlrun.sweep.workerproc`), and its thread pools are limited
    (by the task's ``runtime`` block) so that parallel workers do not fight over cores. Entered
    as a context manager, idle workers outlive a :meth:`run` call (the refit reuses them) and
    are stopped on exit.
    """

    name = "local"

    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._entered = False

    def __enter__(self) -> LocalBackend:
        self._entered = True  # idle workers now outlive a run() call: the refit reuses the trials' workers
        return self

    def __exit__(self, *exc: Any) -> None:
        self._entered = False
        self._stop_all(self._idle)

    @classmethod
    def _stop_all(cls, workers: list[_Worker]) -> None:
        """Stop ``workers`` side by side: each is told to exit first, then each is waited for."""
        for worker in workers:
            cls._ask_to_stop(worker)
        while workers:
            cls._stop(workers.pop())

    def default_workers(self) -> int:
        return available_cpus()

    @staticmethod
    def warm_up(keras_backend: str = "tensorflow") -> None:
        """Start the fork server now, so its TensorFlow import overlaps the sweep's planning (no-op with spawn)."""
        ctx = worker_context(keras_backend)
        if ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def threads_per_worker(self, workers: int) -> int:
        return max(1, available_cpus() // workers)

    def prestart(self, keras_backend: str, *, workers: int, threads: int) -> None:
        """Start ``workers`` workers now, so that they import Keras while the sweep plans.

        Spawned workers (JAX) are started here; on TensorFlow only the fork server is (its
        workers fork in a fraction of a second once it has imported TensorFlow, and asking it
        for one earlier would wait for that import).
        """
        if worker_context(keras_backend).get_start_method() == "forkserver":
            self.warm_up(keras_backend)
            return
        while len(self._idle) < workers:
            self._idle.append(self._start(keras_backend, threads))

    def check_models(self, checks: list[dict[str, Any]], *, keras_backend: str, threads: int) -> list[str]:
        """Build a grid's models in a worker (a :data:`mlrun.sweep.plan.ModelChecker`); it then runs trials.

        Raises:
            RunError: the worker died, or the check failed in a way that is not a problem of a grid point.
        """
        worker = self._worker_for(keras_backend, self._idle, threads)
        try:
            worker.conn.send({"check_models": checks})
            worker.used = True
            reply = worker.conn.recv()
        except (EOFError, OSError):
            self._stop(worker)
            raise RunError(
                "error: the worker process that builds the grid's models died (out of memory?); nothing was trained"
            ) from None
        except BaseException:  # Ctrl-C: the worker stops too (it is in the same process group)
            self._stop(worker, grace=15)
            raise
        self._idle.insert(0, worker)
        if "error" in reply:
            raise RunError(
                f"error: building the grid's models failed in a worker: {reply['error']}; nothing was trained\n"
                + reply.get("traceback", "")
            )
        return list(reply["problems"])

    @staticmethod
    def model_checker(keras_backend: str = "tensorflow") -> ModelCheckProcess:
        """Where a search's models are built: another process, so that this one never imports Keras."""
        return ModelCheckProcess(worker_context(keras_backend), keras_backend)

    def run(self, tasks: Tasks, *, workers: int, threads: int) -> Iterator[tuple[dict[str, Any], Outcome]]:
        """Run ``tasks`` on at most ``workers`` processes; yield each task with its outcome as it finishes.

        ``tasks`` is a list, or a feed asked for the next task whenever a worker is free (see :data:`TaskFeed`);
        the run ends when nothing runs and the feed has nothing.
        """
        feed = task_feed(tasks)
        idle = self._idle
        busy: dict[Connection, tuple[_Worker, dict[str, Any]]] = {}
        try:
            while True:
                while len(busy) < workers and (task := feed()) is not None:
                    worker = self._worker_for(task_backend(task), idle, threads)
                    worker.conn.send(task)
                    worker.trials += 1
                    worker.used = True
                    busy[worker.conn] = (worker, task)
                if not busy:
                    return
                ready = set(wait([*busy, *(w.process.sentinel for w, _ in busy.values())]))
                for conn, (worker, task) in list(busy.items()):
                    if conn not in ready and worker.process.sentinel not in ready:
                        continue
                    del busy[conn]
                    outcome = self._receive(worker, task)
                    if worker.process.is_alive() and worker.trials < MAX_TRIALS_PER_WORKER:
                        idle.append(worker)
                    else:
                        self._stop(worker)
                    yield task, outcome
        finally:
            for worker, _ in busy.values():
                if worker.process.is_alive():
                    worker.process.terminate()  # SIGTERM: the trial is marked interrupted
            for worker, _ in busy.values():
                self._stop(worker, grace=15)
            if not self._entered:
                self._stop_all(idle)

    def _worker_for(self, backend: str, idle: list[_Worker], threads: int) -> _Worker:
        """An idle worker on ``backend`` with ``threads``, else a new one (replacing an idle worker of another kind)."""
        for worker in idle:
            if worker.backend == backend and worker.threads == threads:
                idle.remove(worker)
                return worker
        if idle:  # a worker per free slot: one that imported the other backend makes room
            self._stop(idle.pop(0))
        return self._start(backend, threads)

    def _start(self, backend: str, threads: int) -> _Worker:
        ctx = worker_context(backend)
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=worker_main,
            args=(child, os.getpid(), threads, backend),
            daemon=True,
            name="mlrun-sweep-worker",
        )
        # A spawned child inherits the environment at start, before it imports anything
        # (a forked one sets it itself, in start_worker_runtime).
        env = thread_env(threads)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            process.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        return _Worker(process, parent, backend, threads)

    @staticmethod
    def _receive(worker: _Worker, task: dict[str, Any]) -> Outcome:
        try:
            if worker.conn.poll():
                return worker.conn.recv()
        except (EOFError, OSError):
            pass
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        how = f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        hint = " (out of memory?)" if code == -signal.SIGKILL else ""
        return failed_outcome(task, f"the worker process died ({how}){hint} while running this trial")

    @staticmethod
    def _ask_to_stop(worker: _Worker) -> None:
        if worker.stopping:
            return
        worker.stopping = True
        with contextlib.suppress(OSError, ValueError):
            if not worker.used:  # prestarted and never needed: it may still be importing Keras, do not wait for it
                worker.process.terminate()
            elif worker.process.is_alive():
                worker.conn.send(None)

    @classmethod
    def _stop(cls, worker: _Worker, grace: float = 5.0) -> None:
        cls._ask_to_stop(worker)
        worker.process.join(timeout=grace)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


def make_backend(name: str, *, ray_address: str | None = None, retries: int = 1) -> LocalBackend | RayBackend:
    """The backend for ``--backend`` (local or ray); use it as a context manager.

    ``retries``: how often Ray runs a trial again when its worker process or node dies (``--retries``).
    """
    if name == "local":
        if ray_address:
            raise ConfigError("error: --ray-address needs --backend ray")
        return LocalBackend()
    if name == "ray":
        from mlrun.sweep.ray_backend import RayBackend

        return RayBackend(ray_address, retries=retries)
    raise ConfigError(f"error: --backend {name!r}: unknown backend; use local or ray")
