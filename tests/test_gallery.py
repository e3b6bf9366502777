"""The gallery in configs/: every config is valid and documented; `mlrun data`; the gallery's key claims."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlrun import store
from mlrun.cli import app
from mlrun.config import load_config
from tests.conftest import CONFIGS, ROOT

ALL = sorted(CONFIGS.glob("*.yaml"))
SWEEPS = [p for p in ALL if p.name.endswith("_sweep.yaml")]
TRAIN = [p for p in ALL if p not in SWEEPS]


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: p.name)
def test_every_train_config_validates(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_every_sweep_config_validates(path: Path) -> None:
    from mlrun.sweep import read_sweep_config as load_sweep

    spec = load_sweep(path)
    if spec.block.search == "grid":
        assert len(spec.points) >= 1
    else:  # random / tpe: configurations are sampled from the space as the study runs
        assert spec.block.space and spec.block.n_trials >= 1


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_config_says_what_it_shows_and_is_in_the_readme(path: Path) -> None:
    assert path.read_text().startswith("#"), (
        f"{path.name} needs a comment header: what it shows, how to run it, what to look at"
    )
    assert f"configs/{path.name}" in (ROOT / "README.md").read_text(), f"{path.name} is missing from the README"


def test_optimizer_sweep_grids_whole_optimizer_blocks() -> None:
    from mlrun.sweep import read_sweep_config as load_sweep

    spec = load_sweep(CONFIGS / "optimizers_sweep.yaml")
    names = {
        (
            p.config.optimizer.name,
            getattr(p.config.optimizer, "momentum", 0) > 0,
            getattr(p.config.optimizer, "nesterov", False),
            getattr(p.config.optimizer, "amsgrad", False),
        )
        for p in spec.points
    }
    assert {n for n, *_ in names} == {"sgd", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam"}
    assert ("sgd", True, True, False) in names and ("adam", False, False, True) in names and len(spec.points) == 10


def test_mlrun_data_prints_the_summary_and_writes_an_image_grid(cli, tmp_path: Path) -> None:
    page = tmp_path / "digits.html"
    result = cli.invoke(app, ["data", str(CONFIGS / "digits_mlp.yaml"), "--html", str(page)])
    assert result.exit_code == 0, result.output
    assert "sklearn digits" in result.output and "1,149" in result.output  # training samples
    assert "class balance" in result.output
    html = page.read_text()
    assert "Training samples per class" in html and "data:image/png;base64," in html


def test_mlrun_data_html_into_an_existing_directory_writes_data_html(cli, tmp_path: Path) -> None:
    result = cli.invoke(app, ["data", str(CONFIGS / "xor_mlp.yaml"), "--html", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "xor gate" in (tmp_path / "data.html").read_text()


def test_mlrun_data_on_a_gate_and_with_set(cli) -> None:
    result = cli.invoke(app, ["data", str(CONFIGS / "xor_mlp.yaml"), "--set", "dataset.repeat=2"])
    assert result.exit_code == 0, result.output
    assert "xor gate" in result.output and "00->0, 01->1, 10->1, 11->0" in result.output.replace("\n", "")


def test_mlrun_data_config_errors_exit_2(cli, write_config) -> None:
    path = write_config(
        {
            "name": "t",
            "dataset": {"name": "synthetic", "generator": "moons", "nois": 0.1},
            "model": {"architecture": "mlp", "hidden_units": [4]},
            "loss": "binary_crossentropy",
        }
    )
    result = cli.invoke(app, ["data", str(path)])
    assert result.exit_code == 2 and "did you mean 'noise'" in result.output


@pytest.mark.slow  # a subprocess or a few training steps: the full suite runs it
def test_mlrun_data_does_not_import_tensorflow() -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mlrun.cli import app\n"
        f"r = CliRunner().invoke(app, ['data', {str(CONFIGS / 'digits_mlp.yaml')!r}])\nassert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(app, ['data', {str(CONFIGS / 'multilabel.yaml')!r}])\nassert r.exit_code == 0, r.output\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\nassert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "config, accuracy", [("perceptron_and.yaml", 1.0), ("xor_perceptron.yaml", None), ("xor_mlp.yaml", 1.0)]
)
def test_gate_gallery_claims(runs_dir: Path, config: str, accuracy: float | None) -> None:
    from mlrun.runner import run_experiment

    result = run_experiment(load_config(CONFIGS / config), runs_dir, base_dir=CONFIGS)
    assert result.status == "completed"
    got = result.metrics["accuracy"]
    assert result.metrics["n_test"] == 4  # the truth table
    if accuracy is None:
        assert got <= 0.75  # a single unit cannot represent xor
    else:
        assert got == accuracy
    data = json.loads((result.run_dir / store.DATA_FILE).read_text())
    assert data["splits"][-1]["split"] == "test" and data["splits"][-1]["n"] == 4


@pytest.mark.slow
def test_a_digits_run_records_samples_and_the_report_shows_them(cli, runs_dir: Path) -> None:
    result = cli.invoke(
        app, ["train", str(CONFIGS / "digits_mlp.yaml"), "--quiet", "--smoke", "--runs-dir", str(runs_dir)]
    )
    assert result.exit_code == 0, result.output
    run_dir = next(runs_dir.iterdir())
    import numpy as np

    with np.load(run_dir / store.SAMPLES_FILE) as f:
        assert f["x"].dtype == np.uint8 and f["x"].shape[1:] == (8, 8) and set(f["y"].tolist()) == set(range(10))
    report = cli.invoke(app, ["report", str(run_dir), "--runs-dir", str(runs_dir)])
    assert report.exit_code == 0, report.output
    html = (run_dir / "report.html").read_text()
    assert 'id="data"' in html and "Training samples per class" in html
