"""Honest model selection in a sweep: repeated k-fold, results.csv's comparison with the best point,
the leaderboard's marks and ``mlrun compare`` of two sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlrun import store
from mlrun.cli import app
from mlrun.data import Fold, fold_indices
from mlrun.sweep import plan_sweep, read_sweep_config
from mlrun.sweep.stats import bayesian_correlated_t_test, corrected_t_test
from tests.conftest import digits_config
from tests.test_sweep import invoke_sweep

COMPARISON = ["p_value", "prob_worse", "prob_equivalent", "prob_better"]


def repeated_config(**sweep) -> dict:
    """2 grid points x 2 folds x 2 repeats on digits, 2 epochs: fast, and enough folds for the tests."""
    grid = {"model.hidden_units": [[4], [24]]}
    block = {"grid": grid, "cv": {"n_splits": 2, "n_repeats": 2}, "metric": "val_accuracy", "refit": False, **sweep}
    return digits_config(training={"epochs": 2, "batch_size": 64}, sweep=block)


# --------------------------------------------------------------------------- folds


@pytest.mark.parametrize("stratified", [True, False])
def test_repeated_folds_are_sklearns_and_each_repeat_partitions_the_training_set(stratified: bool) -> None:
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    y = np.repeat(np.arange(3), 10)
    folds = fold_indices(y, 3, stratified=stratified, shuffle=True, seed=7, n_repeats=4)
    assert len(folds) == 3 * 4
    for repeat in range(4):
        held_out = [val for _, val in folds[repeat * 3 : (repeat + 1) * 3]]
        assert sorted(np.concatenate(held_out).tolist()) == list(range(len(y)))  # disjoint and covering
        for train, val in folds[repeat * 3 : (repeat + 1) * 3]:
            assert not set(train) & set(val) and len(train) + len(val) == len(y)
    splitter = (RepeatedStratifiedKFold if stratified else RepeatedKFold)(n_splits=3, n_repeats=4, random_state=7)
    expected = list(splitter.split(np.zeros(len(y)), y))
    for (train, val), (e_train, e_val) in zip(folds, expected, strict=True):
        assert np.array_equal(train, e_train) and np.array_equal(val, e_val)


def test_one_repeat_keeps_the_plain_k_fold_split() -> None:
    from sklearn.model_selection import StratifiedKFold

    y = np.repeat(np.arange(3), 10)
    folds = fold_indices(y, 3, stratified=True, shuffle=True, seed=7, n_repeats=1)
    expected = StratifiedKFold(n_splits=3, shuffle=True, random_state=7).split(np.zeros(len(y)), y)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, expected, strict=True))


def test_repeats_need_shuffled_folds() -> None:
    with pytest.raises(ValueError, match="n_repeats > 1 needs shuffle=True"):
        fold_indices(np.arange(10) % 2, 2, stratified=True, shuffle=False, seed=0, n_repeats=2)


def test_plan_has_one_trial_per_point_repeat_and_fold_with_stable_keys(write_config, tmp_path: Path) -> None:
    plain = plan_sweep(
        read_sweep_config(write_config(repeated_config(cv={"n_splits": 2}))), tmp_path, check_models=False
    )
    once = plan_sweep(
        read_sweep_config(write_config(repeated_config(cv={"n_splits": 2, "n_repeats": 1}))),
        tmp_path,
        check_models=False,
    )
    assert [t.key for t in once.trials] == [t.key for t in plain.trials] and once.sweep_id == plain.sweep_id
    assert [t.name.split("-")[1] for t in plain.trials] == ["f0", "f1"] * 2
    plan = plan_sweep(read_sweep_config(write_config(repeated_config())), tmp_path, check_models=False)
    assert plan.n_folds == 4 and len(plan.trials) == 2 * 4 and plan.sweep_id != plain.sweep_id
    assert [t.name.split("-")[1] for t in plan.point_trials(0)] == ["r0f0", "r0f1", "r1f0", "r1f1"]
    assert [t.fold.position for t in plan.point_trials(1) if t.fold is not None] == [0, 1, 2, 3]
    assert len({t.key for t in plan.trials}) == 8 and not {t.key for t in plan.trials} & {t.key for t in plain.trials}
    folds = read_sweep_config(write_config(repeated_config()), folds=3)  # --folds keeps the repeats
    assert folds.block.cv is not None and (folds.block.cv.n_splits, folds.block.cv.n_repeats) == (3, 2)


def test_a_fold_rebuilds_from_its_plain_data() -> None:
    fold = Fold(1, 3, repeat=2, n_repeats=4)
    assert Fold(*fold.as_list()) == fold and fold.position == 7 and fold.label == "r2f1"
    assert Fold(1, 3).as_list() == [1, 3, True, True]  # the trial key of plain k-fold, unchanged
    with pytest.raises(ValueError, match=r"repeat must be in 0\.\.1 \(got 2 of 2\)"):
        Fold(0, 3, repeat=2, n_repeats=2)


@pytest.mark.parametrize(
    ("sweep", "match"),
    [
        ({"cv": {"n_splits": 2, "n_repeats": 0}}, r"sweep\.cv\.n_repeats: must be greater than or equal to 1"),
        ({"rope": -1}, r"sweep\.rope: must be greater than or equal to 0"),
        ({"cv": {"n_splits": 2, "n_repeats": 2, "shuffle": False}}, r"sweep\.cv: .*n_repeats: 2 needs shuffle: true"),
    ],
)
def test_bad_repeats_or_rope_exit_2_and_name_the_key(cli, write_config, runs_dir: Path, sweep, match) -> None:
    import re

    result = invoke_sweep(cli, write_config(repeated_config(**sweep)), runs_dir)
    assert result.exit_code == 2, result.output
    assert re.search(match, result.output), result.output
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


# --------------------------------------------------------------------------- real sweeps


@pytest.fixture(scope="module")
def repeated_sweep(tmp_path_factory: pytest.TempPathFactory):
    """One 2 points x 2 folds x 2 repeats sweep through the CLI, shared by the tests below."""
    from typer.testing import CliRunner

    base = tmp_path_factory.mktemp("repeated_sweep")
    config = base / "sweep.yaml"
    config.write_text(yaml.safe_dump(repeated_config(), sort_keys=False))
    result = CliRunner().invoke(
        app, ["sweep", str(config), "--runs-dir", str(base / "runs"), "--workers", "2"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    sweeps = [p for p in (base / "runs").iterdir() if (p / "sweep.json").is_file()]
    return {"config": config, "dir": sweeps[0], "output": result.output, "runs": base / "runs"}


@pytest.mark.slow
def test_results_compare_every_point_with_the_best_on_paired_folds(repeated_sweep) -> None:
    sweep_dir = repeated_sweep["dir"]
    rows = store.read_csv(sweep_dir / "results.csv")
    assert list(rows[0])[-5:] == ["rank", *COMPARISON]
    assert [c for c in rows[0] if c.startswith("val_accuracy_fold")] == [f"val_accuracy_fold{k}" for k in range(4)]
    results = json.loads((sweep_dir / "results.json").read_text())
    assert results["n_folds"] == 4 and results["n_repeats"] == 2 and results["rope"] == 0.01
    best = next(r for r in rows if r["rank"] == "1")
    other = next(r for r in rows if r is not best)
    assert all(best[c] == "" for c in COMPARISON)
    point = results["points"][rows.index(other)]
    trial = sweep_dir / "trials" / point["trials"][0]["name"]
    dataset = store.read_run_info(trial)["dataset"]
    assert point["n_train"] == pytest.approx(dataset["n_train"], abs=1)
    assert point["n_scored"] == pytest.approx(dataset.get("n_scored", dataset["n_val"]), abs=1)
    a = [float(other[f"val_accuracy_fold{k}"]) for k in range(4)]
    b = [float(best[f"val_accuracy_fold{k}"]) for k in range(4)]
    n_train, n_test = point["n_train"], point["n_scored"]
    # independently: the corrected t-test by hand, and the Bayesian test from mlrun.sweep.stats
    d = np.subtract(a, b)
    if np.var(d, ddof=1) > 0:
        from scipy import stats

        t = d.mean() / np.sqrt((1 / 4 + n_test / n_train) * np.var(d, ddof=1))
        assert float(other["p_value"]) == pytest.approx(2 * stats.t.sf(abs(t), 3), abs=1e-9)
    assert float(other["p_value"]) == pytest.approx(
        corrected_t_test(a, b, n_train=n_train, n_test=n_test).p_value, abs=1e-9
    )
    probs = bayesian_correlated_t_test(a, b, rope=0.01, n_train=n_train, n_test=n_test)
    assert [float(other[c]) for c in COMPARISON[1:]] == pytest.approx(list(probs), abs=1e-9)
    assert point["p_value"] == pytest.approx(float(other["p_value"]), abs=1e-12)


@pytest.mark.slow
def test_a_repeated_sweep_run_again_trains_nothing(cli, repeated_sweep) -> None:
    sweep_dir = repeated_sweep["dir"]
    trials = sorted(p.name for p in (sweep_dir / "trials").iterdir())
    assert len(trials) == 8 and {t.split("-")[1] for t in trials} == {"r0f0", "r0f1", "r1f0", "r1f1"}
    before = {p: p.read_bytes() for p in sweep_dir.glob("trials/*/run.json")}
    result = invoke_sweep(cli, repeated_sweep["config"], repeated_sweep["runs"])
    assert result.exit_code == 0, result.output
    assert "0 trials run, 8 already done, 0 failed" in result.output
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.slow
def test_the_leaderboard_marks_a_point_not_told_apart_from_the_best(cli, repeated_sweep) -> None:
    sweep_dir = repeated_sweep["dir"]
    rows = store.read_csv(sweep_dir / "results.csv")
    other = next(r for r in rows if r["rank"] != "1" or r["p_value"])
    result = cli.invoke(app, ["report", str(sweep_dir), "--no-html"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    marked = float(other["p_value"]) >= 0.05
    assert (f"{other['rank']} ≈" in result.output) == marked, result.output
    assert ("cannot be told apart from rank 1" in result.output) == marked, result.output


def fake_sweep(runs_dir: Path, name: str, p_values: list[str]) -> Path:
    """A sweep directory with a hand-written results.csv: one row per p_value, rank 1 first."""
    path = runs_dir / name
    path.mkdir(parents=True)
    (path / "sweep.json").write_text(json.dumps({"name": name, "sweep": {"metric": "val_accuracy"}}))
    header = ["lr", "val_accuracy_mean", "val_accuracy_std", "rank", *COMPARISON]
    rows = [[f"0.{i + 1}", f"0.9{i}", "0.01", str(i + 1), p, "", "", ""] for i, p in enumerate(p_values)]
    store.write_csv(path / "results.csv", header, rows)
    return path


@pytest.mark.parametrize("html", [False, True])
def test_only_points_with_p_value_at_least_0_05_are_marked(cli, runs_dir: Path, html: bool) -> None:
    path = fake_sweep(runs_dir, "fake-sweep-1", ["", "0.3", "0.01", "0.05"])
    args = ["--html", str(runs_dir / "page.html")] if html else ["--no-html"]
    result = cli.invoke(app, ["report", str(path), *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = (runs_dir / "page.html").read_text() if html else result.output
    assert "2 ≈" in text and "4 ≈" in text and "3 ≈" not in text and "1 ≈" not in text
    assert ("p_value &gt;= 0.05" if html else "p_value >= 0.05") in text
    plain = fake_sweep(runs_dir, "fake-sweep-2", ["", "0.01"])
    result = cli.invoke(app, ["report", str(plain), "--no-html"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "≈" not in result.output, result.output


@pytest.mark.slow
def test_compare_two_sweeps_tests_their_best_points_on_the_same_folds(cli, repeated_sweep, tmp_path: Path) -> None:
    import shutil

    runs = repeated_sweep["runs"]
    other = invoke_sweep(cli, repeated_sweep["config"], runs, "--grid", "optimizer.learning_rate=0.003")
    assert other.exit_code == 0, other.output
    first = repeated_sweep["dir"]
    second = next(p for p in runs.iterdir() if (p / "sweep.json").is_file() and p != first)
    result = cli.invoke(app, ["compare", first.name, second.name, "--runs-dir", str(runs)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    a = json.loads((first / "results.json").read_text())
    b = json.loads((second / "results.json").read_text())
    point_a, point_b = a["points"][a["best"]["point"]], b["points"][b["best"]["point"]]
    expected = corrected_t_test(
        point_a["metrics"]["val_accuracy"]["folds"],
        point_b["metrics"]["val_accuracy"]["folds"],
        n_train=point_a["n_train"],
        n_test=point_a["n_scored"],
    )
    assert "p_value" in result.output and f"{expected.p_value:.4g}" in result.output, result.output
    assert "prob_worse" in result.output and f"{first.name}:{a['best']['point']}" in result.output
    points = cli.invoke(app, ["compare", f"{first.name}:0", f"{first.name}:1", "--runs-dir", str(runs)])
    assert points.exit_code == 0 and "p_value" in points.output, points.output
    # other folds: not compared, and the message says why
    moved = tmp_path / "runs" / "reseeded"
    shutil.copytree(second, moved)
    results = json.loads((moved / "results.json").read_text())
    (moved / "results.json").write_text(json.dumps({**results, "seed": 2}))
    refused = cli.invoke(app, ["compare", str(first), str(moved), "--runs-dir", str(tmp_path / "runs")])
    assert refused.exit_code == 1, refused.output
    assert "the folds differ: different seed: 1 and 2" in refused.output
    missing = cli.invoke(app, ["compare", f"{first.name}:9", second.name, "--runs-dir", str(runs)])
    assert missing.exit_code == 2 and "has no grid point 9" in missing.output, missing.output
