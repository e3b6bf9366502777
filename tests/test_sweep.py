"""`mlrun sweep`: grid expansion, up-front validation, folds, trial keys, and real sweeps on digits
(results against the per-trial files, resume after kill -9, failing trials, Ray == local)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlrun import store
from mlrun.cli import app
from mlrun.config import DatasetConfig, evolve, load_config
from mlrun.data import Fold, fold_indices, load_dataset
from mlrun.errors import ConfigError, DataError
from mlrun.sweep import expand_grid, parse_grid_option, plan_sweep, read_sweep_config
from mlrun.sweep.plan import trial_key
from mlrun.sweep.results import PointResult, rank_points
from tests.conftest import CONFIGS, ROOT, digits_config, kill_after_finished_trials

ray_installed = importlib.util.find_spec("ray") is not None
#: The Ray test runs in CI (which installs .[dev,ray]); elsewhere it needs Ray installed.
requires_ray = pytest.mark.skipif(
    not ray_installed and not os.environ.get("CI"),
    reason="needs Ray: pip install -e '.[ray]' (CI installs it and runs this test)",
)

SWEEP_FILES = {"sweep.yaml", "sweep.json", "results.csv", "results.json", "best_config.yaml", "trials", "refit"}


def sweep_config(**sweep) -> dict:
    """A fast digits config with a sweep block: 2 grid points x 3 folds by default."""
    block = {
        "grid": {"model.hidden_units": [[8], [24]]},
        "cv": {"n_splits": 3},
        "metric": "val_accuracy",
        "refit": True,
    }
    block.update(sweep)
    return digits_config(training={"epochs": 4, "batch_size": 64}, sweep=block)


def invoke_sweep(cli, config: Path, runs_dir: Path, *args: str):
    return cli.invoke(
        app, ["sweep", str(config), "--runs-dir", str(runs_dir), "--quiet", *args], env={"COLUMNS": "250"}
    )


def only_sweep(runs_dir: Path) -> Path:
    sweeps = [p for p in runs_dir.iterdir() if (p / "sweep.json").is_file()]
    assert len(sweeps) == 1, sweeps
    return sweeps[0]


# --------------------------------------------------------------------------- grid


def test_grid_expands_in_parameter_grid_order_with_the_product_size() -> None:
    grid = {"optimizer.learning_rate": [0.1, 0.01, 0.001], "model.hidden_units": [[128], [256, 64, 32]], "seed": [1, 2]}
    points = expand_grid(grid)
    assert len(points) == 3 * 2 * 2
    keys = sorted(grid)
    expected = [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    assert points == expected  # sorted keys, the last one varying fastest
    from sklearn.model_selection import ParameterGrid

    assert points == list(ParameterGrid(grid))
    assert len({json.dumps(p, sort_keys=True) for p in points}) == len(points)


@pytest.mark.parametrize(
    "text, key, values",
    [
        ("optimizer.learning_rate=0.01,0.001", "optimizer.learning_rate", [0.01, 0.001]),
        ("model.hidden_units=[128],[256,64]", "model.hidden_units", [[128], [256, 64]]),
        ("optimizer.name=adam,sgd", "optimizer.name", ["adam", "sgd"]),
        ("model.layers.0.filters=8", "model.layers.0.filters", [8]),
    ],
)
def test_grid_option_values_are_yaml(text: str, key: str, values: list) -> None:
    assert parse_grid_option(text) == (key, values)


# --------------------------------------------------------------------------- up-front validation


CNN = {"architecture": "cnn", "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "flatten"}]}


@pytest.mark.parametrize(
    "config, sweep, args, match",
    [
        (
            {},
            {"grid": {"optimizer.learning_rate": [0.01, -1.0]}},
            [],
            r"1 of 2 grid points are not valid.*nothing was trained\n  point 1 \(optimizer\.learning_rate=-1\.0\):\n    line \d+ \(sweep\.grid\.optimizer\.learning_rate\)  optimizer\.learning_rate: must be greater than 0",
        ),
        (
            {},
            {"grid": {"optimizer.learning_rat": [0.01, 0.1]}},
            [],
            r"point 0 \(optimizer\.learning_rat=0\.01\) and 1 more point with the same problem:\n    line \d+ \(sweep\.grid\.optimizer\.learning_rat\)  optimizer\.learning_rat: unknown key \(did you mean 'learning_rate'\?\)",
        ),
        (
            {},
            {"grid": {"optimizer.learning_rate": []}},
            [],
            r"line \d+  sweep\.grid\.optimizer\.learning_rate: the list of values is empty",
        ),
        (
            {},
            {"grid": {"optimizer.learning_rate": 0.01}},
            [],
            r"Single values need to be wrapped in a list with one element: \[0\.01\]",
        ),
        ({}, {"grid": {"optimizer.learning_rate": [0.01, 0.01]}}, [], r"the value 0\.01 is listed twice"),
        ({}, {"grid": {"model": [{}], "model.hidden_units": [[4]]}}, [], r"'model' and 'model\.hidden_units' overlap"),
        (
            {},
            {"grid": {"model.layers.0.units": [4]}},
            [],
            r"sweep\.grid\.model\.layers\.0\.units: the config has no list model\.layers to index into",
        ),
        ({}, {"grid": {"runtime.intra_op_threads": [1, 2]}}, [], r"thread counts are set per worker"),
        (
            {},
            {"grid": {"optimizer.learning_rate": [0.01, "0.01"]}},
            [],
            r"grid points 0 \(optimizer\.learning_rate=0\.01\) and 1 \(optimizer\.learning_rate=0\.01\) give the same config",
        ),
        (
            {},
            {"metric": "accuracy"},
            [],
            r"sweep\.metric: grid points are ranked on held-out data, so the metric is 'val_accuracy'",
        ),
        ({}, {"metric": "val_acuracy"}, [], r"unknown metric 'val_acuracy' \(did you mean 'val_accuracy'\?\)"),
        (
            {},
            {"metric": "val_loss", "mode": "max"},
            [],
            r"line \d+  sweep\.mode: 'max' would rank the worst val_loss first; use mode: 'min'",
        ),
        (
            {},
            {"mode": "min"},
            [],
            r"sweep\.mode: 'min' would rank the worst val_accuracy \(the default metric of a multiclass task\) first; use mode: 'max'",
        ),
        ({}, {"cvv": {"n_splits": 3}}, [], r"sweep\.cvv: unknown key \(did you mean 'cv'\?\)"),
        ({}, {"cv": {"n_splits": 1}}, [], r"sweep\.cv\.n_splits: must be greater than or equal to 2"),
        ({}, {}, ["--folds", "1"], r"--folds 1: k-fold cross-validation needs at least 2 folds"),
        (
            {},
            {},
            ["--grid", "optimizer.learning_rate"],
            r"--grid 'optimizer\.learning_rate': expected KEY=VALUE1,VALUE2",
        ),
        (
            {},
            {"cv": None},
            ["--set", "dataset.validation_split=0"],
            r"dataset\.validation_split: is 0, but without sweep\.cv",
        ),
        ({}, {}, ["--set", "sweep.metric=val_r2"], r"sweep\.metric: 'val_r2' is not reported for a multiclass task"),
        (
            {"model": CNN},
            {"grid": {"model.layers.0.kernel_size": [3, 20]}},
            [],
            r"1 of 2 grid points build models that do not fit the data; nothing was trained\n  point 1 \(model\.layers\.0\.kernel_size=20\): model\.layers\.0\.kernel_size: 20 is larger than the layer's input \(8x8, shape \(8, 8, 1\)\)",
        ),
        (
            {},
            {"grid": {"loss": ["sparse_categorical_crossentropy", "binary_crossentropy"]}},
            [],
            r"point 1 \(loss=binary_crossentropy\): loss: 'binary_crossentropy' does not fit a multiclass task",
        ),
        (
            {"dataset": {"name": "breast_cancer", "scale": "standard"}, "loss": "binary_crossentropy"},
            {"grid": {"dataset.positive_label": ["malignant", "cancer"]}},
            [],
            r"point 1 \(dataset\.positive_label=cancer\): dataset\.positive_label: 'cancer' is not a class of sklearn breast_cancer",
        ),
        ({}, {}, ["--ray-address", "127.0.0.1:6379"], r"--ray-address needs --backend ray"),
    ],
)
def test_any_bad_grid_point_exits_2_and_nothing_trains(
    cli, write_config, runs_dir: Path, config, sweep, args, match
) -> None:
    block = {"grid": {"model.hidden_units": [[4]]}, "cv": {"n_splits": 2}}
    block.update(sweep)
    block = {k: v for k, v in block.items() if v is not None}
    result = invoke_sweep(cli, write_config(digits_config(**config, sweep=block)), runs_dir, *args)
    assert result.exit_code == 2, result.output
    import re

    assert re.search(match, result.output, re.S), result.output
    assert "Traceback" not in result.output
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_ray_backend_without_ray_says_how_to_install_it(
    cli, write_config, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = invoke_sweep(cli, write_config(sweep_config()), runs_dir, "--backend", "ray")
    assert result.exit_code == 2, result.output
    assert "--backend ray needs Ray, which is not installed: pip install 'mlrun[ray]'" in result.output
    assert not runs_dir.exists()


def test_a_config_without_a_sweep_block_needs_a_grid(write_config) -> None:
    with pytest.raises(
        ConfigError, match=r"(?s)has no sweep: block: add one.*or give the grid on the command line: --grid"
    ):
        read_sweep_config(write_config(digits_config()))
    spec = read_sweep_config(write_config(digits_config()), grid=["optimizer.learning_rate=0.1,0.01"], folds=2)
    assert [p.params for p in spec.points] == [{"optimizer.learning_rate": 0.1}, {"optimizer.learning_rate": 0.01}]
    assert spec.block.cv.n_splits == 2 and spec.points[1].config.optimizer.learning_rate == 0.01


def test_grid_and_folds_options_add_to_and_replace_the_yaml_block(write_config) -> None:
    path = write_config(sweep_config())
    spec = read_sweep_config(
        path, ["training.epochs=2"], grid=["optimizer.learning_rate=0.1,0.01", "model.hidden_units=[5]"], folds=4
    )
    assert sorted(spec.block.grid) == ["model.hidden_units", "optimizer.learning_rate"]
    assert [p.params["model.hidden_units"] for p in spec.points] == [[5], [5]]
    assert spec.block.cv.n_splits == 4 and all(p.config.training.epochs == 2 for p in spec.points)


def test_train_on_a_sweep_config_says_to_use_sweep(cli, write_config) -> None:
    result = cli.invoke(app, ["train", str(write_config(sweep_config())), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "has a sweep: block" in result.output and "mlrun sweep" in result.output
    with pytest.raises(ConfigError, match=r"run it with `mlrun sweep .*`, or remove the block"):
        load_config(write_config(sweep_config()))


def test_shipped_sweep_configs_are_valid() -> None:
    mnist = read_sweep_config(CONFIGS / "mnist_mlp_sweep.yaml")
    assert len(mnist.points) == 6 and mnist.block.cv.n_splits == 5 and mnist.block.refit
    assert mnist.points[0].params == {"model.hidden_units": [128], "optimizer.learning_rate": 0.01}
    digits = read_sweep_config(CONFIGS / "digits_mlp_sweep.yaml", smoke=True)
    assert digits.block.cv.n_splits == 2 and all(
        p.config.training.epochs == 1 and p.config.dataset.limit == 200 for p in digits.points
    )


# --------------------------------------------------------------------------- folds


@pytest.mark.parametrize("stratified", [True, False])
@pytest.mark.parametrize("n_splits", [2, 3, 5])
def test_folds_are_disjoint_cover_every_sample_and_are_stratified(stratified: bool, n_splits: int) -> None:
    y = np.random.default_rng(0).choice(4, size=203, p=[0.4, 0.3, 0.2, 0.1])
    folds = fold_indices(y, n_splits, stratified=stratified, shuffle=True, seed=7)
    assert len(folds) == n_splits
    held_out = np.concatenate([val for _, val in folds])
    assert sorted(held_out) == list(range(len(y)))  # every sample validated exactly once
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == len(y)
        assert abs(len(val) - len(y) / n_splits) <= 1
        if stratified:  # each class's count in a fold is within one of its share
            for c in range(4):
                assert abs((y[val] == c).sum() - (y == c).sum() / n_splits) <= 1
    assert [v.tolist() for _, v in fold_indices(y, n_splits, stratified=stratified, shuffle=True, seed=7)] == [
        v.tolist() for _, v in folds
    ]


def test_a_fold_of_the_dataset_replaces_the_validation_split() -> None:
    cfg = DatasetConfig(name="digits", scale=16, validation_split=0.2, limit=500)
    plain = load_dataset(cfg, seed=3)
    parts = [load_dataset(cfg, seed=3, fold=Fold(k, 3)) for k in range(3)]
    training_set = sorted((r * 16).round().astype(int).tobytes() for r in np.concatenate([plain.x_train, plain.x_val]))
    held_out = sorted((r * 16).round().astype(int).tobytes() for ds in parts for r in ds.x_fold)
    assert held_out == training_set  # the held-out folds partition the training set (the split is ignored)
    for ds in parts:
        assert ds.x_val is None  # no callback watches validation data here: no inner split
        assert len(ds.x_train) + len(ds.x_fold) == len(training_set)
        assert np.array_equal(ds.x_test, plain.x_test)  # the test set is the same, in no fold
        assert set(np.unique(ds.y_fold)) == set(range(10))  # stratified
    standard = [load_dataset(cfg.model_copy(update={"scale": "standard"}), seed=3, fold=Fold(k, 3)) for k in range(3)]
    for ds in standard:  # scaling statistics come from the fold's training part only
        assert np.allclose(ds.x_train.reshape(len(ds.x_train), -1).mean(axis=0), 0, atol=1e-4)
        assert not np.allclose(ds.x_fold.reshape(len(ds.x_fold), -1).mean(axis=0), 0, atol=1e-2)


@pytest.mark.parametrize(
    "y, n_splits, stratified, match",
    [
        (np.array([0, 0, 0, 1, 1, 1, 2]), 2, True, r"class '2' has 1 training samples, fewer than the 2 folds"),
        (np.array([0, 1, 0]), 5, False, r"3 training samples cannot be split into 5 folds"),
    ],
)
def test_impossible_folds_are_data_errors(y, n_splits, stratified, match) -> None:
    with pytest.raises(DataError, match=match):
        fold_indices(y, n_splits, stratified=stratified, shuffle=True, seed=0)


def test_stratified_folds_need_class_labels(write_config) -> None:
    cfg = digits_config(
        dataset={"name": "diabetes", "scale": "standard"},
        loss="mse",
        metrics=["mae"],
        sweep={"grid": {"model.hidden_units": [[4]]}, "cv": {"n_splits": 3, "stratified": True}},
    )
    with pytest.raises(
        ConfigError, match=r"sweep\.cv\.stratified: true needs class labels, but this is a regression task"
    ):
        plan_sweep(read_sweep_config(write_config(cfg)), Path("unused"), check_models=False)
    with pytest.raises(ValueError, match=r"fold index must be in 0\.\.2"):
        Fold(3, 3)


# --------------------------------------------------------------------------- keys and ids


def test_trial_keys_and_sweep_id_follow_the_config_fold_and_data(write_config, tmp_path: Path) -> None:
    plan = plan_sweep(read_sweep_config(write_config(sweep_config())), tmp_path, check_models=False)
    again = plan_sweep(read_sweep_config(write_config(sweep_config(), "again.yaml")), tmp_path, check_models=False)
    assert plan.sweep_id == again.sweep_id and [t.key for t in plan.trials] == [t.key for t in again.trials]
    assert len({t.key for t in plan.trials}) == len(plan.trials) == 6
    assert plan.sweep_id.startswith("digits_test-sweep-")
    changed = plan_sweep(
        read_sweep_config(write_config(sweep_config()), ["training.epochs=5"]), tmp_path, check_models=False
    )
    assert changed.sweep_id != plan.sweep_id and not {t.key for t in changed.trials} & {t.key for t in plan.trials}
    threads = plan_sweep(
        read_sweep_config(write_config(sweep_config()), ["runtime.intra_op_threads=3"]), tmp_path, check_models=False
    )
    assert [t.key for t in threads.trials] == [
        t.key for t in plan.trials
    ]  # thread counts do not change what is computed
    cfg = plan.spec.points[0].config
    assert trial_key(cfg, Fold(0, 3), "a") != trial_key(cfg, Fold(1, 3), "a") != trial_key(cfg, Fold(1, 3), "b")
    assert trial_key(cfg, None, "a") != trial_key(cfg, None, "a", kind="refit")


def test_ranks_are_one_for_the_best_and_ties_share_the_smallest() -> None:
    def point(i: int, mean: float | None) -> PointResult:
        return PointResult(i, {}, [], [], tracked={"val_loss": {"mean": mean, "std": 0.0, "folds": [mean]}})

    points = [point(0, 0.5), point(1, 0.2), point(2, None), point(3, 0.5), point(4, 0.9)]
    rank_points(points, "val_loss", "min")
    assert [p.rank for p in points] == [2, 1, None, 2, 4]
    rank_points(points, "val_loss", "max")
    assert [p.rank for p in points] == [2, 4, None, 2, 1]


# --------------------------------------------------------------------------- real sweeps


@pytest.fixture(scope="module")
def digits_sweep(tmp_path_factory: pytest.TempPathFactory):
    """One uninterrupted sweep, 2 grid points x 3 folds with refit, through the CLI; shared by the tests below."""
    from typer.testing import CliRunner

    base = tmp_path_factory.mktemp("digits_sweep")
    config = base / "sweep.yaml"
    config.write_text(yaml.safe_dump(sweep_config(), sort_keys=False))
    result = CliRunner().invoke(app, ["sweep", str(config), "--runs-dir", str(base / "runs"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    return {"config": config, "dir": only_sweep(base / "runs"), "output": result.output}


def process_running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped by init, does not count)."""
    if not Path("/proc/self/stat").exists():  # no procfs: ask the OS (a zombie counts as running there)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def read_results(sweep_dir: Path) -> list[dict[str, str]]:
    return store.read_csv(sweep_dir / "results.csv")


