"""evaluation.recalibrate: σ scaling (or the coverage scale) of a regression run's stds, fitted on the validation split (never the scored data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.optimize import minimize_scalar

from mlrun import store
from mlrun.cli import app
from mlrun.config import load_config, validate_config
from mlrun.data import Dataset, Fold, Preprocessing
from mlrun.errors import ConfigError, RunError
from mlrun.evaluation import Predictive, recalibrate
from mlrun.metrics.regcalibration import coverage_scale, fit_scale, gaussian_nll, regression_calibration, std_scale
from mlrun.predict import std_scale as run_std_scale
from mlrun.sweep.refit import refit_setup
from tests.conftest import digits_config, heteroscedastic_csv


def _regression(path: Path | str, **changes: object) -> dict:
    cfg = {
        "name": "recal",
        "task": "regression",
        "dataset": {"path": str(path), "label": "y", "test_size": 0.3, "validation_split": 0.25, "scale": "standard"},
        "model": {"architecture": "mlp", "hidden_units": [16]},
        "loss": "gaussian_nll",
        "optimizer": {"name": "adam", "learning_rate": 0.02},
        "training": {"epochs": 15, "batch_size": 64},
        "evaluation": {"recalibrate": True},
    }
    cfg.update(changes)
    return cfg


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _column(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows])


# --------------------------------------------------------------------------- the pure scale


def test_the_scale_is_the_closed_form() -> None:
    y, mean, std = np.array([1.0, -2.0, 3.0, 0.0]), np.array([0.0, 0.0, 1.0, 1.0]), np.array([1.0, 2.0, 0.5, 1.0])
    # z = (y - mean) / std = [1, -1, 4, -1]: mean z² = 19 / 4
    assert std_scale(y, mean, std) == pytest.approx(np.sqrt(19 / 4), rel=1e-12)
    # several targets are pooled into one scale; a column vector is the same as a flat array
    two = std_scale(np.c_[y, y], np.c_[mean, mean], np.c_[std, std])
    assert two == pytest.approx(np.sqrt(19 / 4)) and std_scale(y[:, None], mean[:, None], std[:, None]) == two


def test_the_scale_minimises_the_gaussian_nll() -> None:
    rng = np.random.default_rng(1)
    std = rng.uniform(0.2, 1.5, 500)
    y, mean = rng.normal(0.0, 1.7 * std), np.zeros(500)
    best = minimize_scalar(lambda s: gaussian_nll(y, mean, s * std), bounds=(0.1, 10.0), method="bounded")
    assert std_scale(y, mean, std) == pytest.approx(best.x, rel=1e-4)


@pytest.mark.parametrize("wrong", [2.0, 0.5])
def test_recalibration_brings_wrong_stds_to_their_coverage(wrong: float) -> None:
    rng = np.random.default_rng(7)
    n = 5000
    true_std = rng.uniform(0.1, 2.0, 2 * n)
    y = rng.normal(0.0, true_std)
    claimed = wrong * true_std  # the model's stds are off by a factor
    fit, scored = slice(0, n), slice(n, 2 * n)  # fitted on one half, scored on the other
    scale = std_scale(y[fit], np.zeros(n), claimed[fit])
    assert scale == pytest.approx(1 / wrong, rel=0.03)
    before, _ = regression_calibration(y[scored], np.zeros(n), claimed[scored])
    after, _ = regression_calibration(y[scored], np.zeros(n), scale * claimed[scored])
    assert abs(before["coverage_68"] - 0.6827) > 0.2
    sampling = 3 * np.sqrt(0.6827 * 0.3173 / n)  # three binomial standard errors: 0.02
    assert after["coverage_68"] == pytest.approx(0.6827, abs=sampling)
    assert after["coverage_95"] == pytest.approx(0.95, abs=3 * np.sqrt(0.95 * 0.05 / n))
    assert after["nll"] < before["nll"]


def test_the_coverage_scale_covers_one_sigma_where_heavy_tails_mislead_sigma_scaling() -> None:
    # Student-t residuals (3 degrees of freedom: variance 3, heavier tails than a Gaussian), stds all 1.
    rng = np.random.default_rng(11)
    n = 5000
    y, mean, std = rng.standard_t(3, 2 * n), np.zeros(2 * n), np.ones(2 * n)
    fit, scored = slice(0, n), slice(n, 2 * n)
    by_coverage = coverage_scale(y[fit], mean[fit], std[fit])
    by_sigma = std_scale(y[fit], mean[fit], std[fit])
    assert by_coverage == fit_scale("coverage", y[fit], mean[fit], std[fit])
    assert by_sigma == fit_scale("sigma", y[fit], mean[fit], std[fit])
    sampling = 3 * np.sqrt(0.6827 * 0.3173 / n)
    covered, _ = regression_calibration(y[scored], mean[scored], by_coverage * std[scored])
    assert covered["coverage_68"] == pytest.approx(0.6827, abs=sampling)
    too_wide, _ = regression_calibration(y[scored], mean[scored], by_sigma * std[scored])
    assert too_wide["coverage_68"] > 0.6827 + sampling  # the t's variance stretches ±1σ: about 0.8 covered


@pytest.mark.parametrize("n", [1, 2, 3, 10, 99])
def test_the_coverage_scale_is_the_conformal_rank(n: int) -> None:
    z = np.arange(1, n + 1, dtype=float)[::-1]  # |z| = n, ..., 1: the k-th smallest is k
    rank = min(int(np.ceil((n + 1) * 0.6826894921370859)), n)
    assert coverage_scale(-z, np.zeros(n), np.ones(n)) == rank
    # stds divide the residuals; several targets are pooled
    assert coverage_scale(2 * z, np.zeros(n), 2 * np.ones(n)) == rank
    pooled = min(int(np.ceil((2 * n + 1) * 0.6826894921370859)), 2 * n)  # of 1, 1, 2, 2, ..., n, n
    assert coverage_scale(np.c_[z, z], np.zeros((n, 2)), np.ones((n, 2))) == np.ceil(pooled / 2)


# --------------------------------------------------------------------------- what is fitted on what


def _dataset(*, val: bool = True, fold: bool = False) -> Dataset:
    rng = np.random.default_rng(0)

    def part(n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(-1, 1, (n, 1))
        return x, x[:, 0] + rng.normal(0.0, noise, n)

    (x, y), (xv, yv), (xt, yt), (xf, yf) = part(50, 1.0), part(400, 3.0), part(300, 3.0), part(200, 3.0)
    return Dataset(
        x,
        y,
        xv if val else None,
        yv if val else None,
        xt,
        yt,
        "regression",
        ["y"],
        "test data",
        Preprocessing("none"),
        x_fold=xf if fold else None,
        y_fold=yf if fold else None,
    )


def _predict(x: np.ndarray) -> Predictive:
    """A model whose mean is right and whose stds are a third of the noise (3.0): the scale is about 3."""
    ones = np.ones((len(x), 1))
    return Predictive(x[:, :1], ones, 0.6 * ones, 0.8 * ones)


@pytest.mark.parametrize(
    ("on", "fold", "fitted_on"), [("test", False, "validation"), ("validation", True, "inner_validation")]
)
def test_the_scale_is_fitted_on_validation_data_and_scales_every_std(on: str, fold: bool, fitted_on: str) -> None:
    data = _dataset(fold=fold)
    x, y = data.scored(on)
    assert x is not None and y is not None
    pred, record = recalibrate(_predict(x), y, _predict, data, on=on)
    assert data.y_val is not None and data.x_val is not None
    expected = std_scale(data.y_val, data.x_val[:, 0], np.ones(len(data.y_val)))
    assert record["scale"] == pytest.approx(expected) and record["scale"] == pytest.approx(3.0, rel=0.1)
    assert record["fitted_on"] == fitted_on and record["n"] == len(data.y_val)
    before, _ = regression_calibration(y, x[:, 0], np.ones(len(y)))
    assert record["coverage_68_before"] == before["coverage_68"] and record["nll_before"] == before["nll"]
    assert pred.std is not None and pred.aleatoric is not None and pred.epistemic is not None
    assert np.allclose(pred.std, expected) and np.allclose(pred.aleatoric, 0.6 * expected)
    assert np.allclose(pred.epistemic, 0.8 * expected) and np.array_equal(pred.mean, x[:, :1])


@pytest.mark.parametrize(
    ("on", "val", "why"),
    [
        ("validation", True, "scored on its validation split"),  # a sweep trial without folds: never fit where scored
        ("test", False, "no validation split"),
    ],
)
def test_recalibration_is_skipped_rather_than_fitted_on_scored_data(on: str, val: bool, why: str) -> None:
    data = _dataset(val=val)
    x, y = data.scored(on)
    assert x is not None and y is not None
    seen: list[int] = []

    def predict(inputs: np.ndarray) -> Predictive:
        seen.append(len(inputs))
        return _predict(inputs)

    pred, record = recalibrate(_predict(x), y, predict, data, on=on)
    assert record["scale"] is None and why in record["skipped"] and seen == []
    assert pred.std is not None and np.array_equal(pred.std, np.ones((len(x), 1)))


# --------------------------------------------------------------------------- config


DATA = "/nonexistent/data.csv"  # static config errors come before the data is read


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"loss": "mse"},
            r"evaluation\.recalibrate: scales the predicted standard deviations, but this run predicts none",
        ),
        (
            {"loss": "mse", "model": {"architecture": "mlp", "hidden_units": [8], "bayesian": {}}},
            r"this run predicts none",  # Bayesian weights predict once with mc_samples 1
        ),
        (
            {"dataset": {"path": DATA, "label": "y", "validation_split": 0.0}},
            r"evaluation\.recalibrate: fits its scale on the validation split, but dataset\.validation_split is 0",
        ),
        (
            {"task": "multiclass", "loss": "sparse_categorical_crossentropy", "training": {"ensemble": 2}},
            r"evaluation\.recalibrate: scales a regression run's predicted standard deviations, but this is a multiclass task",
        ),
    ],
)
def test_recalibrate_without_a_std_or_validation_data_is_a_config_error(
    write_config, changes: dict, match: str
) -> None:
    path = write_config(_regression(DATA, **changes))
    with pytest.raises(ConfigError, match=match):
        load_config(path)


@pytest.mark.parametrize(
    "changes",
    [
        {"loss": "mse"},
        {"dataset": {"path": "DATA", "label": "y", "validation_split": 0}},
        {"evaluation": {"recalibrate": "quantile"}},  # not a method: says which are
        None,  # a classifier whose task is inferred from the labels: refused once they are read
    ],
)
def test_bad_recalibrate_exits_2_without_a_traceback(cli, write_config, tmp_path: Path, changes: dict | None) -> None:
    data = str(heteroscedastic_csv(tmp_path / "data.csv", 100))
    if changes is None:
        cfg = digits_config(evaluation={"recalibrate": True}, training={"epochs": 1, "ensemble": 2})
    else:
        cfg = _regression(data, **json.loads(json.dumps(changes).replace('"DATA"', json.dumps(data))))
    result = cli.invoke(app, ["validate", str(write_config(cfg))])
    assert result.exit_code == 2, result.output
    assert "evaluation.recalibrate" in result.output and "Traceback" not in result.output
    if changes == {"evaluation": {"recalibrate": "quantile"}}:
        assert "must be true, false, sigma or coverage (got 'quantile')" in result.output


@pytest.mark.parametrize(
    "changes",
    [
        {},  # a Gaussian head
        {"loss": "mse", "training": {"ensemble": 3}},
        {
            "loss": "mse",
            "model": {"architecture": "mlp", "hidden_units": [8], "dropout": 0.1},
            "evaluation": {"recalibrate": True, "mc_samples": 20},
        },
    ],
)
def test_every_run_with_a_std_may_recalibrate(write_config, changes: dict) -> None:
    assert load_config(write_config(_regression(DATA, **changes))).evaluation.recalibrate is True


@pytest.mark.parametrize(
    ("value", "method"), [(False, None), (True, "sigma"), ("sigma", "sigma"), ("coverage", "coverage")]
)
def test_recalibrate_names_its_method(value: object, method: str | None) -> None:
    assert validate_config(_regression(DATA, evaluation={"recalibrate": value})).evaluation.recalibration == method


def test_the_refit_keeps_its_validation_split_to_recalibrate_on() -> None:
    early = {"monitor": "val_loss", "patience": 2}
    cfg = validate_config(_regression(DATA, training={"epochs": 30, "batch_size": 64, "early_stopping": early}))
    setup = refit_setup(cfg, [7, 9, 12])
    assert setup.cfg.dataset.validation_split == 0.25 and setup.cfg.evaluation.recalibrate
    assert setup.cfg.training.early_stopping is None and setup.epochs == 9
    plain = refit_setup(validate_config(_regression(DATA, evaluation={"recalibrate": False})), [])
    assert plain.cfg.dataset.validation_split == 0


# --------------------------------------------------------------------------- a run's record, for predict


def _run_dir(tmp_path: Path, *, recalibrate: bool | str, metrics: object) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / store.CONFIG_FILE).write_text(yaml.safe_dump({"evaluation": {"recalibrate": recalibrate}}))
    if metrics is not None:
        (run / store.METRICS_FILE).write_text(json.dumps(metrics))
    return run


@pytest.mark.parametrize(
    ("recalibrate", "metrics", "scale"),
    [
        (True, {"recalibration": {"scale": 1.7, "fitted_on": "validation", "n": 10}}, 1.7),
        ("coverage", {"recalibration": {"method": "coverage", "scale": 1.3, "fitted_on": "validation", "n": 10}}, 1.3),
        (True, {"recalibration": {"scale": None, "skipped": "no validation split"}}, 1.0),  # the run scaled nothing
        (False, {"rmse": 0.3}, 1.0),
    ],
)
def test_predict_reads_the_scale_the_run_applied(
    tmp_path: Path, recalibrate: bool | str, metrics: dict, scale: float
) -> None:
    assert run_std_scale(_run_dir(tmp_path, recalibrate=recalibrate, metrics=metrics)) == scale


@pytest.mark.parametrize("metrics", [None, {"rmse": 0.3}])
def test_predict_refuses_a_recalibrated_run_without_its_scale(tmp_path: Path, metrics: object) -> None:
    with pytest.raises(RunError, match=r"evaluation\.recalibrate, but .*metrics\.json has no recalibration\.scale"):
        run_std_scale(_run_dir(tmp_path, recalibrate=True, metrics=metrics))


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sigma", "coverage"])
def test_a_recalibrated_run_records_its_scale_and_predict_applies_it(
    tmp_path: Path, runs_dir: Path, cli, method: str
) -> None:
    from mlrun import load
    from mlrun.artifacts import load_run_model
    from mlrun.gaussian import split_numpy
    from mlrun.runner import prepare, run_experiment

    data_path = heteroscedastic_csv(tmp_path / "data.csv", 800)
    cfg = validate_config(_regression(data_path, evaluation={"recalibrate": method}))
    result = run_experiment(cfg, runs_dir)
    run, m = result.run_dir, result.metrics
    record = m["recalibration"]
    assert (
        record["method"] == method
        and record["fitted_on"] == "validation"
        and record["n"] == store.read_run_info(run)["dataset"]["n_val"] > 0
    )
    assert json.loads((run / "metrics.json").read_text())["recalibration"] == record

    # the scale is the closed form on the validation split, from the saved model's own stds
    data, model = prepare(cfg).data, load_run_model(run)
    assert data.x_val is not None and data.y_val is not None
    val_mean, val_var = split_numpy(model.predict(data.x_val, verbose=0))
    assert record["scale"] == pytest.approx(fit_scale(method, data.y_val, val_mean, np.sqrt(val_var)), rel=1e-5)

    # predictions.csv holds the scaled stds; the metrics are theirs, the "before" ones the unscaled stds'
    rows = _rows(run / "predictions.csv")
    y, mean, std = _column(rows, "y_true"), _column(rows, "y_pred"), _column(rows, "y_std")
    _, test_var = split_numpy(model.predict(data.x_test, verbose=0))
    assert std == pytest.approx(record["scale"] * np.sqrt(test_var[:, 0]), rel=1e-5)
    after, _ = regression_calibration(y, mean, std)
    before, _ = regression_calibration(y, mean, std / record["scale"])
    for key in ("coverage_68", "coverage_95", "nll", "mean_std"):
        assert m[key] == pytest.approx(after[key], rel=1e-6, abs=1e-9)
        assert record[f"{key}_before"] == pytest.approx(before[key], rel=1e-6, abs=1e-9)
    observed = dict(
        zip(_column(_rows(run / "calibration.csv"), "expected"), _column(_rows(run / "calibration.csv"), "observed"))
    )
    assert observed[0.5] == pytest.approx(float(np.mean(np.abs(y - mean) <= 0.6745 * std)), abs=1e-3)

    # mlrun predict and Run.predict scale their stds alike
    raw = np.loadtxt(data_path, delimiter=",", skiprows=1)[:50, :1]
    inputs, out = tmp_path / "inputs.csv", tmp_path / "out.csv"
    np.savetxt(inputs, raw, delimiter=",", header="x", comments="", fmt="%.6f")
    res = cli.invoke(app, ["predict", str(run), str(inputs), "--output", str(out)])
    assert res.exit_code == 0, res.output
    _, raw_var = split_numpy(model.predict(data.preprocessing.apply(raw.astype("float32")), verbose=0))
    assert _column(_rows(out), "y_std") == pytest.approx(record["scale"] * np.sqrt(raw_var[:, 0]), rel=1e-4)
    values, stds = load(run).predict(raw, return_std=True)
    assert values.shape == (50,) and stds is not None
    assert stds[:, 0] == pytest.approx(_column(_rows(out), "y_std"), rel=1e-5)


@pytest.mark.slow
def test_a_cross_validation_trial_fits_its_scale_on_the_inner_split(tmp_path: Path) -> None:
    from mlrun.runner import run_experiment

    cfg = validate_config(
        _regression(heteroscedastic_csv(tmp_path / "data.csv", 400), training={"epochs": 3, "batch_size": 64})
    )
    result = run_experiment(
        cfg, tmp_path / "runs", fold=Fold(0, 3, stratified=False), inner_validation=0.2, evaluate_on="validation"
    )
    d = store.read_run_info(result.run_dir)["dataset"]
    record = result.metrics["recalibration"]
    assert d["n_val"] > 0  # no callback watches validation data: the inner split is there for recalibration
    assert record["fitted_on"] == "inner_validation" and record["n"] == d["n_val"] and record["scale"] > 0
    assert result.metrics["n_test"] == d["n_scored"]  # the fold is scored, never fitted on

    plain = run_experiment(cfg, tmp_path / "runs", evaluate_on="validation")  # a sweep trial without folds
    skipped = plain.metrics["recalibration"]
    assert skipped["scale"] is None and "scored on its validation split" in skipped["skipped"]


@pytest.mark.parametrize(
    ("record", "shown"),
    [
        (
            {"scale": 1.25, "fitted_on": "inner_validation", "n": 40},
            "stds × 1.2500 (sigma), fitted on 40 inner validation targets",
        ),
        (
            {"method": "coverage", "scale": 0.9, "fitted_on": "validation", "n": 283},
            "stds × 0.9000 (coverage), fitted on 283 validation targets",
        ),
        ({"scale": None, "skipped": "no validation split"}, "skipped: no validation split"),
    ],
)
def test_the_report_says_how_the_stds_were_scaled(runs_dir: Path, record: dict, shown: str) -> None:
    from mlrun.report.rundata import load_run
    from mlrun.report.summary import key_values
    from tests.runfactory import make_run

    run = make_run(runs_dir, "regression")
    metrics = json.loads((run / store.METRICS_FILE).read_text())
    (run / store.METRICS_FILE).write_text(json.dumps({**metrics, "recalibration": record}))
    assert ("recalibration", shown) in key_values(load_run(run))
    assert ("recalibration", shown) not in key_values(load_run(make_run(runs_dir, "regression", run_id="plain")))
