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
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from mlrun.backend import XLA_ONE_THREAD
from mlrun.errors import ConfigError

if TYPE_CHECKING:
    from mlrun.sweep.ray_backend import RayBackend

Outcome = dict[str, Any]
TaskFeed = Callable[[], dict[str, Any] | None]
"""Called whenever a worker is free: the next task, or None when there is none now (a search: until a trial finishes)."""
Tasks = Sequence[dict[str, Any]] | TaskFeed

#: A local worker process runs at most this many trials, then a fresh one takes over (bounds any leak).
MAX_TRIALS_PER_WORKER = 20
_THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PRELOAD_MODULE = "mlrun.sweep.preload"


def thread_env(threads: int) -> dict[str, str]:
    """Environment that limits a worker's thread pools: TensorFlow and XLA (JAX) read these when they start.

    Set before the worker imports its backend, they hold even though
    :func:`mlrun.backend.import_keras` initializes the runtime (after which
    ``tf.config.threading`` can no longer change the counts). XLA's CPU client
    has one lever, a single-threaded Eigen pool, used for one thread per worker.
    """
    env = {**{k: str(threads) for k in _THREAD_ENV}, "TF_NUM_INTEROP_THREADS": "1"}
    flags = os.environ.get("XLA_FLAGS", "").split()
    if threads == 1 and XLA_ONE_THREAD[0] not in flags:
        env["XLA_FLAGS"] = " ".join([*flags, *XLA_ONE_THREAD])
    return env


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


def start_worker_runtime(threads: int) -> None:
    """In a fresh worker, before TensorFlow's runtime starts: limit its thread pools, then start it quietly.

    A worker forked from the fork server has TensorFlow imported but not
    started (see :mod:`mlrun.sweep.preload`), so the thread counts set here
    still take effect; a spawned worker imports TensorFlow later, reading them then.
    """
    os.environ.update(thread_env(threads))
    if "tensorflow" in sys.modules:
        from mlrun.backend import quiet_native_stderr

        with quiet_native_stderr():
            sys.modules["tensorflow"].config.list_logical_devices()  # the CUDA probe's noise, muted


def _parent_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user (a recycled pid): treat as alive
        return True
    return True


def _ignore_signal(signum: int, frame: Any) -> None:
    """A signal handler that does nothing (see ``_worker_main``)."""


def _worker_main(conn: Connection, parent_pid: int, threads: int) -> None:
    """Worker process: run trials received on ``conn`` until told to stop (None) or the sweep process is gone."""
    start_worker_runtime(threads)
    from mlrun.sweep.trials import run_trial

    def parent_watch() -> None:
        # A worker must not outlive a killed sweep (kill -9): it would keep writing into a trial
        # directory that the resumed sweep is about to empty. (A forked worker's parent is the
        # fork server, so the sweep process is watched by its pid.)
        while _parent_alive(parent_pid):
            time.sleep(0.5)
        os._exit(1)

    def on_signal(signum: int, frame: Any) -> None:
        # The first SIGINT or SIGTERM stops the trial, and the runner marks it interrupted. Ctrl-C reaches
        # the whole process group and the sweep then sends SIGTERM as well: ignore the second signal, so
        # that it cannot cut the runner off while it writes the trial's run.json.
        # (A handler that does nothing, not SIG_IGN: a signal already pending would make Python print
        # "Signal 15 ignored due to race condition".)
        signal.signal(signal.SIGINT, _ignore_signal)
        signal.signal(signal.SIGTERM, _ignore_signal)
        raise KeyboardInterrupt

    threading.Thread(target=parent_watch, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return
            if task is None:
                return
            conn.send(run_trial(task))
    except KeyboardInterrupt:
        return


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _import_keras_in_worker(keras_backend: str) -> None:
    from mlrun.backend import keras_modules

    start_worker_runtime(1)
    keras_modules(keras_backend)


def _model_problems_in_worker(checks: list[dict[str, Any]]) -> list[str]:
    from mlrun.sweep.plan import model_problems

    start_worker_runtime(1)  # building models is light; one thread, and the device probe's noise muted
    return model_problems(checks)


class ModelCheckProcess:
    """Builds a sweep's models in one helper process, kept while the sweep runs (a search checks each point).

    On TensorFlow the process is forked from the fork server (a fork instead of a TensorFlow
    import); otherwise it is a fresh interpreter that imports its backend once (see
    :func:`mlrun.sweep.plan.model_problems`). :meth:`close` ends it.
    """

    def __init__(self, ctx: Any, keras_backend: str) -> None:
        from concurrent.futures import ProcessPoolExecutor

        # Ctrl-C reaches the whole process group: the sweep process closes this one itself.
        self._pool: Any = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_ignore_interrupts)
        # Import Keras there now, while this process loads the data: the check then finds it loaded.
        self._pool.submit(_import_keras_in_worker, keras_backend)

    def __call__(self, checks: list[dict[str, Any]]) -> list[str]:
        return list(self._pool.submit(_model_problems_in_worker, checks).result())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


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


class LocalBackend:
    """Trials in spawned worker processes on this machine, one trial per process at a time.

    Workers are forked from a fork server that imported TensorFlow once (see
    :func:`worker_context`), and each runs trials one after another with a
    cleared Keras session; its thread pools are limited (by the task's
    ``runtime`` block) so that parallel workers do not fight over cores.
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
        while self._idle:
            self._stop(self._idle.pop())

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

    @staticmethod
    def model_checker(keras_backend: str = "tensorflow") -> ModelCheckProcess:
        """Where the grid's models are built: another process, so that this one never imports Keras."""
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
            while idle and not self._entered:
                self._stop(idle.pop())

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
            target=_worker_main, args=(child, os.getpid(), threads), daemon=True, name="mlrun-sweep-worker"
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
    def _stop(worker: _Worker, grace: float = 5.0) -> None:
        with contextlib.suppress(OSError, ValueError):
            if worker.process.is_alive():
                worker.conn.send(None)
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