@pytest.mark.slow
def test_sweep_writes_every_file_with_correct_mean_std_and_rank(digits_sweep) -> None:
    sweep_dir = digits_sweep["dir"]
    assert {p.name for p in sweep_dir.iterdir()} >= SWEEP_FILES
    assert not list(sweep_dir.rglob(".*"))  # no temporary files left
    info = json.loads((sweep_dir / "sweep.json").read_text())
    assert info["status"] == "completed" and info["trials"] == {"total": 6, "done": 6, "failed": 0, "pending": 0}
    assert {"python", "mlrun", "tensorflow", "keras", "scikit-learn", "numpy"} <= set(info["versions"])
    assert info["ended_at"] and info["backend"] == "local" and info["workers"] == 2 and info["threads_per_worker"] == 1
    resolved = yaml.safe_load((sweep_dir / "sweep.yaml").read_text())
    assert resolved["training"]["epochs"] == 4 and resolved["sweep"]["cv"] == {
        "n_splits": 3,
        "stratified": True,
        "shuffle": True,
        "inner_validation": 0.1,
        "n_repeats": 1,
    }
    assert resolved["sweep"]["mode"] == "max"

    rows = read_results(sweep_dir)
    metrics = ["val_accuracy", "val_roc_auc", "val_loss"]
    assert list(rows[0]) == [
        "model.hidden_units",
        *(f"{m}_{s}" for m in metrics for s in ("mean", "std", "fold0", "fold1", "fold2")),
        "rank",
        "p_value",
        "prob_worse",
        "prob_equivalent",
        "prob_better",
    ]
    assert [r["model.hidden_units"] for r in rows] == ["[8]", "[24]"]  # grid order
    results = json.loads((sweep_dir / "results.json").read_text())
    trials = sweep_dir / "trials"
    assert len(list(trials.iterdir())) == 6
    n_train = None
    for row, point in zip(rows, results["points"]):
        assert point["status"] == "completed" and [t["fold"] for t in point["trials"]] == [0, 1, 2]
        fold_metrics = [json.loads((trials / t["name"] / "metrics.json").read_text()) for t in point["trials"]]
        for m in metrics:
            values = [fm[m.removeprefix("val_")] for fm in fold_metrics]
            assert [float(row[f"{m}_fold{k}"]) for k in range(3)] == pytest.approx(values, abs=0)
            assert float(row[f"{m}_mean"]) == pytest.approx(np.mean(values))
            assert float(row[f"{m}_std"]) == pytest.approx(np.std(values))  # population std, as cv_results_
        runs = [store.read_run_info(trials / t["name"]) for t in point["trials"]]
        assert all(r["status"] == "completed" and r["evaluated_on"] == "validation" for r in runs)
        assert [r["fold"] for r in runs] == [{"index": k, "n_splits": 3} for k in range(3)]
        # each fold's metrics are on its held-out part only: the folds' sizes add up to the training set
        n_train = sum(fm["n_test"] for fm in fold_metrics)
        assert all(r["dataset"]["n_train"] + r["dataset"]["n_val"] + r["dataset"]["n_scored"] == n_train for r in runs)
        assert all(r["dataset"]["n_scored"] == fm["n_test"] for r, fm in zip(runs, fold_metrics))
        cm = np.array(point["confusion_matrix"]["matrix"])
        assert cm.shape == (10, 10) and cm.sum() == n_train  # pooled: every training sample once
        assert point["roc_auc"]["folds"] == [fm["roc_auc"] for fm in fold_metrics]
    means = [float(r["val_accuracy_mean"]) for r in rows]
    assert [int(r["rank"]) for r in rows] == ([1, 2] if means[0] > means[1] else [2, 1])

    best = results["best"]
    assert best["point"] == int(np.argmax(means)) and best["mean"] == pytest.approx(max(means))
    assert "best: model.hidden_units=" in digits_sweep["output"] and "refit: test accuracy" in digits_sweep["output"]
    best_cfg = load_config(sweep_dir / "best_config.yaml")
    assert best_cfg.model.hidden_units == json.loads(rows[best["point"]]["model.hidden_units"])
    # the refit: the best point trained on all training data and tested, as a normal run directory
    refit = store.read_run_info(sweep_dir / "refit")
    refit_metrics = json.loads((sweep_dir / "refit" / "metrics.json").read_text())
    assert refit["status"] == "completed" and refit["evaluated_on"] == "test" and refit["fold"] is None
    assert refit["dataset"]["n_train"] == n_train and refit["dataset"]["n_val"] == 0
    assert refit_metrics["n_test"] == refit["dataset"]["n_test"] == 360
    assert (
        results["refit"]["test_metrics"]["accuracy"] == refit_metrics["accuracy"]
        and info["refit"]["status"] == "completed"
    )


