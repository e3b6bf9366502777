"""sweep.json: what a sweep is and how it stands (status, trial counts, times, host, backend, versions)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlrun import store
from mlrun.artifacts import versions

if TYPE_CHECKING:
    from mlrun.sweep.config import SweepSpec
    from mlrun.sweep.plan import SweepPlan


def sweep_info(plan: SweepPlan, backend: str, workers: int | None, command: list[str]) -> dict[str, Any]:
    """sweep.json as an invocation starts: ``running``; the run fills in counts, times, the best point and the refit."""
    return {
        "id": plan.sweep_id,
        "name": plan.spec.base.name,
        "status": "running",
        "config": str(plan.spec.source),
        "command": command,
        "started_at": store.now_iso(),
        "updated_at": None,
        "ended_at": None,
        "duration_s": None,
        **store.host_info(),
        "backend": backend,
        "keras_backends": keras_backends(plan.spec),
        "workers": workers,
        "threads_per_worker": None,
        "smoke": plan.spec.smoke,
        "task": plan.task,
        "n_points": len(plan.spec.points),
        "sweep": plan.block.model_dump(mode="json"),
        "trials": {},
        "best": None,
        "refit": None,
        "versions": versions(extra=("ray",) if backend == "ray" else ()),
        "error": None,
    }


def keras_backends(spec: SweepSpec) -> dict[str, str]:
    """The Keras backends the sweep's points train on, each with why (``runtime.backend: auto`` picks per point)."""
    from mlrun.runtime_choice import choose_backend

    configs = [point.config for point in spec.points] or [spec.base]  # a search's points come as it runs
    choices = (choose_backend(cfg, here=False) for cfg in configs)
    return {choice.backend: choice.reason for choice in choices}
