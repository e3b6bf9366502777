"""The inputs behind a run's predictions.csv, raw (before scaling), in its order, and the outputs it recorded.

An exported model takes raw inputs, so checking it needs the run's raw test inputs. They are
not stored; :func:`reference_inputs` reloads them exactly: the run's dataset is loaded again from
its ``config.yaml`` with ``scale: none`` (scaling is the last step of
:func:`mlrun.data.load_dataset`; the splits, the subsample and any CSV cleaning do not depend on
it), and the run's recorded scaling (``preprocessing.json``) applied to those arrays must give
back the run's dataset fingerprint (``run.json``), bit for bit. So the rows are the very ones
the run scored, in its order, or the export refuses to verify. No Keras here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrun import store
from mlrun.config import evolve, load_config
from mlrun.data import Dataset, Preprocessing, load_dataset
from mlrun.errors import MlrunError, RunError


@dataclass
class Reference:
    """A run's scored inputs, raw, and what predictions.csv recorded for them."""

    x: np.ndarray
    """Raw inputs (float32, before scaling), in predictions.csv's row order."""
    expected: np.ndarray
    """predictions.csv's probabilities (``p_<class>``) or values (``y_pred``), one row per input."""
    columns: list[str]
    """The predictions.csv columns of ``expected``."""
    split: str
    """``test``, or ``validation`` for a run evaluated on its validation set."""


def reference_inputs(run_dir: Path, preprocessing: dict[str, Any], *, base_dir: Path | None = None) -> Reference:
    """Reload the raw inputs behind ``run_dir``'s predictions.csv and read the outputs it recorded.

    Args:
        run_dir: a completed run directory.
        preprocessing: its ``preprocessing.json`` record.
        base_dir: where a relative ``dataset.path`` is looked up when it is not in the current directory.

    Raises:
        RunError: the run was a cross-validation trial, its data cannot be loaded again, it no longer
            matches the data the run trained on, or predictions.csv does not fit it.
    """
    run_dir = Path(run_dir)
    info = store.read_whole_run_info(
        run_dir,
        instead="its predictions are on a held-out fold, which export cannot rebuild to verify the model; "
        "export the sweep's refit run (<sweep>/refit) instead",
    )
    split = "validation" if info.get("evaluated_on") == "validation" else "test"
    data = _load_raw(run_dir, base_dir)
    _check_same_data(run_dir, data, preprocessing, info)
    x, _ = data.scored(split)
    if x is None:
        raise RunError(f"error: {run_dir.name} was evaluated on a validation set, but its config makes none")
    columns = output_columns(preprocessing)
    expected = _read_expected(run_dir, columns, len(x))
    return Reference(np.asarray(x, dtype=np.float32), expected, columns, split)


def output_columns(preprocessing: dict[str, Any]) -> list[str]:
    """The predictions.csv columns an exported model's outputs stand for, in its output order."""
    names = [str(c) for c in preprocessing["classes"]]
    if preprocessing["task"] == "regression":
        return ["y_pred"] if len(names) <= 1 else [f"y_pred_{t}" for t in names]
    return [f"p_{c}" for c in names]


def _load_raw(run_dir: Path, base_dir: Path | None) -> Dataset:
    """The run's dataset as it trained on it, except unscaled."""
    try:
        cfg = load_config(run_dir / store.CONFIG_FILE)
        raw = evolve(cfg.dataset, scale="none")
        return load_dataset(raw, seed=cfg.seed, task=cfg.task, loss=cfg.loss, base_dir=base_dir)
    except MlrunError as exc:
        raise RunError(
            f"error: cannot load {run_dir.name}'s test data again to verify the export: {str(exc).removeprefix('error: ')}"
        ) from None


def _check_same_data(run_dir: Path, data: Dataset, preprocessing: dict[str, Any], info: dict[str, Any]) -> None:
    """Raise RunError unless the reloaded data, scaled as the run recorded, is the run's data bit for bit."""
    recorded = (info.get("dataset") or {}).get("fingerprint")
    scaling = Preprocessing.from_dict(preprocessing["scaling"])

    def scale(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else scaling.apply(a)

    scaled = dataclasses.replace(
        data,
        x_train=scaling.apply(data.x_train),
        x_val=scale(data.x_val),
        x_test=scaling.apply(data.x_test),
        x_fold=scale(data.x_fold),
        x_cal=scale(data.x_cal),
    )
    if recorded is not None and scaled.fingerprint() != recorded:
        raise RunError(
            f"error: the data {run_dir.name} trained on has changed since (dataset fingerprint {recorded} "
            f"in {store.RUN_FILE}, {scaled.fingerprint()} now), so its test inputs cannot be rebuilt to verify "
            "the export; restore the data, or train the run again"
        )


def _read_expected(run_dir: Path, columns: list[str], n: int) -> np.ndarray:
    path = run_dir / store.PREDICTIONS_FILE
    try:
        rows = store.read_csv(path)
    except OSError as exc:
        raise RunError(f"error: cannot read {path}: {exc}") from None
    missing = [c for c in columns if not rows or c not in rows[0]]
    if missing or len(rows) != n:
        raise RunError(
            f"error: {path} does not fit the run's {n} test inputs (it has {len(rows)} rows"
            f"{f', no column {missing[0]!r}' if missing else ''}): the run directory is damaged"
        )
    return np.array([[float(row[c]) for c in columns] for row in rows], dtype=np.float64)
