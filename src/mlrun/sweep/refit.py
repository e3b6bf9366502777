"""The refit's config: the best grid point, retrained on all the training data before it is tested.

A trial's early stopping and reduce_on_plateau schedule watch validation data. The refit has
none: it fits every training row (no ``dataset.validation_split``), so the callbacks that watch
``val_*`` quantities are removed, and with early stopping gone the refit trains for as many
epochs as the best point's trials did: the median of their ``best_epoch``, rounded half up.
With ``evaluation.recalibrate`` the refit keeps its validation split, only to fit the std scale on.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlrun import store
from mlrun.config import ExperimentConfig, evolve, monitors

if TYPE_CHECKING:
    from mlrun.sweep.plan import SweepPlan


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

    All training data but the validation split when ``evaluation.recalibrate`` fits its scale there.

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
    # evaluation.recalibrate fits its std scale on the validation split, never on the test set: the refit keeps it.
    dataset = cfg.dataset if cfg.evaluation.recalibrate else evolve(cfg.dataset, validation_split=0.0)
    refit = evolve(cfg, training=training, optimizer=optimizer, dataset=dataset)
    return RefitSetup(refit, epochs, source, watched)


def fold_best_epochs(plan: SweepPlan, point: int) -> list[int]:
    """The ``best_epoch`` recorded in the run.json of each completed trial of grid point ``point``."""
    out = []
    for trial in plan.point_trials(point):
        try:
            info = store.read_json(plan.trial_dir(trial) / store.RUN_FILE)
        except (OSError, ValueError):
            continue
        if info.get("status") == "completed" and isinstance(info.get("best_epoch"), int):
            out.append(int(info["best_epoch"]))
    return out
