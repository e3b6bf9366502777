"""The refit's config: the best grid point, retrained on all the training data before it is tested.

A trial's early stopping and reduce_on_plateau schedule watch validation data. The refit has
none: it fits every training row (no ``dataset.validation_split``), so the callbacks that watch
``val_*`` quantities are removed, and with early stopping gone the refit trains for as many
epochs as the best point's trials did: the median of their ``best_epoch``, rounded half up.

``evaluation.recalibrate`` fits its std scale on held-out rows, never on the test set. With a
``dataset.calibration_split`` the refit keeps that split (the same fraction of the training set,
now taken from all of it) and drops its validation split like any refit: the calibration split is
what the user held out for the scale, and nothing watches validation data in the refit, so the
validation rows would only be rows not trained on. Without one, the refit keeps its validation
split, only to fit the scale on; with early stopping removed, nothing watches it either, so its
residuals are not optimistic there.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlrun import store
from mlrun.config import ExperimentConfig, evolve, monitors
from mlrun.sweep.events import SweepProgress
from mlrun.sweep.files import REFIT_DIR
from mlrun.sweep.plan import trial_key
from mlrun.sweep.trials import is_done, prepare_dir, read_error, read_key, record_outcome, trial_state, trial_task

if TYPE_CHECKING:
    from mlrun.sweep.plan import SweepPlan
    from mlrun.sweep.results import PointResult


@dataclass
class RefitSetup:
    """The refit's config, and what sweep.json records about how it was derived from the best point's."""

    cfg: ExperimentConfig
    epochs: int
    epochs_from: str
    removed: list[str] = field(default_factory=list)
    """The config keys of the callbacks taken out (they watched validation data the refit does not have)."""

    def record(self) -> dict[str, Any]:
        """sweep.json's ``refit`` fields about the setup."""
        return {"epochs": self.epochs, "epochs_from": self.epochs_from, "removed": self.removed}


def median_epochs(best_epochs: Sequence[int]) -> int:
    """The median of the folds' best epochs, rounded half up (an even count's middle pair may average to .5).

    >>> median_epochs([3, 7, 4]), median_epochs([4, 5]), median_epochs([2, 9, 4, 6])
    (4, 5, 5)
    """
    return max(1, math.floor(statistics.median(best_epochs) + 0.5))


def refit_setup(cfg: ExperimentConfig, best_epochs: Sequence[int]) -> RefitSetup:
    """The best point's config for the refit: all training data, no callback watching validation data.

    All training data but the calibration split (``dataset.calibration_split``), or without one but the
    validation split when ``evaluation.recalibrate`` fits its scale there.

    Args:
        cfg: the best grid point's config.
        best_epochs: the ``best_epoch`` of each of the point's completed trials (folds).
    """
    watched = [key.removesuffix(".monitor") for key, monitor in monitors(cfg) if monitor.startswith("val_")]
    training, optimizer = cfg.training, cfg.optimizer
    epochs, source = training.epochs, "training.epochs"
    if "training.early_stopping" in watched:
        if best_epochs:
            epochs = median_epochs(best_epochs)
            source = f"median best_epoch of the best point's folds {sorted(best_epochs)}, rounded half up"
        else:
            source = "training.epochs (no trial of the best point recorded a best epoch)"
        training = evolve(training, early_stopping=None, epochs=epochs)
    if "optimizer.schedule" in watched:
        optimizer = evolve(optimizer, schedule=None)
    # evaluation.recalibrate fits its std scale on held-out rows, never on the test set: the calibration split
    # when there is one (kept, as every dataset key), else the validation split, which the refit then keeps.
    on_validation = cfg.evaluation.recalibrate and cfg.dataset.calibration_split == 0
    dataset = cfg.dataset if on_validation else evolve(cfg.dataset, validation_split=0.0)
    refit = evolve(cfg, training=training, optimizer=optimizer, dataset=dataset)
    return RefitSetup(refit, epochs, source, watched)


