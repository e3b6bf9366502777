"""The local backend's worker processes, from their side: start up, then run what the sweep sends.

A worker imports its Keras backend as soon as it starts, so that a sweep can start its workers
before it plans (they import while the driver loads the data) and find them ready. It then
answers messages on its pipe, one at a time:

- a trial's task (see :mod:`mlrun.sweep.trials`): it runs the trial and sends the outcome;
- ``{"check_models": [...]}``: it builds the grid's models (:func:`mlrun.sweep.plan.model_problems`)
  and sends ``{"problems": [...]}``, so that a grid is checked by its first worker rather than by
  another process that imports Keras too;
- ``None``: it exits.

The driver side is :class:`mlrun.sweep.executors.LocalBackend`. A search, which checks each
point it samples while trials run, keeps :class:`ModelCheckProcess` for that.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from mlrun import interrupts
from mlrun.backend import XLA_ONE_THREAD

_THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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
    """A signal handler that does nothing (see ``worker_main``)."""


def _on_signal(signum: int, frame: Any) -> None:
    # The first SIGINT or SIGTERM stops the trial, and the runner marks it interrupted. Ctrl-C reaches
    # the whole process group and the sweep then sends SIGTERM as well: ignore the second signal, so
    # that it cannot cut the runner off while it writes the trial's run.json.
    # (A handler that does nothing, not SIG_IGN: a signal already pending would make Python print
    # "Signal 15 ignored due to race condition".)
    signal.signal(signal.SIGINT, _ignore_signal)
    signal.signal(signal.SIGTERM, _ignore_signal)
    interrupts.remember()  # raised again after the epoch if Keras swallows this one (see mlrun.interrupts)
    raise KeyboardInterrupt


def _watch_parent(parent_pid: int) -> None:
    # A worker must not outlive a killed sweep (kill -9): it would keep writing into a trial
    # directory that the resumed sweep is about to empty. (A forked worker's parent is the
    # fork server, so the sweep process is watched by its pid.)
    while _parent_alive(parent_pid):
        time.sleep(0.5)
    os._exit(1)


def worker_main(conn: Connection, parent_pid: int, threads: int, keras_backend: str) -> None:
    """Worker process: import Keras on ``keras_backend``, then answer messages on ``conn`` (see the module doc)."""
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        start_worker_runtime(threads)
        from mlrun.backend import keras_modules

        keras_modules(keras_backend)  # now, while the sweep plans: its first task finds Keras loaded
        from mlrun.sweep.trials import run_trial

        # What the imports made lives as long as the worker: keep it out of the garbage collector's scans,
        # so that the collection in each trial's clear_session (a quarter of a digits trial on JAX) is short.
        gc.freeze()

        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            if "check_models" in message:
                conn.send(_check_models(message["check_models"]))
            else:
                conn.send(run_trial(message))
    except KeyboardInterrupt:
        return


def _check_models(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """Build the grid's models here; the problems found, or the error that stopped the check."""
    from mlrun.sweep.plan import model_problems

    try:
        return {"problems": model_problems(checks)}
    except Exception as exc:  # reported by the sweep as it would report it from its own process
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


# --------------------------------------------------------------------------- a search's model checks


def _start_check_process(parent_pid: int) -> None:
    """In the check process: leave Ctrl-C to the sweep (it closes this process), and end with the sweep.

    A killed sweep (kill -9) cannot close it, and its pipe never reports the end (this process holds both
    ends of its call queue), so it watches the sweep's pid as the workers do.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _import_keras_in_worker(keras_backend: str) -> None:
    from mlrun.backend import keras_modules

    start_worker_runtime(1)
    keras_modules(keras_backend)


def _model_problems_in_worker(checks: list[dict[str, Any]]) -> list[str]:
    from mlrun.sweep.plan import model_problems

    start_worker_runtime(1)  # building models is light; one thread, and the device probe's noise muted
    return model_problems(checks)


class ModelCheckProcess:
    """Builds a search's models in one helper process, kept while the search runs (it checks each point it samples).

    On TensorFlow the process is forked from the fork server (a fork instead of a TensorFlow
    import); otherwise it is a fresh interpreter that imports its backend once (see
    :func:`mlrun.sweep.plan.model_problems`). :meth:`close` ends it.
    """

    def __init__(self, ctx: Any, keras_backend: str) -> None:
        from concurrent.futures import ProcessPoolExecutor

        # Ctrl-C reaches the whole process group: the sweep process closes this one itself.
        self._pool: Any = ProcessPoolExecutor(
            max_workers=1, mp_context=ctx, initializer=_start_check_process, initargs=(os.getpid(),)
        )
        # Import Keras there now, while this process loads the data: the check then finds it loaded.
        self._pool.submit(_import_keras_in_worker, keras_backend)

    def __call__(self, checks: list[dict[str, Any]]) -> list[str]:
        return list(self._pool.submit(_model_problems_in_worker, checks).result())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
