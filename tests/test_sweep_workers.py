"""Local sweep workers: started before the sweep plans, the grid checked in the first one, the refit reusing them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from mlrun.sweep import plan_sweep, read_sweep_config
from mlrun.sweep.executors import LocalBackend
from mlrun.sweep.plan import load_point_data, model_check
from mlrun.sweep.refit import SHORT_TRIAL_S, refit_threads
from mlrun.sweep.trials import trial_task
from tests.conftest import digits_config

CONV_ON_TABLES = {"architecture": "cnn", "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3}]}


def _plan(write_config, tmp_path: Path, **changes):
    sweep = {"grid": {"seed": [1, 2]}, "metric": "val_accuracy", "refit": False}
    config = write_config(digits_config(training={"epochs": 2, "batch_size": 64}, sweep=sweep, **changes))
    return plan_sweep(read_sweep_config(config), tmp_path / "runs", check_models=False)


@pytest.mark.slow
def test_the_grid_is_checked_in_a_prestarted_worker_which_then_runs_the_trials(write_config, tmp_path: Path) -> None:
    plan = _plan(write_config, tmp_path)
    spec = plan.spec
    data = load_point_data(spec)
    checks = [model_check(p, data[p.index]) for p in spec.points]
    with LocalBackend() as backend:
        backend.prestart("jax", workers=1, threads=1)
        (worker,) = backend._idle
        assert backend.check_models(checks, keras_backend="jax", threads=1) == []
        # a model that does not fit the data is a problem of its point, not an error of the worker
        bad = [{**checks[0], "config": {**checks[0]["config"], "model": CONV_ON_TABLES}}]
        (problem,) = backend.check_models(bad, keras_backend="jax", threads=1)
        assert problem.startswith("  point 0 (seed=1): ")
        trial = plan.trials[0]
        run_dir = plan.trial_dir(trial)
        run_dir.mkdir(parents=True)
        task = trial_task(
            plan,
            "t",
            trial.key,
            spec.points[0].config,
            None,
            run_dir,
            evaluate_on="validation",
            threads=1,
            command=["t"],
        )
        ((_, outcome),) = list(backend.run([task], workers=1, threads=1))
    assert outcome["status"] == "completed", outcome
    assert outcome["pid"] == worker.process.pid  # the worker that checked the grid trained the trial
    assert not worker.process.is_alive()  # stopped when the backend closed


def test_prestarted_workers_that_are_never_used_are_stopped_at_once(tmp_path: Path) -> None:
    backend = LocalBackend()
    with backend:
        backend.prestart("jax", workers=2, threads=1)
        workers = list(backend._idle)
        assert len(workers) == 2 and all(w.process.is_alive() for w in workers)
        started = time.monotonic()
    assert all(not w.process.is_alive() for w in workers) and backend._idle == []
    assert time.monotonic() - started < 4  # terminated while importing Keras, not waited for


class _Cores:
    @staticmethod
    def threads_per_worker(workers: int) -> int:
        return 8 // workers


def _finished_trials(plan, durations: list[float]) -> None:
    for trial, seconds in zip(plan.point_trials(0), durations, strict=False):
        run_dir = plan.trial_dir(trial)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "run.json").write_text(json.dumps({"status": "completed", "duration_s": seconds, "best_epoch": 2}))


def test_a_short_refit_runs_on_the_trials_threads_and_a_long_one_on_every_core(write_config, tmp_path: Path) -> None:
    plan = _plan(write_config, tmp_path)
    cfg = plan.spec.points[0].config
    assert refit_threads(plan, 0, cfg, _Cores(), trial_threads=2) == 8  # no finished trial: all the cores
    _finished_trials(plan, [SHORT_TRIAL_S / 4])
    assert refit_threads(plan, 0, cfg, _Cores(), trial_threads=2) == 2  # in a trial's worker: no new start
    _finished_trials(plan, [SHORT_TRIAL_S * 3])
    assert refit_threads(plan, 0, cfg, _Cores(), trial_threads=2) == 8
    pinned = cfg.model_copy(update={"runtime": cfg.runtime.model_copy(update={"intra_op_threads": 3})})
    assert refit_threads(plan, 0, pinned, _Cores(), trial_threads=2) == 3  # the config's count always wins


@pytest.mark.slow
def test_a_sweeps_refit_reuses_a_trials_worker(write_config, tmp_path: Path) -> None:
    from mlrun.sweep import run_sweep

    sweep = {"grid": {"optimizer.learning_rate": [0.01, 0.001]}, "metric": "val_accuracy", "refit": True}
    config = write_config(digits_config(training={"epochs": 2, "batch_size": 64}, sweep=sweep))
    result = run_sweep(read_sweep_config(config), tmp_path / "runs", workers=2, command=["t"])
    assert result.status == "completed", result.failures
    trials = [json.loads(p.read_text()) for p in sorted(result.sweep_dir.glob("trials/*/run.json"))]
    refit = json.loads((result.sweep_dir / "refit" / "run.json").read_text())
    assert refit["pid"] in {t["pid"] for t in trials}
    threads = [
        yaml.safe_load((d / "config.yaml").read_text())["runtime"]["intra_op_threads"]
        for d in (result.sweep_dir / "refit", next(result.sweep_dir.glob("trials/*")))
    ]
    assert threads[0] == threads[1]  # recorded as it ran: the trials' worker, with their threads