@pytest.mark.slow
def test_running_the_same_sweep_again_trains_nothing(cli, digits_sweep) -> None:
    sweep_dir = digits_sweep["dir"]
    before = {p: p.read_bytes() for p in sweep_dir.glob("*/*/run.json")} | {
        sweep_dir / "refit/run.json": (sweep_dir / "refit/run.json").read_bytes()
    }
    results = (sweep_dir / "results.csv").read_text()
    result = invoke_sweep(cli, digits_sweep["config"], sweep_dir.parent)
    assert result.exit_code == 0, result.output
    assert "0 trials run, 6 already done, 0 failed" in result.output
    assert {p: p.read_bytes() for p in before} == before  # no trial and no refit ran again
    assert (sweep_dir / "results.csv").read_text() == results


@pytest.mark.slow
def test_resume_after_kill_9_runs_only_the_missing_trials(cli, digits_sweep, tmp_path: Path) -> None:
    runs_dir = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "mlrun",
        "sweep",
        str(digits_sweep["config"]),
        "--runs-dir",
        str(runs_dir),
        "--workers",
        "2",
        "--quiet",
        "--set",
        "sweep.refit=false",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    finished = kill_after_finished_trials(proc, runs_dir, 2, timeout=120, children=children)
    assert 2 <= len(finished) < 6, "the sweep was not killed half-way"
    sweep_dir = only_sweep(runs_dir)
    assert json.loads((sweep_dir / "sweep.json").read_text())["status"] == "running"  # as the kill left it
    time.sleep(1.5)  # workers notice their parent is gone within half a second
    assert children and not [pid for pid in children if process_running(pid)], children  # none left behind
    for run in sweep_dir.glob("trials/*/run.json"):
        info = store.read_run_info(run.parent)
        assert info["status"] == "completed" or not process_running(info["pid"]), info  # no orphan goes on writing
    kept = {p: (p / "run.json").read_bytes() for p in finished}

    result = invoke_sweep(cli, digits_sweep["config"], runs_dir, "--set", "sweep.refit=false")
    assert result.exit_code == 0, result.output
    assert f"{6 - len(finished)} trials run, {len(finished)} already done, 0 failed" in result.output
    assert {p: (p / "run.json").read_bytes() for p in kept} == kept  # finished trials untouched
    # the same numbers as the uninterrupted sweep (same trials, same keys)
    assert read_results(sweep_dir) == read_results(digits_sweep["dir"])
    assert sorted(p.name for p in (sweep_dir / "trials").iterdir()) == sorted(
        p.name for p in (digits_sweep["dir"] / "trials").iterdir()
    )


