"""dataset.calibration_split: rows held out for evaluation.recalibrate only, never fit on, watched or scored."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mlrun import store
from mlrun.cli import app
from mlrun.config import DatasetConfig, config_to_dict, load_config, validate_config
from mlrun.data import Dataset, Fold, Preprocessing, load_dataset
from mlrun.data.preprocessing import fit_preprocessing
from mlrun.datasummary import summarize_data
from mlrun.errors import DataError
from mlrun.evaluation import Predictive, recalibrate
from mlrun.metrics.regcalibration import fit_scale, std_scale
from mlrun.sweep.refit import refit_setup
from tests.conftest import heteroscedastic_csv

N = 400
N_TRAINING = N - int(np.ceil(0.3 * N))  # the training set: what test_size 0.3 leaves (280)


def _config(path: Path | str, **dataset: object) -> dict:
    return {
        "name": "calsplit",
        "task": "regression",
        "dataset": {"path": str(path), "label": "y", "test_size": 0.3, "validation_split": 0.25, **dataset},
        "model": {"architecture": "mlp", "hidden_units": [8]},
        "loss": "gaussian_nll",
        "optimizer": {"name": "adam", "learning_rate": 0.02},
        "training": {"epochs": 4, "batch_size": 64},
        "evaluation": {"recalibrate": True},
    }


def _load(path: Path, *, fold: Fold | None = None, **dataset: object) -> Dataset:
    cfg = DatasetConfig.model_validate({"path": path, "label": "y", "test_size": 0.3, **dataset})
    return load_dataset(cfg, seed=3, task="regression", fold=fold, inner_validation=0.2 if fold else None)


def _rows(x: np.ndarray | None, y: np.ndarray | None) -> set[tuple[float, float]]:
    assert x is not None and y is not None
    return {(float(a), float(b)) for a, b in zip(x[:, 0], y)}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return heteroscedastic_csv(tmp_path / "data.csv", N)


# --------------------------------------------------------------------------- the split


@pytest.mark.parametrize(("validation", "calibration"), [(0.25, 0.15), (0.0, 0.2), (0.5, 0.3)])
def test_the_three_parts_are_disjoint_and_cover_the_training_set(
    data: Path, validation: float, calibration: float
) -> None:
    whole = _load(data, validation_split=0.0)  # the training set, all of it fit on
    assert len(whole.x_train) == N_TRAINING and len(_rows(whole.x_train, whole.y_train)) == N_TRAINING
    ds = _load(data, validation_split=validation, calibration_split=calibration)
    fit, cal = _rows(ds.x_train, ds.y_train), _rows(ds.x_cal, ds.y_cal)
    val = _rows(ds.x_val, ds.y_val) if validation else set()
    assert not fit & cal and not fit & val and not val & cal
    assert fit | val | cal == _rows(whole.x_train, whole.y_train)
    n_val, n_cal = int(np.ceil(validation * N_TRAINING)), int(np.ceil(calibration * N_TRAINING))
    summary = ds.summary()
    assert (summary["n_val"], summary["n_cal"]) == (n_val, n_cal) == (len(val), len(cal))
    assert summary["n_train"] + summary["n_val"] + summary["n_cal"] == N_TRAINING
    assert any("calibration split: " in note for note in ds.notes)


def test_a_calibration_split_leaves_the_validation_and_test_rows_as_they_were(data: Path) -> None:
    without, with_cal = _load(data, validation_split=0.25), _load(data, validation_split=0.25, calibration_split=0.2)
    for a, b in ((without.x_val, with_cal.x_val), (without.y_val, with_cal.y_val)):
        assert a is not None and b is not None and np.array_equal(a, b)  # the same rows, in the same order
    assert np.array_equal(without.x_test, with_cal.x_test) and np.array_equal(without.y_test, with_cal.y_test)
    train = _rows(without.x_train, without.y_train)
    assert train == _rows(with_cal.x_train, with_cal.y_train) | _rows(with_cal.x_cal, with_cal.y_cal)


def test_a_calibration_split_of_0_changes_nothing(data: Path) -> None:
    default, zero = _load(data, scale="standard"), _load(data, scale="standard", calibration_split=0.0)
    assert zero.x_cal is None and zero.y_cal is None and zero.summary()["n_cal"] == 0
    assert zero.fingerprint() == default.fingerprint() and zero.notes == default.notes == []
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(zero, name), getattr(default, name)), name
    # nor the resolved config (config.yaml, and the sweep trial keys hashed from it)
    dumped = config_to_dict(validate_config(_config(data, calibration_split=0)))["dataset"]
    assert "calibration_split" not in dumped and dumped == config_to_dict(validate_config(_config(data)))["dataset"]
    assert config_to_dict(validate_config(_config(data, calibration_split=0.1)))["dataset"]["calibration_split"] == 0.1


def test_scaling_is_fitted_on_the_rows_fit_on_and_applied_to_the_calibration_rows(data: Path) -> None:
    raw = _load(data, calibration_split=0.2)
    scaled = _load(data, calibration_split=0.2, scale="standard")
    assert raw.x_cal is not None and scaled.x_cal is not None
    expected = fit_preprocessing("standard", raw.x_train)
    assert np.array_equal(scaled.x_cal, expected.apply(raw.x_cal))
    assert np.array_equal(scaled.x_train, expected.apply(raw.x_train))


def test_cleaning_is_fitted_on_the_rows_fit_on_and_applied_to_the_calibration_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = [
        f"{x:.4f},{'' if i % 9 == 0 else 'abc'[i % 3]},{x + rng.normal():.4f}"
        for i, x in enumerate(rng.normal(size=200))
    ]
    path = tmp_path / "table.csv"
    path.write_text("x,kind,y\n" + "\n".join(lines) + "\n")
    cleaning = {"missing": "most_frequent", "one_hot": ["kind"]}
    ds = _load(path, calibration_split=0.2, cleaning=cleaning)
    assert ds.x_cal is not None and ds.x_cal.shape[1] == ds.x_train.shape[1] == 4  # x and kind=a, kind=b, kind=c
    assert ds.cleaning is not None and ds.cleaning["fitted_on_rows"] == len(ds.x_train)
    assert np.all(ds.x_cal[:, 1:].sum(axis=1) == 1)  # every calibration row one-hot encoded, missing ones filled


def test_a_calibration_split_that_leaves_nothing_to_train_on_is_a_data_error(data: Path) -> None:
    # 10 training rows: 5 validation rows, then ceil(0.45 * 10) = 5 calibration rows of the 5 left
    with pytest.raises(
        DataError,
        match=r"a calibration \(dataset\.calibration_split\) split of 0\.45 of 10 samples takes 5, but only 5 are left",
    ):
        _load(data, limit=10, validation_split=0.5, calibration_split=0.45)


def test_a_cross_validation_fold_ignores_the_calibration_split_and_says_so(data: Path) -> None:
    fold = Fold(1, 3, stratified=False)
    plain, ds = _load(data, fold=fold), _load(data, fold=fold, calibration_split=0.2)
    assert ds.x_cal is None and ds.fingerprint() == plain.fingerprint()
    assert any("calibration_split (0.2) ignored under cross-validation" in note for note in ds.notes)
    summary = ds.summary(evaluate_on="validation")
    assert summary["n_cal"] == 0 and summary["n_train"] + summary["n_val"] + summary["n_scored"] == N_TRAINING


def test_the_data_summary_lists_the_calibration_split(data: Path) -> None:
    splits = summarize_data(_load(data, validation_split=0.25, calibration_split=0.2))["splits"]
    assert [(s["split"], s["n"]) for s in splits] == [
        ("train", 154),
        ("validation", 70),
        ("calibration", 56),
        ("test", 120),
    ]


# --------------------------------------------------------------------------- what recalibration fits on


def _dataset(*, cal: bool) -> Dataset:
    rng = np.random.default_rng(0)

    def part(n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(-1, 1, (n, 1))
        return x, x[:, 0] + rng.normal(0.0, noise, n)

    (x, y), (xv, yv), (xt, yt), (xc, yc) = part(50, 1.0), part(300, 1.0), part(300, 3.0), part(400, 3.0)
    data = Dataset(x, y, xv, yv, xt, yt, "regression", ["y"], "test data", Preprocessing("none"))
    return dataclasses.replace(data, x_cal=xc, y_cal=yc) if cal else data


@pytest.mark.parametrize("on", ["test", "validation"])  # validation: a sweep trial without folds
def test_the_scale_is_fitted_on_the_calibration_split_when_there_is_one(on: str) -> None:
    data = _dataset(cal=True)
    x, y = data.scored(on)
    assert x is not None and y is not None and data.x_cal is not None and data.y_cal is not None

    def predict(inputs: np.ndarray) -> Predictive:
        return Predictive(inputs[:, :1], np.ones((len(inputs), 1)))

    pred, record = recalibrate(predict(x), y, predict, data, on=on)
    expected = std_scale(data.y_cal, data.x_cal[:, 0], np.ones(len(data.y_cal)))
    assert record["fitted_on"] == "calibration" and record["n"] == len(data.y_cal) == 400
    assert record["scale"] == pytest.approx(expected) and record["scale"] == pytest.approx(3.0, rel=0.1)
    assert pred.std is not None and np.allclose(pred.std, expected)
    # without one, the same trial is not recalibrated: its validation split is what it is scored on
    _, plain = recalibrate(predict(x), y, predict, _dataset(cal=False), on=on)
    assert (plain["fitted_on"] == "validation") if on == "test" else (plain["scale"] is None)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("dataset", "evaluation", "shown"),
    [
        (
            {"calibration_split": 0.2},
            {"recalibrate": False},
            "dataset.calibration_split: holds out rows for evaluation.recalibrate only, which is off",
        ),
        (
            {"validation_split": 0.6, "calibration_split": 0.4},
            {"recalibrate": True},
            "calibration_split: 0.4 with validation_split 0.6 leaves no training rows",
        ),
        ({"validation_split": 0.0}, {"recalibrate": True}, "dataset.calibration_split"),  # named as the way out
        ({"calibration_split": 1.0}, {"recalibrate": True}, "calibration_split"),
        ({"calibration_split": -0.1}, {"recalibrate": True}, "calibration_split"),
    ],
)
def test_a_bad_calibration_split_exits_2_without_a_traceback(
    cli, write_config, data: Path, dataset: dict, evaluation: dict, shown: str
) -> None:
    cfg = {**_config(data, **dataset), "evaluation": evaluation}
    result = cli.invoke(app, ["validate", str(write_config(cfg))])
    assert result.exit_code == 2, result.output
    assert shown in result.output and "Traceback" not in result.output


def test_recalibrate_without_a_validation_split_is_fine_with_a_calibration_split(write_config, data: Path) -> None:
    cfg = load_config(write_config(_config(data, validation_split=0.0, calibration_split=0.2)))
    assert cfg.dataset.calibration_split == 0.2 and cfg.evaluation.recalibrate is True


def test_the_refit_keeps_the_calibration_split_and_drops_its_validation_split(data: Path) -> None:
    early = {"monitor": "val_loss", "patience": 2}
    cfg = validate_config(
        {**_config(data, calibration_split=0.15), "training": {"epochs": 30, "batch_size": 64, "early_stopping": early}}
    )
    setup = refit_setup(cfg, [7, 9, 12])
    assert setup.cfg.dataset.calibration_split == 0.15 and setup.cfg.dataset.validation_split == 0
    assert setup.cfg.evaluation.recalibrate and setup.cfg.training.early_stopping is None and setup.epochs == 9


@pytest.mark.parametrize(("n_cal", "shown"), [(56, "154 / 70 / 56 / 120 (train / val / cal / test)"), (0, None)])
def test_the_report_shows_the_calibration_split_when_there_is_one(
    runs_dir: Path, n_cal: int, shown: str | None
) -> None:
    from mlrun.report.rundata import load_run
    from mlrun.report.summary import key_values
    from tests.runfactory import make_run

    run = make_run(runs_dir, "regression")
    info = store.read_run_info(run)
    info["dataset"].update(n_train=154, n_val=70, n_cal=n_cal, n_test=120)
    (run / store.RUN_FILE).write_text(json.dumps(info))
    samples = dict(key_values(load_run(run)))["samples"]
    assert samples == (shown or "154 / 70 / 120 (train / val / test)")


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_a_run_fits_its_scale_on_the_calibration_split_that_early_stopping_never_watches(
    tmp_path: Path, data: Path
) -> None:
    from mlrun.artifacts import load_run_model
    from mlrun.gaussian import split_numpy
    from mlrun.runner import prepare, run_experiment

    early = {"monitor": "val_loss", "patience": 1}
    cfg = validate_config(
        {
            **_config(data, calibration_split=0.2),
            "training": {"epochs": 4, "batch_size": 64, "early_stopping": early},
            "evaluation": {"recalibrate": "coverage"},
        }
    )
    result = run_experiment(cfg, tmp_path / "runs")
    d, record = store.read_run_info(result.run_dir)["dataset"], result.metrics["recalibration"]
    assert record["fitted_on"] == "calibration" and record["n"] == d["n_cal"] == int(np.ceil(0.2 * N_TRAINING))
    # early stopping watched the validation rows it watches without a calibration split, and only those
    assert d["n_val"] == int(np.ceil(0.25 * N_TRAINING)) and d["n_train"] + d["n_val"] + d["n_cal"] == N_TRAINING

    # the scale is the conformal one of the calibration rows, from the saved model's own stds
    prepared, model = prepare(cfg).data, load_run_model(result.run_dir)
    assert prepared.x_cal is not None and prepared.y_cal is not None
    mean, var = split_numpy(model.predict(prepared.x_cal, verbose=0))
    assert record["scale"] == pytest.approx(fit_scale("coverage", prepared.y_cal, mean, np.sqrt(var)), rel=1e-5)


@pytest.mark.slow
def test_a_trial_scored_on_validation_recalibrates_on_the_calibration_split_and_a_fold_ignores_it(
    tmp_path: Path, data: Path
) -> None:
    from mlrun.runner import run_experiment

    cfg = validate_config(_config(data, calibration_split=0.2))
    trial = run_experiment(cfg, tmp_path / "runs", evaluate_on="validation")  # a sweep trial without folds
    d, record = store.read_run_info(trial.run_dir)["dataset"], trial.metrics["recalibration"]
    assert trial.metrics["n_test"] == d["n_scored"] == d["n_val"] > 0  # scored on the validation split
    assert record["fitted_on"] == "calibration" and record["n"] == d["n_cal"] > 0 and record["scale"] > 0

    fold = run_experiment(
        cfg, tmp_path / "runs", fold=Fold(0, 3, stratified=False), inner_validation=0.2, evaluate_on="validation"
    )
    d, record = store.read_run_info(fold.run_dir)["dataset"], fold.metrics["recalibration"]
    assert record["fitted_on"] == "inner_validation" and record["n"] == d["n_val"] > 0 and d["n_cal"] == 0
    assert any("calibration_split (0.2) ignored under cross-validation" in note for note in d["notes"])
