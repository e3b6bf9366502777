"""`mlrun sweep` with `search: random` / `tpe`: the space, its errors, and real searches on digits
(pruning, state column, --n-trials extends, determinism, invalid sampled configs, kill -9 and resume, Ray)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlrun import store
from mlrun.cli import app
from mlrun.sweep.space import Choice, Range, parse_space, space_problems
from tests.conftest import ROOT, digits_config, kill_after_finished_trials
from tests.test_sweep import invoke_sweep, only_sweep, process_running, requires_ray

SPACE = {
    "optimizer.learning_rate": {"low": 1.0e-5, "high": 0.05, "log": True},
    "model.hidden_units": [[8], [24]],
}


def search_config(*, epochs: int = 2, **sweep) -> dict:
    """A fast digits config with a TPE search block: 2-fold CV by default, no refit."""
    block = {"search": "tpe", "n_trials": 3, "space": SPACE, "cv": {"n_splits": 2}, "metric": "val_accuracy"}
    block["refit"] = False
    block.update(sweep)
    return digits_config(
        training={"epochs": epochs, "batch_size": 64}, sweep={k: v for k, v in block.items() if v is not None}
    )


def read_rows(sweep_dir: Path) -> list[dict[str, str]]:
    return store.read_csv(sweep_dir / "results.csv")


def study_states(sweep_dir: Path) -> list[str]:
    with sqlite3.connect(sweep_dir / "study.db") as db:
        return [s for (s,) in db.execute("select state from trials order by number")]


# --------------------------------------------------------------------------- the space


def test_a_space_samples_integers_floats_and_whole_blocks() -> None:
    import optuna

    space = parse_space(
        {
            "training.batch_size": {"low": 16, "high": 128, "step": 16},
            "model.dropout": {"low": 0.0, "high": 0.5},
            "optimizer": [{"name": "adam"}, {"name": "sgd", "momentum": 0.9}],
        }
    )
    assert isinstance(space["training.batch_size"], Range) and space["training.batch_size"].integer
    assert isinstance(space["model.dropout"], Range) and not space["model.dropout"].integer
    assert isinstance(space["optimizer"], Choice) and space["optimizer"].labels == ("adam", "sgd momentum=0.9")
    from mlrun.sweep.space import sample

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = sample(study.ask(), space)
        assert params["training.batch_size"] in range(16, 129, 16)
        assert 0.0 <= params["model.dropout"] <= 0.5
        assert params["optimizer"] in ({"name": "adam"}, {"name": "sgd", "momentum": 0.9})


@pytest.mark.parametrize(
    "space, key, match",
    [
        (
            {"model.dropout": {"low": 0.1, "hihg": 0.5}},
            "model.dropout",
            r"hihg: unknown key in a range \(did you mean 'high'\?\)",
        ),
        ({"x.y": 0.1}, "x.y", r"needs a range \{low: \.\.\., high: \.\.\.\} or a list of choices, got 0\.1"),
        (
            {"model.dropout": {"low": 0.5, "high": 0.5}},
            "model.dropout",
            r"low must be below high \(got low 0\.5, high 0\.5\)",
        ),
    ],
)
def test_space_problems_name_the_key(space: dict, key: str, match: str) -> None:
    import re

    problems = space_problems(space)
    assert problems and problems[0][0] == key and re.search(match, problems[0][1]), problems


@pytest.mark.parametrize(
    "sweep, args, match",
    [
        (
            {"space": {"model.dropout": {"low": 0.0, "high": 0.5, "lo": 0.1}}},
            [],
            r"line 2\d  sweep\.space\.model\.dropout\.lo: unknown key in a range \(did you mean 'low'\?\)",
        ),
        (
            {"space": {"model.dropout": {"low": 0.5, "high": 0.1}}},
            [],
            r"line 2\d  sweep\.space\.model\.dropout: low must be below high \(got low 0\.5, high 0\.1\)",
        ),
        (
            {"space": {"optimizer.learning_rate": {"low": 0.0, "high": 0.1, "log": True}}},
            [],
            r"sweep\.space\.optimizer\.learning_rate: a log range needs positive bounds \(got low 0\.0\); use low > 0, or log: false",
        ),
        (
            {"space": {"training.batch_size": {"low": 16, "high": 100, "step": 16}}},
            [],
            r"sweep\.space\.training\.batch_size: step 16 does not divide the range: high - low = 84 .*use high: 96",
        ),
        (
            {"search": "grid", "n_trials": None},
            [],
            r"sweep\.space: is for search: random or tpe; a grid search takes grid:",
        ),
        (
            {"space": None, "grid": {"model.hidden_units": [[8]]}},
            [],
            r"sweep\.grid: is for search: grid; with search: tpe, write the values under space: instead "
            r"\(a list is a categorical choice",
        ),
        (
            {"n_trials": None},
            [],
            r"sweep\.n_trials: required key is missing: search: tpe tries n_trials configurations",
        ),
        ({"n_trials": 0}, [], r"sweep\.n_trials: must be greater than or equal to 1 \(got 0\)"),
        ({"search": "random", "n_trials": None}, [], r"sweep\.n_trials: required key is missing: search: random"),
        ({}, ["--search", "grid"], r"sweep\.space: is for search: random or tpe"),
        ({}, ["--grid", "model.hidden_units=[8]"], r"sweep\.grid: is for search: grid; with search: tpe"),
        (
            {"search": "grid", "space": None, "n_trials": None, "grid": {"model.hidden_units": [[8]]}},
            ["--pruner", "median"],
            r"--pruner  sweep\.pruner: 'median' needs search: random or tpe",  # the option, not --set
        ),
        ({}, ["--set", "metrics=[]"], r"sweep\.pruner: 'median' reads val_accuracy after every epoch"),
    ],
)
def test_bad_search_blocks_exit_2_and_nothing_trains(
    cli, write_config, runs_dir: Path, sweep: dict, args: list[str], match: str
) -> None:
    path = write_config(search_config(pruner="median", **sweep))
    result = invoke_sweep(cli, path, runs_dir, *args)
    assert result.exit_code == 2, result.output
    import re

    assert re.search(match, result.output), result.output
    assert not runs_dir.exists() or not list(runs_dir.glob("*/trials/*"))


@pytest.mark.slow
def test_a_sampled_config_that_is_not_valid_fails_its_trial_and_the_study_goes_on(
    cli, write_config, runs_dir: Path
) -> None:
    cnn = {"architecture": "cnn", "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "flatten"}]}
    cfg = search_config(search="random", n_trials=2, space={"model.layers.0.kernel_size": [20, 40]})
    cfg["model"] = cnn
    result = invoke_sweep(cli, write_config(cfg), runs_dir)
    assert result.exit_code == 0, result.output
    sweep_dir = only_sweep(runs_dir)
    rows = read_rows(sweep_dir)
    assert [r["state"] for r in rows] == ["failed", "failed"] and all(r["rank"] == "" for r in rows)
    points = json.loads((sweep_dir / "results.json").read_text())["points"]
    assert [p["trials"] for p in points] == [[], []]  # nothing trained
    assert all("is larger than the layer's input (8x8" in p["error"] for p in points), points
    assert study_states(sweep_dir) == ["FAIL", "FAIL"]
    assert not (sweep_dir / "trials").exists() or not list((sweep_dir / "trials").iterdir())
    report = cli.invoke(app, ["report", str(sweep_dir), "--runs-dir", str(runs_dir)], env={"COLUMNS": "200"})
    assert report.exit_code == 0, report.output
    assert "2 of 2 configurations: 0 completed, 0 pruned, 2 failed" in report.stdout, report.stdout
    assert "importances need at least 2 completed configurations (this search has 0)" in report.stdout


# --------------------------------------------------------------------------- real searches


@pytest.fixture(scope="module")
def pruned_search(tmp_path_factory: pytest.TempPathFactory):
    """A TPE search with successive halving on 2 folds x 3 epochs, 2 workers, through the CLI."""
    from typer.testing import CliRunner

    base = tmp_path_factory.mktemp("pruned_search")
    config = base / "search.yaml"
    config.write_text(yaml.safe_dump(search_config(epochs=3, n_trials=5, pruner="successive_halving"), sort_keys=False))
    result = CliRunner().invoke(app, ["sweep", str(config), "--runs-dir", str(base / "runs"), "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    return {"config": config, "dir": only_sweep(base / "runs"), "output": result.output}


@pytest.mark.slow
def test_pruned_configurations_are_rows_with_partial_epochs_and_no_rank(pruned_search) -> None:
    sweep_dir = pruned_search["dir"]
    rows = read_rows(sweep_dir)
    assert list(rows[0])[:6] == ["trial", "state", "model.hidden_units", "optimizer.learning_rate", "epochs", "folds"]
    assert [int(r["trial"]) for r in rows] == list(range(5))
    states = [r["state"] for r in rows]
    assert set(states) <= {"completed", "pruned"} and "pruned" in states and "completed" in states, states
    assert study_states(sweep_dir) == ["COMPLETE" if s == "completed" else "PRUNED" for s in states]
    for r in rows:
        if r["state"] == "completed":
            assert r["epochs"] == "6" and r["folds"] == "2" and r["rank"] and r["val_accuracy_mean"]
        else:  # stopped early: fewer epochs, no rank, the scores it has
            assert int(r["epochs"]) < 6 and int(r["folds"]) < 2 and r["rank"] == ""
            assert r["val_accuracy_fold0"] != ""
    ranks = sorted(int(r["rank"]) for r in rows if r["rank"])
    assert ranks == list(range(1, len(ranks) + 1))
    # every fold trial a pruned configuration ran says where it stopped
    pruned = [store.read_run_info(p.parent) for p in sweep_dir.glob("trials/*/run.json")]
    assert any(info.get("pruned_at_epoch") for info in pruned)
    best = json.loads((sweep_dir / "results.json").read_text())["best"]
    assert rows[best["point"]]["state"] == "completed" if best["point"] < len(rows) else True


@pytest.mark.slow
def test_n_trials_extends_the_study_without_training_a_finished_fold_again(cli, pruned_search) -> None:
    sweep_dir = pruned_search["dir"]
    before = {p: p.read_bytes() for p in sweep_dir.glob("trials/*/run.json")}
    result = invoke_sweep(cli, pruned_search["config"], sweep_dir.parent, "--n-trials", "6", "--workers", "2")
    assert result.exit_code == 0, result.output
    rows = read_rows(sweep_dir)
    assert [int(r["trial"]) for r in rows] == list(range(6))  # one more configuration, in the same study
    assert len(study_states(sweep_dir)) == 6
    assert all(p.read_bytes() == b for p, b in before.items())  # nothing that finished was trained again
    again = invoke_sweep(cli, pruned_search["config"], sweep_dir.parent, "--n-trials", "6")
    assert again.exit_code == 0 and "0 trials run" in again.output, again.output


@pytest.mark.slow
def test_random_search_without_cv_is_deterministic_with_one_worker(cli, write_config, tmp_path: Path) -> None:
    cfg = search_config(search="random", n_trials=3, cv=None)
    path = write_config(cfg)
    dirs = []
    for name in ("a", "b"):
        result = invoke_sweep(cli, path, tmp_path / name, "--workers", "1")
        assert result.exit_code == 0, result.output
        dirs.append(only_sweep(tmp_path / name))
    first, second = (read_rows(d) for d in dirs)
    assert first == second and [r["state"] for r in first] == ["completed"] * 3
    assert "val_accuracy_fold0" in first[0] and "val_accuracy_fold1" not in first[0]  # no CV: one score each
    assert len({r["optimizer.learning_rate"] for r in first}) == 3
    info = json.loads((dirs[0] / "sweep.json").read_text())
    assert (info["n_points"], info["n_trials"]) == (3, 3) and info["configurations"]["completed"] == 3


@pytest.mark.slow
def test_resume_after_kill_9_loses_and_repeats_no_finished_configuration(cli, write_config, tmp_path: Path) -> None:
    runs_dir = tmp_path / "killed"
    path = write_config(search_config(search="random", n_trials=4, epochs=2))
    command = [sys.executable, "-m", "mlrun", "sweep", str(path), "--runs-dir", str(runs_dir), "--workers", "2", "-q"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    finished = kill_after_finished_trials(proc, runs_dir, 3, timeout=180, children=children)
    assert 3 <= len(finished) < 8, "the search was not killed half-way"
    sweep_dir = only_sweep(runs_dir)
    time.sleep(1.5)  # workers notice their parent is gone within half a second
    # the workers and the process that checks sampled configurations end with the sweep: none is left behind
    assert len(children) >= 3 and not [pid for pid in children if process_running(pid)], children
    for run in sweep_dir.glob("trials/*/run.json"):
        info = store.read_run_info(run.parent)
        assert info["status"] == "completed" or not process_running(info["pid"]), info
    kept = {p: (p / "run.json").read_bytes() for p in finished}
    assert "RUNNING" in study_states(sweep_dir)  # as the kill left it

    result = invoke_sweep(cli, path, runs_dir, "--workers", "2")
    assert result.exit_code == 0, result.output
    assert {p: (p / "run.json").read_bytes() for p in kept} == kept  # finished folds untouched
    rows = read_rows(sweep_dir)
    assert len(rows) == 4 and all(r["state"] == "completed" for r in rows)  # n_trials configurations, none twice
    assert len(list((sweep_dir / "trials").iterdir())) == 4 * 2  # one directory per configuration x fold
    states = study_states(sweep_dir)
    assert states.count("COMPLETE") == 4 and "RUNNING" not in states and "WAITING" not in states


@requires_ray
@pytest.mark.slow
def test_a_tpe_search_runs_on_ray(cli, write_config, tmp_path: Path) -> None:
    path = write_config(search_config(n_trials=2, cv=None, pruner="median"))
    result = invoke_sweep(cli, path, tmp_path / "ray", "--backend", "ray", "--workers", "2")
    assert result.exit_code == 0, result.output
    sweep_dir = only_sweep(tmp_path / "ray")
    info = json.loads((sweep_dir / "sweep.json").read_text())
    assert info["backend"] == "ray" and [r["state"] for r in read_rows(sweep_dir)] == ["completed"] * 2
    assert study_states(sweep_dir) == ["COMPLETE", "COMPLETE"]


def test_a_configuration_killed_before_or_while_it_was_sampled_is_asked_again() -> None:
    import optuna
    from optuna.trial import TrialState

    from mlrun.sweep.study import counted_trials, recover_interrupted, resumed_numbers

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.ask()  # killed before its first suggest: no params
    partial = study.ask()
    lr = partial.suggest_float("optimizer.learning_rate", 1e-4, 1e-1, log=True)  # killed before the second
    assert recover_interrupted(study) == [0, 1]
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL, TrialState.WAITING, TrialState.WAITING]
    assert resumed_numbers(trials) == {0, 1} and counted_trials(study) == 0  # neither counts towards n_trials
    again = [study.ask(), study.ask()]
    assert again[1].suggest_float("optimizer.learning_rate", 1e-4, 1e-1, log=True) == lr  # what was sampled stays
    assert again[1].suggest_categorical("model.hidden_units", ["[8]", "[24]"]) in ("[8]", "[24]")


def test_results_rows_leave_a_key_a_configuration_never_sampled_empty() -> None:
    from mlrun.sweep.results import PointResult, SweepTable

    empty = {"mean": None, "std": None, "folds": [None]}
    points = [
        PointResult(0, {"optimizer.learning_rate": 0.01}, [], [None], tracked={"val_accuracy": dict(empty)}),
        PointResult(1, {}, [], [None], tracked={"val_accuracy": dict(empty)}),
    ]
    table = SweepTable(
        "val_accuracy", "max", ["model.hidden_units", "optimizer.learning_rate"], ["val_accuracy"], 1, points
    )
    assert [row[:2] for row in table.rows()] == [["", "0.01"], ["", ""]]


# --------------------------------------------------------------------------- the report


def synthetic_study(values: list[float | None], *, states: list[str] | None = None, lr: list[float] | None = None):
    """An in-memory study over a log range and a choice: one trial per value (None: no score)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    dists = {
        "optimizer.learning_rate": FloatDistribution(1e-4, 1e-1, log=True),
        "model.hidden_units": CategoricalDistribution(["[8]", "[24]"]),
    }
    for i, value in enumerate(values):
        state = TrialState[(states or ["COMPLETE"] * len(values))[i]]
        params = {"optimizer.learning_rate": (lr or [10.0 ** -(1 + i % 3)] * len(values))[i]}
        params["model.hidden_units"] = "[8]" if i % 2 else "[24]"
        kwargs: dict = {"value": value} if state == TrialState.COMPLETE else {}
        if state == TrialState.PRUNED:
            kwargs["intermediate_values"] = {1: 0.3, 2: value}
        study.add_trial(create_trial(params=params, distributions=dists, state=state, **kwargs))
    return study