def diverging_config(**sweep) -> dict:
    """Diabetes regression where SGD with learning rate 10 diverges (NaN loss) at fit time; the config itself is valid."""
    block = {"grid": {"optimizer.learning_rate": [10.0, 0.01]}, "refit": False, **sweep}
    return digits_config(
        dataset={"name": "diabetes"},
        loss="mse",
        metrics=["mae"],
        optimizer={"name": "sgd", "learning_rate": 0.01},
        model={"architecture": "mlp", "hidden_units": [8]},
        training={"epochs": 3, "batch_size": 16},
        sweep=block,
    )


@pytest.mark.slow
def test_a_regression_sweep_reports_its_refit_by_r2(cli, write_config, runs_dir: Path) -> None:
    config = diverging_config(grid={"optimizer.learning_rate": [0.01]}, refit=True)
    result = invoke_sweep(cli, write_config(config), runs_dir, "--workers", "1")
    assert result.exit_code == 0, result.output
    refit = json.loads((only_sweep(runs_dir) / "sweep.json").read_text())["refit"]["test_metrics"]
    assert f"refit: test r2 {refit['r2']:.4f}" in result.output and "accuracy" not in result.output


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(cli, write_config, runs_dir: Path) -> None:
    result = invoke_sweep(cli, write_config(diverging_config()), runs_dir, "--workers", "2")
    assert result.exit_code == 1, result.output
    assert "2 trials run, 0 already done, 1 failed" in result.output
    sweep_dir = only_sweep(runs_dir)
    info = json.loads((sweep_dir / "sweep.json").read_text())
    assert info["status"] == "failed" and info["trials"] == {"total": 2, "done": 1, "failed": 1, "pending": 0}
    rows = read_results(sweep_dir)  # no cv: one score per point, on the validation split
    assert list(rows[0]) == [
        "optimizer.learning_rate",
        *(f"{m}_{s}" for m in ("val_r2", "val_mae", "val_loss") for s in ("mean", "std", "fold0")),
        "rank",
        "p_value",
        "prob_worse",
        "prob_equivalent",
        "prob_better",
    ]
    assert rows[0]["rank"] == "" and rows[0]["val_r2_mean"] == ""
    assert all(row[c] == "" for row in rows for c in ("p_value", "prob_worse"))  # one score per point: no test
    assert rows[1]["rank"] == "1" and float(rows[1]["val_r2_std"]) == 0.0
    failed = json.loads((sweep_dir / "results.json").read_text())["points"][0]
    assert failed["status"] == "failed" and failed["trials"][0]["status"] == "diverged"
    assert "Lower optimizer.learning_rate" in failed["trials"][0]["error"]
    assert f"{failed['trials'][0]['name']}: the loss became" in result.output


