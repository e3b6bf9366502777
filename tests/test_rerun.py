"""mlrun rerun RUN [--check]: train again from the record, and say whether the results are the same."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlrun import store
from mlrun.cli import app
from mlrun.rerun import check_rerun
from tests.conftest import digits_config
from tests.runfactory import make_run


@pytest.fixture
def twins(runs_dir: Path) -> tuple[Path, Path]:
    """A fabricated run and an exact copy of it, each with the same packages.txt."""
    original = make_run(runs_dir, "multiclass", run_id="20260102-100000-a-0001")
    (original / store.PACKAGES_FILE).write_text("keras==3.0.0\nnumpy==2.0.0\n", encoding="utf-8")
    copy = Path(shutil.copytree(original, runs_dir / "20260102-100100-a-0002"))
    return original, copy


def _edit_history(run: Path, column: str, epoch: int, change) -> None:
    rows = store.read_csv(run / store.HISTORY_FILE)
    row = next(r for r in rows if int(r["epoch"]) == epoch)
    row[column] = repr(change(float(row[column])))
    store.write_csv(run / store.HISTORY_FILE, list(rows[0]), [list(r.values()) for r in rows])


def test_identical_files_are_identical(twins: tuple[Path, Path]) -> None:
    check = check_rerun(*twins)
    assert check.verdict == "identical" and check.reasons == []
    assert "identical" in check.lines()[0]


def test_a_tiny_difference_is_equal_within_tolerance_and_says_where(twins: tuple[Path, Path]) -> None:
    _edit_history(twins[1], "val_loss", 3, lambda v: v * (1 + 1e-7))
    check = check_rerun(*twins)
    assert check.verdict == "equal within tolerance"
    history = check.files[0]
    assert history.where == "val_loss at epoch 3" and 0 < history.largest < 1e-6
    assert "largest difference" in "\n".join(check.lines())


def test_different_numbers_name_the_file_the_value_and_the_versions(twins: tuple[Path, Path]) -> None:
    original, rerun = twins
    metrics = store.read_json(rerun / store.METRICS_FILE)
    store.write_json(rerun / store.METRICS_FILE, {**metrics, "accuracy": metrics["accuracy"] - 0.25})
    (rerun / store.PACKAGES_FILE).write_text("keras==3.0.0\nnumpy==2.1.0\n", encoding="utf-8")
    check = check_rerun(original, rerun)
    assert check.verdict == "different"
    (metrics_check,) = [f for f in check.files if f.file == store.METRICS_FILE]
    assert metrics_check.where == "accuracy" and metrics_check.largest == pytest.approx(0.25)
    text = "\n".join(check.lines())
    assert "numpy 2.0.0 -> 2.1.0" in text and "runtime.deterministic is false" in text


def test_a_missing_epoch_is_different(twins: tuple[Path, Path]) -> None:
    rows = store.read_csv(twins[1] / store.HISTORY_FILE)
    store.write_csv(twins[1] / store.HISTORY_FILE, list(rows[0]), [list(r.values()) for r in rows[:-1]])
    check = check_rerun(*twins)
    assert check.verdict == "different" and "at epoch 8" in (check.files[0].detail or "")


@pytest.mark.slow
def test_rerun_of_a_deterministic_run_is_identical_and_tampering_is_found(
    cli: CliRunner, write_config, runs_dir: Path
) -> None:
    cfg = digits_config(training={"epochs": 2, "batch_size": 64}, runtime={"deterministic": True})
    result = cli.invoke(app, ["train", str(write_config(cfg)), "--quiet"])
    assert result.exit_code == 0, result.output
    (original,) = runs_dir.iterdir()
    packages = (original / store.PACKAGES_FILE).read_text(encoding="utf-8").splitlines()
    assert packages == sorted(packages, key=lambda line: line.split("==")[0].lower()) and any(
        p.startswith("numpy==") for p in packages
    )

    result = cli.invoke(app, ["rerun", original.name, "--check", "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"(rerun of {original.name}): completed" in result.output
    assert f"check against {original.name}: identical" in result.output
    (again,) = set(runs_dir.iterdir()) - {original}
    assert store.read_run_info(again)["rerun_of"] == original.name

    _edit_history(original, "loss", 1, lambda v: v + 0.125)
    result = cli.invoke(app, ["rerun", original.name, "--check", "--quiet"])
    assert result.exit_code == 1, result.output
    assert "different" in result.output and "history.csv: different: largest difference 0.125" in result.output
    assert "loss at epoch 1" in result.output and "may have been changed after it ran" in result.output
