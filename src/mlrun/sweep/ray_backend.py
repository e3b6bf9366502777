"""Run trials as Ray tasks on a cluster (``--backend ray``): the same task dicts and outcomes as local workers."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator
from typing import Any

from mlrun.errors import ConfigError, MlrunError
from mlrun.sweep.executors import Outcome, Tasks, failed_outcome, task_backend, task_feed, thread_env


class RayBackend:
    """Each trial is a Ray task (one CPU, one TensorFlow thread), so a sweep spreads over a Ray cluster.

    Tasks train in a temporary directory on whichever node runs them and return
    the run directory's files; the driver writes them into the sweep directory.
    Every node needs mlrun installed (``pip install 'mlrun[ray]'``) and the dataset.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, retries: int = 1) -> None:
        try:  # checked here, before the sweep writes anything; Ray itself starts in __enter__
            found = importlib.util.find_spec("ray") is not None
        except ValueError:  # "ray" in sys.modules without a spec (e.g. set to None to hide it)
            found = False
        if not found:
            raise ConfigError(
                "error: --backend ray needs Ray, which is not installed: pip install 'mlrun[ray]' (or use --backend local)"
            )
        self.address = address
        self.retries = retries
        self._started = False
        self._ray: Any = None
        self._remote: Any = None

    def __enter__(self) -> RayBackend:
        import ray

        from mlrun.sweep.trials import run_trial_packed

        self._ray = ray
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "logging_level": logging.WARNING,
                "log_to_driver": False,
            }
            try:
                if self.address:
                    ray.init(address=self.address, **options)
                else:
                    ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
                raise MlrunError(
                    f"error: cannot start or reach {where}: {exc}; check --ray-address (e.g. 127.0.0.1:6379 of `ray start --head`)"
                ) from None
            self._started = True
        # Ray does not retry a task itself (max_retries=0): `run` resubmits one whose worker process or node
        # died, and counts the attempts, which Ray's own retries would hide from the trial's record.
        # A trial that fails by itself returns its failure (run_trial records it) and raises nothing.
        self._remote = ray.remote(num_cpus=1, max_retries=0, retry_exceptions=False)(run_trial_packed)
        return self

    def _submit(self, task: dict[str, Any]) -> Any:
        """Start ``task`` as a Ray task in a worker process of its Keras backend.

        Ray reuses a worker process only for tasks with the same runtime environment, and Keras
        picks its backend once per process: ``KERAS_BACKEND`` in the environment keeps the two apart.
        """
        env = {**thread_env(1), "KERAS_BACKEND": task_backend(task)}
        return self._remote.options(runtime_env={"env_vars": env}).remote(task)

    def __exit__(self, *exc: Any) -> None:
        if self._started:
            self._ray.shutdown()

    def default_workers(self) -> int:
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def threads_per_worker(self, workers: int) -> int:
        return 1  # each task asks Ray for one CPU

    def run(self, tasks: Tasks, *, workers: int, threads: int) -> Iterator[tuple[dict[str, Any], Outcome]]:
        """Submit ``tasks`` (a list or a feed, see :data:`mlrun.sweep.executors.TaskFeed`), at most ``workers``
        in flight; yield each with its outcome (``attempts`` included) as it finishes.

        A task whose worker process or node died is submitted again, up to :attr:`retries` times.
        """
        ray = self._ray
        feed = task_feed(tasks)
        running: dict[Any, dict[str, Any]] = {}
        attempts: dict[str, int] = {}
        try:
            while True:
                while len(running) < workers and (task := feed()) is not None:
                    running[self._submit(task)] = task
                    attempts[task["name"]] = 1
                if not running:
                    return
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    task = running.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # a system failure: the task's worker or node died, or Ray lost it
                        if attempts[task["name"]] <= self.retries:
                            attempts[task["name"]] += 1
                            running[self._submit(task)] = task
                            continue
                        outcome = failed_outcome(
                            task,
                            f"the Ray task failed ({attempts[task['name']]} attempts): "
                            f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                        )
                    outcome["attempts"] = attempts.pop(task["name"])
                    yield task, outcome
        finally:
            for ref in running:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