@pytest.mark.slow
def test_fail_fast_stops_at_the_first_failure(cli, write_config, runs_dir: Path) -> None:
    result = invoke_sweep(
        cli,
        write_config(diverging_config(cv={"n_splits": 2, "stratified": False})),
        runs_dir,
        "--workers",
        "1",
        "--fail-fast",
    )
    assert result.exit_code == 1, result.output
    info = json.loads((only_sweep(runs_dir) / "sweep.json").read_text())
    assert info["status"] == "failed" and info["trials"] == {"total": 4, "done": 0, "failed": 1, "pending": 3}


@pytest.mark.slow
def test_smoke_sweep_is_tiny_and_marked(cli, runs_dir: Path) -> None:
    result = cli.invoke(
        app, ["sweep", str(CONFIGS / "digits_mlp_sweep.yaml"), "--smoke", "--quiet", "--grid", "model.hidden_units=[8]"]
    )
    assert result.exit_code == 0, result.output
    sweep_dir = only_sweep(runs_dir)
    runs = [store.read_run_info(p) for p in (sweep_dir / "trials").iterdir()]
    assert len(runs) == 2 * 2  # 2 learning rates x 1 architecture x 2 folds (smoke: at most 2)
    assert all(
        r["smoke"] and r["epochs_completed"] == 1 and r["dataset"]["n_train"] + r["dataset"]["n_val"] <= 200
        for r in runs
    )