def test_search_data_has_the_best_so_far_importances_and_slices() -> None:
    from mlrun.report.studydata import milestones, search_data

    study = synthetic_study(
        [0.5, 0.4, 0.8, None, 0.7, 0.6], states=["COMPLETE", "PRUNED", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    )
    data = search_data(study, search="tpe", metric="val_accuracy", n_trials=6)
    assert [h.state for h in data.history] == ["completed", "pruned", "completed", "failed", "completed", "completed"]
    assert [h.best for h in data.history] == [0.5, 0.5, 0.8, 0.8, 0.8, 0.8]  # pruned and failed never count
    assert data.history[1].value == 0.4 and data.history[3].value is None  # pruned: the value it was stopped at
    assert data.best is not None and data.best.number == 2
    assert milestones(data.history) == [(1, 0.5), (2, 0.5), (4, 0.8), (6, 0.8)]
    assert data.importances is not None and set(data.importances) == {"optimizer.learning_rate", "model.hidden_units"}
    assert sum(data.importances.values()) == pytest.approx(1.0)
    assert data.importances == search_data(study, search="tpe", metric="val_accuracy").importances  # seeded
    lr, units = (
        next(s for s in data.slices if s.param == p) for p in ("optimizer.learning_rate", "model.hidden_units")
    )
    assert lr.log and lr.categories is None and len(lr.values) == len(lr.scores) == 4  # completed trials only
    assert units.categories == ["[8]", "[24]"] and set(units.values) <= {"[8]", "[24]"}


@pytest.mark.parametrize(
    ("values", "lr", "note"),
    [
        ([], None, r"at least 2 completed configurations \(this search has 0\)"),
        ([0.5], None, r"at least 2 completed configurations \(this search has 1\)"),
        ([0.5, 0.6], [0.01, 0.01], None),  # the choice still varies: it gets all the importance
        ([0.5, 0.5, 0.5], None, r"every completed configuration scored 0.5"),
    ],
)
def test_too_few_completed_trials_say_why_there_are_no_importances(values, lr, note) -> None:
    import re

    from mlrun.report.studydata import search_data

    data = search_data(synthetic_study(values, lr=lr), search="random", metric="val_accuracy")
    if note is None:
        assert data.importances is not None and data.importances["model.hidden_units"] == pytest.approx(1.0)
    else:
        assert data.importances is None and re.search(note, data.importance_note or ""), data.importance_note


def test_importances_need_a_parameter_that_varies() -> None:
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from mlrun.report.studydata import search_data

    study = optuna.create_study(direction="minimize")
    for value in (0.3, 0.2):
        dist = {"model.dropout": FloatDistribution(0.0, 0.5)}
        study.add_trial(create_trial(params={"model.dropout": 0.1}, distributions=dist, value=value))
    data = search_data(study, search="tpe", metric="val_loss")
    assert data.importances is None and "need a parameter that varies" in (data.importance_note or "")
    assert data.best is not None and data.best.number == 1  # mode min: the lower loss


@pytest.fixture(scope="module")
def tpe_search(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished TPE search: 4 configurations x 2 epochs, no cross-validation, one worker."""
    from typer.testing import CliRunner

    base = tmp_path_factory.mktemp("tpe_search")
    config = base / "search.yaml"
    config.write_text(yaml.safe_dump(search_config(n_trials=4, cv=None), sort_keys=False))
    result = CliRunner().invoke(app, ["sweep", str(config), "--runs-dir", str(base / "runs"), "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    return only_sweep(base / "runs")


@pytest.mark.slow
def test_report_of_a_search_shows_history_importances_and_slices(cli, tpe_search: Path) -> None:
    import base64
    import re

    result = cli.invoke(app, ["report", str(tpe_search), "--runs-dir", str(tpe_search.parent)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "tpe search: 4 of 4 configurations: 4 completed, 0 pruned, 0 failed; best trial" in out, out
    assert "Parameter importances (fANOVA)" in out and "optimizer.learning_rate" in out and "model.hidden_units" in out
    importances = [
        float(v) for v in re.findall(r"^\s*(?:optimizer\.learning_rate|model\.hidden_units)\s+([\d.]+)\s*$", out, re.M)
    ]
    assert len(importances) == 2 and sum(importances) == pytest.approx(1.0, abs=0.002), out
    page = (tpe_search / "report.html").read_text(encoding="utf-8")
    for section in ("history", "importances", "slices"):
        body = page[page.index(f'id="{section}"') :]
        uri = re.search(r'<img[^>]*src="data:image/png;base64,([^"]+)"', body[: body.index("</section>")])
        assert uri is not None, f"no image in the {section} section"
        assert base64.b64decode(uri.group(1))[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_report_of_a_pruned_search_counts_its_pruned_configurations(cli, pruned_search) -> None:
    import re

    sweep_dir = pruned_search["dir"]
    result = cli.invoke(app, ["report", str(sweep_dir), "--runs-dir", str(sweep_dir.parent)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    found = re.search(r"(\d+) of \1 configurations: (\d+) completed, (\d+) pruned, 0 failed", result.stdout)
    assert found and int(found.group(3)) >= 1 and int(found.group(2)) >= 1, result.stdout
    page = (sweep_dir / "report.html").read_text(encoding="utf-8")
    assert f"{found.group(3)} pruned" in page and 'id="history"' in page


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "study.db: not found"),
        (b"not a database", "study.db: could not be read"),
        (b"", "study.db: could not be read"),
    ],
)
def test_report_of_a_search_without_a_readable_study_says_so(
    cli, runs_dir: Path, content: bytes | None, problem: str
) -> None:
    sweep = runs_dir / "digits-sweep-0123abcd"
    sweep.mkdir(parents=True)
    block = {"search": "tpe", "metric": "val_accuracy", "mode": "max", "n_trials": 3}
    store.write_json(sweep / "sweep.json", {"id": sweep.name, "sweep": block})
    store.write_csv(sweep / "results.csv", ["trial", "state", "val_accuracy_mean", "rank"], [[0, "completed", 0.9, 1]])
    if content is not None:
        (sweep / "study.db").write_bytes(content)
    result = cli.invoke(app, ["report", sweep.name, "--runs-dir", str(runs_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert problem in result.stdout
    assert problem in (sweep / "report.html").read_text(encoding="utf-8")
