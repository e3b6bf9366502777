"""`mlrun validate SWEEP_CONFIG`: the sweep's own checks and its plan, a dry run that trains and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlrun.cli import app
from mlrun.errors import ConfigError
from mlrun.sweep import read_sweep_config
from mlrun.sweep.dryrun import check_sweep
from tests.conftest import ROOT, digits_config

CNN = {"architecture": "cnn", "layers": [{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "flatten"}]}


def grid_config(**changes) -> dict:
    """2 learning rates x 2 architectures, 2 folds, 3 epochs."""
    block = {
        "grid": {"optimizer.learning_rate": [0.01, 0.001], "model.hidden_units": [[8], [16]]},
        "cv": {"n_splits": 2},
        "refit": True,
    }
    return digits_config(training={"epochs": 3, "batch_size": 64}, sweep=block, **changes)


def search_config(space: dict) -> dict:
    block = {"search": "random", "n_trials": 6, "space": space, "cv": {"n_splits": 3}}
    return digits_config(training={"epochs": 2, "batch_size": 64}, sweep=block)


@pytest.mark.slow
def test_validate_a_grid_prints_the_plan_and_writes_nothing(cli, write_config, runs_dir: Path) -> None:
    result = cli.invoke(app, ["validate", str(write_config(grid_config())), "--runs-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    assert "valid sweep: grid search, 4 points, each checked (config, data, model)" in result.output
    assert "  point 3: model.hidden_units=[16], optimizer.learning_rate=0.001" in result.output
    assert "plan: 4 points x 2 folds x 1 repeat = 8 trainings, 24 epochs\n" in result.output
    assert "then the refit of the best point: 1 training, at most 3 epochs" in result.output
    assert "(not created); nothing was trained" in result.output
    assert not runs_dir.exists()


def test_validate_schema_only_counts_repeats_and_says_at_most_with_early_stopping(cli, write_config) -> None:
    cfg = grid_config()
    cfg["sweep"]["cv"] = {"n_splits": 3, "n_repeats": 2}
    cfg["sweep"]["grid"]["training.epochs"] = [2, 5]
    cfg["training"]["early_stopping"] = {"monitor": "val_loss", "patience": 1}
    result = cli.invoke(app, ["validate", str(write_config(cfg)), "--schema-only"])
    assert result.exit_code == 0, result.output
    # 8 points (4 at 2 epochs, 4 at 5) x 3 folds x 2 repeats: 48 trainings, (4*2 + 4*5) * 6 = 168 epochs
    assert "plan: 8 points x 3 folds x 2 repeats = 48 trainings, at most 168 epochs (early stopping" in result.output
    assert "(schema only: data and models not checked)" in result.output


@pytest.mark.parametrize(
    "config, args, match",
    [
        (
            grid_config(model=CNN) | {"sweep": {"grid": {"model.layers.0.kernel_size": [3, 20]}}},
            [],
            r"1 of 2 grid points build models that do not fit the data; nothing was trained\n  point 1 "
            r"\(model\.layers\.0\.kernel_size=20\): model\.layers\.0\.kernel_size: 20 is larger",
        ),
        (
            grid_config() | {"sweep": {"grid": {"optimizer.learning_rate": [0.01, -1.0]}}},
            ["--schema-only"],
            r"1 of 2 grid points are not valid.*\n  point 1 \(optimizer\.learning_rate=-1\.0\)",
        ),
        (
            search_config({"model.dropout": {"low": 0.5, "high": 1.5}}),
            ["--schema-only"],
            r"random search: configurations sampled from sweep\.space are not valid configs .*narrow the space\n"
            r"  point \d \(model\.dropout=1\.\d+\): .*dropout",
        ),
        (
            search_config({"model.dropout": {"low": 0.5, "high": 0.1}}),
            ["--schema-only"],
            r"low must be below high \(got low 0\.5, high 0\.1\)",
        ),
    ],
    ids=["model-does-not-fit", "bad-grid-value", "sampled-invalid", "bad-range"],
)
def test_validate_a_bad_sweep_is_exit_2_and_writes_nothing(
    cli, write_config, runs_dir: Path, config: dict, args: list[str], match: str
) -> None:
    path = write_config(config)
    result = cli.invoke(app, ["validate", str(path), "--runs-dir", str(runs_dir), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    with pytest.raises(ConfigError, match=match):
        check_sweep(read_sweep_config(path), runs_dir, schema_only="--schema-only" in args)
    assert not runs_dir.exists()


@pytest.mark.slow
def test_validate_a_search_checks_sampled_configurations_against_the_data(cli, write_config, runs_dir: Path) -> None:
    cfg = search_config({"optimizer.learning_rate": {"low": 1e-3, "high": 1e-1, "log": True}})
    result = cli.invoke(app, ["validate", str(write_config(cfg)), "--runs-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    assert "valid sweep: random search of 6 configurations, 5 sampled and checked" in result.output
    assert "plan: 6 points x 3 folds x 1 repeat = at most 18 trainings, at most 36 epochs" in result.output
    assert not runs_dir.exists()
    cnn = search_config({"model.layers.0.kernel_size": {"low": 3, "high": 30}})
    cnn["model"] = CNN
    with pytest.raises(
        ConfigError,
        match=r"configurations sampled from sweep\.space do not fit the data.*\n  point 0 \(model\.layers\.0\.kernel_size=\d+\): .* is larger",
    ):
        check_sweep(read_sweep_config(write_config(cnn, name="cnn.yaml")), runs_dir)


@pytest.mark.slow
def test_validate_schema_only_on_a_sweep_does_not_import_tensorflow(write_config, tmp_path: Path) -> None:
    path = write_config(grid_config())
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mlrun.cli import app\n"
        f"r = CliRunner().invoke(app, ['validate', {str(path)!r}, '--schema-only'])\n"
        "assert r.exit_code == 0, r.output\n"
        "bad = [m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules]\nassert not bad, bad\nprint('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