@requires_ray
@pytest.mark.slow
def test_ray_backend_gives_the_same_results_as_local(cli, digits_sweep, tmp_path: Path) -> None:
    runs_dir = tmp_path / "ray"
    # no --ray-address: mlrun starts a local Ray instance for the sweep and stops it afterwards
    result = invoke_sweep(
        cli, digits_sweep["config"], runs_dir, "--backend", "ray", "--workers", "2", "--set", "sweep.refit=false"
    )
    assert result.exit_code == 0, result.output
    sweep_dir = only_sweep(runs_dir)
    info = json.loads((sweep_dir / "sweep.json").read_text())
    assert info["backend"] == "ray" and info["trials"]["done"] == 6 and "ray" in info["versions"]
    assert read_results(sweep_dir) == read_results(digits_sweep["dir"])
    for trial in (sweep_dir / "trials").iterdir():
        assert {"run.json", "metrics.json", "model.keras", "history.csv", "trial.json"} <= {
            p.name for p in trial.iterdir()
        }
    again = invoke_sweep(cli, digits_sweep["config"], runs_dir, "--backend", "ray", "--set", "sweep.refit=false")
    assert again.exit_code == 0 and "0 trials run, 6 already done" in again.output, again.output


@pytest.mark.slow
@pytest.mark.parametrize("keras_backend", ["jax", "tensorflow"])
def test_a_worker_that_dies_fails_its_trial_and_a_fresh_worker_goes_on(
    keras_backend: str, write_config, tmp_path: Path
) -> None:
    import multiprocessing
    import threading

    from mlrun.sweep.executors import LocalBackend
    from mlrun.sweep.trials import trial_task

    plan = plan_sweep(read_sweep_config(write_config(sweep_config(cv=None, refit=False))), tmp_path, check_models=False)
    tasks = []
    for trial, epochs in zip(plan.trials, (100_000, 1)):  # the first trains until it is killed
        cfg = plan.spec.points[trial.point].config
        cfg = evolve(
            cfg,
            training=evolve(cfg.training, epochs=epochs),
            runtime=evolve(cfg.runtime, backend=keras_backend),
        )
        (tmp_path / trial.name).mkdir()
        tasks.append(
            trial_task(
                plan,
                trial.name,
                trial.key,
                cfg,
                None,
                tmp_path / trial.name,
                evaluate_on="validation",
                threads=1,
                command=["test"],
            )
        )

    def kill_worker_once_training() -> None:
        history = tmp_path / tasks[0]["name"] / "history.csv"
        deadline = time.time() + 240
        while time.time() < deadline and not (history.is_file() and len(history.read_text().splitlines()) > 2):
            time.sleep(0.2)
        for child in multiprocessing.active_children():
            if child.name == "mlrun-sweep-worker":
                os.kill(child.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_worker_once_training, daemon=True)
    killer.start()
    outcomes = {task["name"]: outcome for task, outcome in LocalBackend().run(tasks, workers=1, threads=1)}
    killer.join()
    killed, other = outcomes[tasks[0]["name"]], outcomes[tasks[1]["name"]]
    assert killed["status"] == "failed" and "the worker process died (killed by signal SIGKILL)" in killed["error"]
    assert other["status"] == "completed" and other["pid"] is not None
    assert json.loads((Path(tasks[1]["run_dir"]) / "run.json").read_text())["runtime"]["backend"] == keras_backend
    assert not [c for c in multiprocessing.active_children() if c.name == "mlrun-sweep-worker"]


