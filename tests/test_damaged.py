"""Damaged run directories: every command says which file is wrong and goes on where it can; never a traceback.

Each damage is done to real files of a run next to an intact one: run.json cut
short, not JSON, or not an object; a missing history.csv or predictions.csv;
metrics.json with a text value or a list; a directory without run.json.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mlrun import store
from mlrun.cli import app
from mlrun.config import ExperimentConfig
from tests.conftest import digits_config
from tests.runfactory import make_run


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda run: (run / name).write_text(text, encoding="utf-8")


def _remove(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).unlink()


#: damage -> (the file it touches, what it does to a run directory)
DAMAGES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "run.json cut short": (store.RUN_FILE, _write(store.RUN_FILE, '{"id": "b", "status": "compl')),
    "run.json not JSON": (store.RUN_FILE, _write(store.RUN_FILE, "status: completed\n")),
    "run.json a list": (store.RUN_FILE, _write(store.RUN_FILE, "[1, 2]")),
    "no run.json": (store.RUN_FILE, _remove(store.RUN_FILE)),
    "no history.csv": (store.HISTORY_FILE, _remove(store.HISTORY_FILE)),
    "no predictions.csv": (store.PREDICTIONS_FILE, _remove(store.PREDICTIONS_FILE)),
    "metrics.json text value": (store.METRICS_FILE, _write(store.METRICS_FILE, '{"accuracy": "abc", "loss": 0.5}')),
    "metrics.json a list": (store.METRICS_FILE, _write(store.METRICS_FILE, "[0.9, 0.1]")),
}

GOOD, BAD = "20260102-100000-good-0001", "20260102-100100-bad-0002"


def no_traceback(result) -> None:
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


@pytest.mark.slow  # 48 commands that each render a report: the full suite runs them
@pytest.mark.parametrize(
    "command", ["runs", "runs --json", "runs --sort accuracy", "report", "report --no-html", "compare"]
)
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_listing_reporting_and_comparing_damaged_runs(
    cli: CliRunner, runs_dir: Path, command: str, damage: str
) -> None:
    make_run(runs_dir, "multiclass", run_id=GOOD, seed=1)
    bad = make_run(runs_dir, "multiclass", run_id=BAD, seed=2)
    name, damage_run = DAMAGES[damage]
    damage_run(bad)
    args = {"runs": [], "report": [BAD], "compare": [GOOD, BAD]}[command.split()[0]]
    result = cli.invoke(app, [*command.split(), *args, "--runs-dir", str(runs_dir)])
    no_traceback(result)
    if command.startswith("runs"):
        assert GOOD in result.output  # the rest is listed
        if name == store.RUN_FILE:  # and the skipped directory is named, with why
            assert f"skipped {bad}: " in result.output and name in result.output
        else:  # runs reads only run.json for its table: the damaged run is still listed
            assert BAD in result.output
    else:
        assert result.exit_code == 0 and name in result.output  # what exists is shown, what is wrong is named


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real, tiny digits run (2 epochs) to predict with."""
    from mlrun.runner import run_experiment

    cfg = ExperimentConfig.model_validate(digits_config(training={"epochs": 2, "batch_size": 64}))
    runs = tmp_path_factory.mktemp("trained")
    return run_experiment(cfg, runs, command=["test"]).run_dir


@pytest.mark.slow
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_predict_with_a_damaged_run_names_the_file_or_predicts(
    cli: CliRunner, trained_run: Path, tmp_path: Path, damage: str
) -> None:
    runs_dir = tmp_path / "runs"
    run = Path(shutil.copytree(trained_run, runs_dir / trained_run.name))
    name, damage_run = DAMAGES[damage]
    damage_run(run)
    inputs = tmp_path / "x.npz"
    np.savez(inputs, x=np.zeros((3, 8, 8), dtype="float32"))
    output = tmp_path / "out.csv"
    result = cli.invoke(app, ["predict", run.name, str(inputs), "--output", str(output), "--runs-dir", str(runs_dir)])
    no_traceback(result)
    if name == store.RUN_FILE:  # predict needs the run's record of its dataset
        assert result.exit_code == 1 and name in result.output and not output.exists()
    else:  # predict reads none of the damaged files: it predicts
        assert result.exit_code == 0, result.output
        assert len(store.read_csv(output)) == 3