def fold_best_epochs(plan: SweepPlan, point: int) -> list[int]:
    """The ``best_epoch`` recorded in the run.json of each completed trial of grid point ``point``."""
    return [int(i["best_epoch"]) for i in _completed(plan, point) if isinstance(i.get("best_epoch"), int)]


#: A refit whose point's trials took less than this each (median) runs in one of the trials' workers,
#: with their thread count; a longer one gets a fresh worker with every core, which pays back its start
#: (about 5 s for a spawned JAX worker, under 1 s for a forked TensorFlow one).
SHORT_TRIAL_S = 10.0


def refit_threads(plan: SweepPlan, point: int, cfg: ExperimentConfig, backend: Any, trial_threads: int) -> int:
    """The refit's thread count: the config's, else the trials' for a short refit, else all the cores."""
    if cfg.runtime.intra_op_threads:
        return cfg.runtime.intra_op_threads
    durations = [
        float(i["duration_s"]) for i in _completed(plan, point) if isinstance(i.get("duration_s"), (int, float))
    ]
    if durations and statistics.median(durations) < SHORT_TRIAL_S:
        return trial_threads
    return int(backend.threads_per_worker(1))


def _completed(plan: SweepPlan, point: int) -> list[dict[str, Any]]:
    """The run.json of each completed trial of grid point ``point``."""
    out = []
    for trial in plan.point_trials(point):
        try:
            info = store.read_json(plan.trial_dir(trial) / store.RUN_FILE)
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("status") == "completed":
            out.append(info)
    return out


def run_refit(
    plan: SweepPlan,
    best: PointResult,
    open_backend: Callable[[], tuple[Any, int]],
    *,
    command: list[str],
    notify: Callable[[SweepProgress], None],
) -> dict[str, Any]:
    """Retrain the best point on all training data and evaluate it on the test set (skipped when already done).

    No validation split, no callback watching validation data, and with early stopping the median
    of the best point's best epochs (see :func:`refit_setup`). ``open_backend`` gives the sweep's
    backend, opened, and its trials' thread count (see :func:`refit_threads`); ``notify`` is told when
    the refit starts and ends. Returns sweep.json's ``refit``.
    """
    setup = refit_setup(plan.spec.point(best.point).config, fold_best_epochs(plan, best.point))
    cfg = setup.cfg
    key = trial_key(cfg, None, plan.fingerprints[best.point], kind="refit")
    run_dir = plan.sweep_dir / REFIT_DIR
    reused = is_done(run_dir) and read_key(run_dir) == key
    if not reused:
        be, trial_threads = open_backend()
        prepare_dir(
            run_dir,
            {
                "kind": "refit",
                "sweep_id": plan.sweep_id,
                "key": key,
                "point": best.point,
                "params": best.params,
                "fold": None,
                "dataset_fingerprint": plan.fingerprints[best.point],
            },
        )
        threads = refit_threads(plan, best.point, cfg, be, trial_threads)
        task = trial_task(
            plan, REFIT_DIR, key, cfg, None, run_dir, evaluate_on="test", threads=threads, command=command
        )
        notify(SweepProgress("refit", 1, 0, 0, 0, REFIT_DIR))
        with contextlib.closing(be.run([task], workers=1, threads=threads)) as finished:
            for task, outcome in finished:
                record_outcome(run_dir, task, outcome)
                notify(
                    SweepProgress(
                        "refit",
                        1,
                        1,
                        int(outcome["status"] != "completed"),
                        0,
                        REFIT_DIR,
                        outcome["status"],
                        outcome.get("error"),
                    )
                )
    metrics = None
    if is_done(run_dir):
        m = store.read_json(run_dir / store.METRICS_FILE)
        metrics = {k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {
        "dir": REFIT_DIR,
        "key": key,
        "point": best.point,
        "params": best.params,
        "status": trial_state(run_dir),
        "error": None if metrics else read_error(run_dir),
        "reused": reused,
        **setup.record(),
        "test_metrics": metrics,
    }