def _imported(modules: list[str]) -> list[bool]:
    """In a worker: which of ``modules`` were imported before the worker ran anything."""
    return [m in sys.modules for m in modules]


def test_workers_fork_from_a_preloaded_server_for_tensorflow_and_spawn_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from mlrun.errors import ConfigError
    from mlrun.sweep.executors import PRELOAD_MODULE, worker_context

    monkeypatch.delenv("MLRUN_WORKER_START", raising=False)
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = worker_context("tensorflow")
        assert ctx.get_start_method() == "forkserver"
        # A worker forked from the server finds the preload module's imports done: Keras on TensorFlow.
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            assert pool.submit(_imported, [PRELOAD_MODULE, "keras", "tensorflow"]).result() == [True, True, True]
    assert worker_context("jax").get_start_method() == "spawn"  # the fork server holds TensorFlow's Keras
    monkeypatch.setenv("MLRUN_WORKER_START", "spawn")
    assert worker_context("tensorflow").get_start_method() == "spawn"
    monkeypatch.setenv("MLRUN_WORKER_START", "thread")
    with pytest.raises(ConfigError, match="MLRUN_WORKER_START='thread': use spawn or forkserver"):
        worker_context("tensorflow")


@pytest.mark.slow  # a subprocess or a few training steps: the full suite runs it
def test_the_preload_module_imports_keras_without_starting_tensorflow() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mlrun.sweep.preload; from tensorflow.python.eager import context; "
        "print(sys.modules['keras'].backend.backend(), context.context()._context_handle is None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["tensorflow", "True"]  # imported, runtime not started: safe to fork


