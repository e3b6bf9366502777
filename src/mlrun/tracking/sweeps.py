"""A sweep in MLflow and TensorBoard, live: a parent MLflow run, and one nested run per trial and the refit.

Trials train in worker processes (fork server or Ray). Each worker records its own trial: the
sweep's backend is wrapped so that every trial task carries the link to the parent run in its
config (``tracking.sweep``: the resolved URI, the parent run id, the trial's grid values and fold),
and the runner's :func:`~mlrun.tracking.live.track_run` opens the nested run from it. The trial
keys leave the ``tracking`` block out, so tracking never changes which trials a sweep resumes.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun import store
from mlrun.config import tracked_metrics
from mlrun.tracking.live import TrackingWarning, reason, tracking_params, update_record

if TYPE_CHECKING:
    from mlrun.sweep.plan import SweepPlan
    from mlrun.tracking.mlflow import Recorder


def sweep_params(plan: SweepPlan) -> dict[str, str]:
    """The parent run's params: the base config's, and the sweep block's under ``sweep.``."""
    from mlrun.tracking.mlflow import flatten_params

    return {**tracking_params(plan.spec.base), **flatten_params({"sweep": plan.block.model_dump(mode="json")})}


def trial_link(task: Mapping[str, Any], *, uri: str | None, parent_run_id: str | None) -> dict[str, Any]:
    """``tracking.sweep`` for a trial task: its trial.json (kind, sweep, grid values, fold) and the parent run."""
    from mlrun.sweep.files import TRIAL_FILE

    trial = store.read_json(Path(task["run_dir"]) / TRIAL_FILE)
    return {
        "uri": uri,
        "parent_run_id": parent_run_id,
        "sweep_id": trial["sweep_id"],
        "kind": trial.get("kind", "trial"),
        "params": trial.get("params") or {},
        "fold": trial.get("fold"),
    }


class LinkedBackend:
    """A sweep backend whose trial tasks carry the link to the sweep's MLflow run; all else is the backend's."""

    def __init__(self, backend: Any, sweep: LiveSweep) -> None:
        self._backend, self._sweep = backend, sweep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def __enter__(self) -> LinkedBackend:
        self._backend.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._backend.__exit__(*exc)

    def run(self, tasks: Any, **options: Any) -> Any:
        """The backend's run over the same tasks (a list or a feed, see :func:`mlrun.sweep.executors.task_feed`),
        each linked to the sweep's MLflow run as the backend takes it."""
        from mlrun.sweep.executors import task_feed

        feed = task_feed(tasks)

        def linked() -> dict[str, Any] | None:
            task = feed()
            return None if task is None else self._sweep.link(task)

        return self._backend.run(linked, **options)


class LiveSweep:
    """The sweep's parent MLflow run and its HParams table; ``info`` is sweep.json's dict."""

    def __init__(self, plan: SweepPlan, info: dict[str, Any]) -> None:
        self.plan, self.info = plan, info
        self.tracking = plan.spec.base.tracking
        self.recorder: Recorder | None = None
        self.uri: str | None = None

    def start(self) -> None:
        if self.tracking.tensorboard:
            self._guard("TensorBoard", self._write_hparams_table)
        if self.tracking.mlflow is not None:
            self._guard("MLflow", self._open_parent)

    def _write_hparams_table(self) -> None:
        from mlrun.tracking.tensorboard import TENSORBOARD_DIR, write_sweep_hparams

        space: dict[str, list[Any]] = {}
        for point in self.plan.spec.points:
            for key, value in point.params.items():
                space.setdefault(key, []).append(value)
        metrics = ["loss", *tracked_metrics(self.plan.spec.base, self.plan.task)]
        write_sweep_hparams(self.plan.sweep_dir / TENSORBOARD_DIR, space, metrics)

    def _open_parent(self) -> None:
        from mlrun.tracking.mlflow import Recorder, fail_fast_http, resolve_uri, run_tags

        fail_fast_http()
        self.uri = resolve_uri(str(self.tracking.mlflow))
        experiment = self.tracking.experiment or self.plan.spec.base.name
        tags = run_tags({**self.info, "runtime": {"backend": self.plan.spec.base.runtime.backend}}, kind="sweep")
        self.recorder = Recorder.open(
            self.uri, experiment, self.plan.sweep_id, tags=tags, started_at=self.info.get("started_at")
        )
        self.recorder.log_params(sweep_params(self.plan))
        self.info["tracking"] = f"mlflow run {self.recorder.run_id} in experiment {experiment!r} at {self.uri}"

    def _guard(self, what: str, action: Any) -> None:
        try:
            action()
        except Exception as exc:
            if what == "MLflow":
                self.recorder = None
            self.info["tracking" if what == "MLflow" else "tensorboard"] = f"failed ({reason(exc)})"
            later = f"; record it later: mlrun sync {self.plan.sweep_dir}"
            warnings.warn(f"tracking: {what}: {reason(exc)}; the sweep goes on without it{later}", TrackingWarning, 2)

    def link(self, task: dict[str, Any]) -> dict[str, Any]:
        """``task`` with ``tracking.sweep`` filled in (a copy)."""
        parent = self.recorder.run_id if self.recorder is not None else None
        config = dict(task["config"])  # a copy: the planner's task stays as it was
        config["tracking"] = {
            **config.get("tracking", {}),
            "sweep": trial_link(task, uri=self.uri, parent_run_id=parent),
        }
        return {**task, "config": config}

    def end(self) -> None:
        """Log the results table and the sweep's files, end the parent run, update sweep.json's ``tracking``."""
        from mlrun.sweep.files import SWEEP_FILE

        if self.recorder is not None:
            recorder = self.recorder
            self._guard("MLflow", lambda: record_sweep_end(recorder, self.plan.sweep_dir, self.info))
        update_record(self.plan.sweep_dir / SWEEP_FILE, self.info)


def record_sweep_end(recorder: Recorder, sweep_dir: Path, info: Mapping[str, Any]) -> None:
    """Log a sweep's outcome on its parent run: the best mean score, status, results files; end the run."""
    from mlrun.tracking.mlflow import SWEEP_ARTIFACTS

    best = info.get("best") or {}
    if isinstance(best.get("mean"), (int, float)):
        recorder.log_values({f"best_{best.get('metric')}_mean": float(best["mean"])})
    recorder.set_tags({"mlrun.status": str(info.get("status"))})
    recorder.log_files(sweep_dir, SWEEP_ARTIFACTS)
    recorder.terminate(str(info.get("status")), info.get("ended_at"))


@contextlib.contextmanager
def track_sweep(run: Any) -> Iterator[None]:
    """Track the sweep ``run`` (a :class:`mlrun.sweep.run.SweepRun`) while the block runs, when its config asks."""
    tracking = run.plan.spec.base.tracking
    if tracking.mlflow is None and not tracking.tensorboard:
        yield
        return
    live = LiveSweep(run.plan, run.info)
    live.start()
    run.backend = LinkedBackend(run.backend, live)
    try:
        yield
    finally:
        live.end()
