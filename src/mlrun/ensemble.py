"""Deep ensembles (Lakshminarayanan et al. 2017): ``training.ensemble`` members, seeds ``seed, seed+1, ...``.

The members are trained one after the other in the run's process, on the same data and splits
(the split seed stays the run's ``seed``; each member's weights and shuffling use its own).
Member 0 is the run's model: its ``model.keras`` and ``history.csv`` are the run's. Every
member, member 0 included, is written to ``members/<i>/`` (``model.keras``, ``history.csv``);
the run's predictions are the members' mean and their spread (:func:`mlrun.evaluation.evaluate`),
and ``mlrun predict`` averages the saved members the same way (:func:`load_members`).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun import store

if TYPE_CHECKING:
    from mlrun.runner import Prepared

#: The directory of a run holding its ensemble members, one sub-directory per member.
MEMBERS_DIR = "members"


def member_dir(run_dir: Path, index: int) -> Path:
    """``members/<index>/`` of a run."""
    return Path(run_dir) / MEMBERS_DIR / str(index)


def fit_members(prep: Prepared, run_dir: Path, info: dict[str, Any]) -> list[Any] | None:
    """Train members 1 .. N-1 of the ensemble (member 0, ``prep.model``, is already fitted).

    Each member's history goes to ``members/<i>/history.csv``; ``info["members"]`` records its
    seed, epochs and best epoch. Returns every member's model, member 0 first, or None when a
    member diverged (``info`` then holds the run's ``diverged`` status and error).
    """
    from mlrun.backend import keras_modules, seed_everything

    km = keras_modules()
    cfg, data = prep.cfg, prep.data
    models = [prep.model]
    info["members"] = [
        {"seed": cfg.seed, "epochs_completed": info.get("epochs_completed"), "best_epoch": info.get("best_epoch")}
    ]
    for i in range(1, cfg.training.ensemble):
        seed_everything(km.keras, cfg.seed + i)
        with prep.strategy.scope() if prep.strategy is not None else contextlib.nullcontext():
            model = km.model.build_model(
                cfg, data.input_shape, task=data.task, n_outputs=data.n_outputs, n_train=len(data.x_train)
            )
            km.model.compile_model(model, cfg, task=data.task)
        folder = member_dir(run_dir, i)
        folder.mkdir(parents=True, exist_ok=True)
        fitted = km.training.fit(model, cfg, data, run_dir=folder, result=km.training.FitResult(), on_epoch=None)
        info["members"].append(
            {"seed": cfg.seed + i, "epochs_completed": fitted.epochs, "best_epoch": fitted.best_epoch}
        )
        if fitted.diverged:
            info.update(
                status="diverged", error=f"ensemble member {i} (seed {cfg.seed + i}): {fitted.divergence_error()}"
            )
            return None
        models.append(model)
    return models


def save_members(run_dir: Path, models: list[Any]) -> None:
    """Write each member's ``model.keras`` to ``members/<i>/``, and member 0's history (the run's) beside it."""
    from mlrun.artifacts import save_model

    for i, model in enumerate(models):
        folder = member_dir(run_dir, i)
        folder.mkdir(parents=True, exist_ok=True)
        save_model(model, folder / store.MODEL_FILE)
    history = Path(run_dir) / store.HISTORY_FILE
    if history.is_file():
        shutil.copyfile(history, member_dir(run_dir, 0) / store.HISTORY_FILE)


def member_model_paths(run_dir: Path) -> list[Path]:
    """The saved members' ``model.keras`` files of a run, in member order ([] for a run without an ensemble)."""
    root = Path(run_dir) / MEMBERS_DIR
    if not root.is_dir():
        return []
    folders = sorted((p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return [p / store.MODEL_FILE for p in folders if (p / store.MODEL_FILE).is_file()]


def load_members(run_dir: Path) -> list[Any]:
    """Load a run's ensemble members (safe mode), member 0 first; [] for a run without an ensemble."""
    from mlrun.backend import keras_modules

    keras = keras_modules().keras  # mlrun.model too: it registers mlrun's layers and losses for loading
    return [keras.models.load_model(path, safe_mode=True) for path in member_model_paths(run_dir)]