@pytest.mark.slow
def test_a_local_sweep_never_imports_tensorflow_in_the_sweep_process(write_config, tmp_path: Path) -> None:
    """Workers and the grid's model check fork from the preloaded server: the sweep process stays light."""
    import subprocess
    import sys

    config = write_config(sweep_config(cv=None, refit=False))
    bad = write_config(
        {
            **digits_config(
                model={"architecture": "cnn", "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 20}]}
            ),
            "sweep": {"grid": {"seed": [0, 1]}},
        },
        "bad.yaml",
    )
    script = tmp_path / "sweep_here.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nfrom mlrun.errors import ConfigError\nfrom mlrun.sweep import read_sweep_config, run_sweep\n"
        "if __name__ == '__main__':\n"
        f"    result = run_sweep(read_sweep_config(Path({str(config)!r})), Path({str(tmp_path / 'runs')!r}), workers=2, command=['t'])\n"
        "    try:\n"
        f"        run_sweep(read_sweep_config(Path({str(bad)!r})), Path({str(tmp_path / 'runs')!r}), workers=2, command=['t'])\n"
        "    except ConfigError as exc:\n        print('bad:', str(exc).splitlines()[0])\n"
        "    print(result.status, result.ran, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLRUN_WORKER_START": ""},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "2 of 2 grid points build models that do not fit the data; nothing was trained" in lines[0]
    assert lines[-1] == "completed 2 False False"
    assert "Traceback" not in out.stderr and "WARNING" not in out.stderr and "cuInit" not in out.stderr
