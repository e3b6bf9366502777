"""The notebook API (`mlrun.train`, `load`, `runs`, `sweep`, `Run.predict`) and examples/quickstart.ipynb."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlrun
from mlrun import store
from mlrun.cli import app
from tests.conftest import ROOT, digits_config
from tests.runfactory import make_run


def test_import_mlrun_stays_light() -> None:
    code = (
        "import sys, mlrun; heavy = [m for m in ('tensorflow', 'keras', 'typer', 'jax') if m in sys.modules]; "
        "assert not heavy, heavy; assert callable(mlrun.sweep) and callable(mlrun.train)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_sweep_is_both_the_function_and_the_package() -> None:
    from mlrun.sweep.run import run_sweep

    assert callable(mlrun.sweep)
    assert mlrun.sweep.run_sweep is run_sweep


def test_load_and_runs_read_the_runs_directory(runs_dir: Path) -> None:
    first = make_run(runs_dir, "multiclass", name="a_mlp", started_at="2026-01-02T10:00:00+00:00")
    make_run(runs_dir, "regression", name="b_mlp", started_at="2026-01-02T11:00:00+00:00", seed=1)
    listed = mlrun.runs(runs_dir)
    assert sorted(r.id for r in listed) == sorted(p.name for p in runs_dir.iterdir())
    assert [r.id for r in mlrun.runs(runs_dir, name="a_mlp")] == [first.name]
    run = mlrun.load(first.name, runs_dir=runs_dir)
    assert run.dir == first and run.status == "completed"
    assert run.metrics["accuracy"] == store.read_json(first / store.METRICS_FILE)["accuracy"]
    assert len(run.history) == 8 and run.history[0]["epoch"] == 1
    html = run._repr_html_()
    assert run.id in html and "accuracy" in html and "<img" in html  # learning curves inline
    assert "a_mlp" in listed._repr_html_()


def test_load_of_an_unknown_run_raises_what_the_cli_prints(cli, runs_dir: Path) -> None:
    make_run(runs_dir, "multiclass")
    with pytest.raises(mlrun.RunNotFound) as raised:
        mlrun.load("nosuchrun", runs_dir=runs_dir)
    result = cli.invoke(app, ["report", "nosuchrun", "--runs-dir", str(runs_dir)])
    assert result.exit_code == 2 and str(raised.value) in result.output


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"optimizer.learning_rate": -0.1}, mlrun.ConfigError),
        ({"dataset": {"path": "missing.csv"}}, mlrun.DataError),
    ],
)
def test_train_raises_the_messages_the_cli_prints(
    cli, write_config, runs_dir: Path, changes: dict, error: type
) -> None:
    config = write_config(digits_config())
    with pytest.raises(error) as raised:
        mlrun.train(config, set=changes, runs_dir=runs_dir, progress=False)
    args = [
        f"--set={k}={v}" if not isinstance(v, dict) else f"--set={k}={{path: {v['path']}}}" for k, v in changes.items()
    ]
    result = cli.invoke(app, ["train", str(config), *args, "--runs-dir", str(runs_dir)])
    assert result.exit_code == error.exit_code
    assert str(raised.value).splitlines()[0] in result.output
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.slow
def test_train_then_predict_matches_mlrun_predict(cli, write_config, tmp_path: Path, runs_dir: Path) -> None:
    from sklearn.datasets import load_digits

    config = write_config(digits_config(training={"epochs": 2, "batch_size": 64}))
    run = mlrun.train(config, set={"optimizer.learning_rate": 0.02}, runs_dir=runs_dir, progress=False)
    assert run.status == "completed" and run.config["optimizer"]["learning_rate"] == 0.02
    assert [row["epoch"] for row in run.history] == [1, 2]
    assert 0.0 <= run.metrics["accuracy"] <= 1.0
    x = load_digits().images[:20]
    proba = run.predict(x)
    assert proba.shape == (20, 10) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.savez(tmp_path / "x.npz", x=x)
    result = cli.invoke(app, ["predict", run.id, str(tmp_path / "x.npz"), "--runs-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    rows = store.read_csv(run.dir / "predictions-x.csv")
    assert np.abs(np.array([[float(r[f"p_{d}"]) for d in range(10)] for r in rows]) - proba).max() < 1e-6
    assert run.predict(tmp_path / "x.npz").shape == (20, 10)  # a file, as mlrun predict reads it
    with pytest.raises(mlrun.DataError, match=r"the model takes inputs of shape \(n, 8, 8\)"):
        run.predict(np.zeros((3, 5)))


@pytest.mark.slow
def test_quickstart_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    # the kernel inherits this process's environment; cwd is the repository root, as for a user
    monkeypatch.setenv("MLRUN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    written = store.list_runs(tmp_path / "runs")
    assert len(written) >= 2 and all(r.info.get("status") == "completed" for r in written)
