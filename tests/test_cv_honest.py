"""Honest model selection: a CV trial's callbacks never watch the fold it is scored on; best_epoch; the refit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlrun import store
from mlrun.cli import app
from mlrun.config import DatasetConfig, validate_config
from mlrun.data import Fold, load_dataset
from mlrun.data.splits import inner_split
from mlrun.errors import ConfigError
from mlrun.runner import run_experiment
from mlrun.sweep import read_sweep_config
from mlrun.sweep.refit import median_epochs, refit_setup
from tests.conftest import digits_config

EARLY = {"monitor": "val_loss", "patience": 2}
PLATEAU = {"type": "reduce_on_plateau", "monitor": "val_loss", "factor": 0.5, "patience": 1}


def test_inner_split_is_a_stratified_partition() -> None:
    y = np.repeat(np.arange(4), [30, 20, 10, 40])
    fit, val = inner_split(y, 0.1, seed=5, stratify=True)
    assert np.intersect1d(fit, val).size == 0 and sorted([*fit, *val]) == list(range(len(y)))
    assert len(val) == 10 and np.bincount(y[val]).tolist() == [3, 2, 1, 4]
    again = inner_split(y, 0.1, seed=5, stratify=True)
    assert np.array_equal(again[0], fit) and np.array_equal(again[1], val)  # seeded


def test_a_fold_with_an_inner_split_keeps_the_scored_fold_apart() -> None:
    cfg = DatasetConfig(name="digits", scale=16, validation_split=0.2, limit=600)
    whole = load_dataset(cfg.model_copy(update={"validation_split": 0.0}), seed=3).x_train  # the training set
    seen_by_callbacks, scored = [], []
    for k in range(3):
        ds = load_dataset(cfg, seed=3, fold=Fold(k, 3), inner_validation=0.1)
        pos = ds.fold_positions
        assert pos is not None and ds.x_val is not None and ds.x_fold is not None
        # the indices the callbacks watch and the indices scored are disjoint, and with the rows fit on cover the set
        assert np.intersect1d(pos["val"], pos["fold"]).size == 0 and np.intersect1d(pos["train"], pos["fold"]).size == 0
        assert np.intersect1d(pos["train"], pos["val"]).size == 0
        assert sorted(np.concatenate([pos["train"], pos["val"], pos["fold"]]).tolist()) == list(range(len(whole)))
        # the arrays are the rows at those positions
        assert np.array_equal(ds.x_val, whole[pos["val"]]) and np.array_equal(ds.x_fold, whole[pos["fold"]])
        assert np.array_equal(ds.x_train, whole[pos["train"]])
        assert len(ds.x_val) == int(np.ceil(0.1 * (len(ds.x_train) + len(ds.x_val))))
        assert set(np.unique(ds.y_val)) == set(range(10))  # stratified
        summary = ds.summary(evaluate_on="validation")
        assert summary["n_train"] + summary["n_val"] + summary["n_scored"] == len(whole)
        seen_by_callbacks.append(pos["val"])
        scored.append(pos["fold"])
    assert sorted(np.concatenate(scored).tolist()) == list(range(len(whole)))  # each row scored once


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_inner_validation_is_a_fraction(write_config, fraction: float) -> None:
    block = {"grid": {"model.hidden_units": [[4]]}, "cv": {"n_splits": 2, "inner_validation": fraction}}
    with pytest.raises(ConfigError, match=r"sweep\.cv\.inner_validation: must be (greater|less) than"):
        read_sweep_config(write_config(digits_config(sweep=block)))


def test_median_epochs_rounds_half_up() -> None:
    assert [median_epochs(e) for e in ([3, 7, 4], [4, 5], [2, 9, 4, 6], [1])] == [4, 5, 5, 1]


def test_refit_drops_the_callbacks_that_watch_validation_data() -> None:
    cfg = validate_config(
        digits_config(
            optimizer={"name": "adam", "learning_rate": 0.01, "schedule": PLATEAU},
            training={"epochs": 30, "batch_size": 64, "early_stopping": EARLY},
        )
    )
    setup = refit_setup(cfg, [7, 12, 9])
    assert setup.cfg.dataset.validation_split == 0 and setup.cfg.training.early_stopping is None
    assert setup.cfg.optimizer.schedule is None and setup.cfg.training.epochs == setup.epochs == 9
    assert setup.removed == ["training.early_stopping", "optimizer.schedule"]
    assert setup.record()["epochs_from"] == "median best_epoch of the best point's folds [7, 9, 12], rounded half up"
    plain = refit_setup(validate_config(digits_config()), [])
    assert plain.cfg.training == validate_config(digits_config()).training and plain.removed == []
    assert plain.epochs_from == "training.epochs" and plain.cfg.dataset.validation_split == 0


def _fold_run(tmp_path: Path, training: dict, *, inner: float | None = 0.1) -> dict:
    cfg = validate_config(
        digits_config(dataset={"name": "digits", "scale": 16, "validation_split": 0.2}, training=training)
    )
    result = run_experiment(cfg, tmp_path / "runs", fold=Fold(1, 3), inner_validation=inner, evaluate_on="validation")
    assert result.status == "completed"
    info = store.read_run_info(result.run_dir)
    info["metrics"] = json.loads((result.run_dir / store.METRICS_FILE).read_text())
    return info


@pytest.mark.slow
def test_a_fold_trial_with_early_stopping_watches_an_inner_split(tmp_path: Path) -> None:
    info = _fold_run(tmp_path, {"epochs": 3, "batch_size": 64, "early_stopping": EARLY})
    d = info["dataset"]
    n_training = 1437  # digits' 1797 rows less the 20% test split
    assert d["n_train"] + d["n_val"] + d["n_scored"] == n_training
    assert d["n_scored"] == info["metrics"]["n_test"] == 479 and d["n_val"] == int(np.ceil(0.1 * (n_training - 479)))
    plain = _fold_run(tmp_path, {"epochs": 2, "batch_size": 64})  # nothing watches validation data: no inner split
    assert plain["dataset"]["n_val"] == 0 and plain["dataset"]["n_train"] + plain["dataset"]["n_scored"] == n_training


@pytest.mark.slow
def test_best_epoch_is_the_epoch_early_stopping_restored(tmp_path: Path) -> None:
    early = {"monitor": "val_loss", "patience": 3, "min_delta": 0.02}
    cfg = validate_config(digits_config(training={"epochs": 12, "batch_size": 64, "early_stopping": early}))
    result = run_experiment(cfg, tmp_path / "runs", evaluate_on="validation")
    info = store.read_run_info(result.run_dir)
    val_loss = [float(h["val_loss"]) for h in store.read_csv(result.run_dir / "history.csv")]
    best = info["best_epoch"]
    assert best != int(np.argmin(val_loss)) + 1  # min_delta: a smaller later improvement is not the best epoch
    # the restored weights score the validation set as the best epoch did
    assert result.metrics["loss"] == pytest.approx(val_loss[best - 1], rel=1e-3)


@pytest.mark.slow
def test_sweep_with_early_stopping_is_honest_and_refits_on_everything(cli, write_config, runs_dir: Path) -> None:
    block = {"grid": {"model.hidden_units": [[16]]}, "cv": {"n_splits": 3}, "metric": "val_accuracy", "refit": True}
    training = {"epochs": 6, "batch_size": 64, "early_stopping": {"monitor": "val_loss", "patience": 1}}
    config = write_config(digits_config(training=training, sweep=block))
    result = cli.invoke(app, ["sweep", str(config), "--runs-dir", str(runs_dir), "--quiet", "--workers", "1"])
    assert result.exit_code == 0, result.output
    (sweep_dir,) = [p for p in runs_dir.iterdir() if (p / "sweep.json").is_file()]
    runs = [store.read_run_info(p) for p in sorted((sweep_dir / "trials").iterdir())]
    assert len(runs) == 3
    scored = [r["dataset"]["n_scored"] for r in runs]
    assert sum(scored) == 1437  # the folds partition the training set
    for r in runs:
        d = r["dataset"]
        assert d["n_val"] > 0 and d["n_train"] + d["n_val"] + d["n_scored"] == 1437
    refit = json.loads((sweep_dir / "sweep.json").read_text())["refit"]
    best_epochs = sorted(r["best_epoch"] for r in runs)
    assert refit["status"] == "completed" and refit["epochs"] == best_epochs[1]
    assert refit["epochs_from"] == f"median best_epoch of the best point's folds {best_epochs}, rounded half up"
    assert refit["removed"] == ["training.early_stopping"]
    run = store.read_run_info(sweep_dir / "refit")
    assert run["dataset"]["n_train"] == 1437 and run["dataset"]["n_val"] == 0
    assert run["epochs_completed"] == refit["epochs"]
    refit_cfg = yaml.safe_load((sweep_dir / "refit" / "config.yaml").read_text())
    assert refit_cfg["training"].get("early_stopping") is None
