"""Synthetic datasets: sklearn generators and logic-gate truth tables, their schema and their splits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mlrun.config import DatasetConfig, load_config
from mlrun.data import load_dataset
from mlrun.data.synthetic import OUTLIER_SHIFT, gate_data
from mlrun.errors import ConfigError
from tests.conftest import minimal_config

GATES = {
    "and": lambda a, b: a and b,
    "or": lambda a, b: a or b,
    "nand": lambda a, b: not (a and b),
    "nor": lambda a, b: not (a or b),
    "xor": lambda a, b: a != b,
}


def load(seed: int = 0, **kw):
    return load_dataset(DatasetConfig(name="synthetic", **kw), seed=seed)


@pytest.mark.parametrize("gate", sorted(GATES))
def test_gate_truth_tables_are_exact_and_the_test_set_is_the_table(gate: str) -> None:
    ds = load(generator="gate", gate=gate, repeat=3)
    table = [tuple(int(v) for v in row) for row in ds.x_test]
    assert sorted(table) == list(itertools.product((0, 1), repeat=2))
    expected = [int(GATES[gate](a, b)) for a, b in table]
    assert [int(ds.classes[i]) for i in ds.y_test] == expected
    # training set: `repeat` copies of the same table, no validation split by default
    assert len(ds.x_train) == 12 and ds.x_val is None
    assert ds.task == "binary"


def test_gate_with_n_inputs_and_noise() -> None:
    clean = gate_data("xor", n_inputs=3, repeat=2)
    noisy = gate_data("xor", n_inputs=3, repeat=2, noise=0.1, seed=1)
    assert clean.x_test.shape == (8, 3)
    assert list(clean.y_test) == [int(sum(r) % 2) for r in clean.x_test]  # xor of n inputs is parity
    assert np.array_equal(noisy.y, clean.y) and np.array_equal(
        noisy.x_test, clean.x_test
    )  # noise on training inputs only
    assert 0 < np.abs(noisy.x - clean.x).max() < 1


@pytest.mark.parametrize(
    "generator, task, n_classes",
    [
        ("moons", "binary", 2),
        ("circles", "binary", 2),
        ("blobs", "multiclass", 3),
        ("classification", "binary", 2),
        ("multilabel", "multilabel", 5),
        ("regression", "regression", 1),
    ],
)
def test_generators_give_the_task_and_the_split_sizes(generator: str, task: str, n_classes: int) -> None:
    ds = load(generator=generator, n_samples=200)
    assert ds.task == task and ds.n_outputs == n_classes
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 200
    assert ds.x_train.dtype == np.float32


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = (load(seed=s, generator="moons", noise=0.2) for s in (1, 1, 2))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_regression_outliers_only_in_training_targets() -> None:
    clean = load(generator="regression", n_samples=400, noise=0.0, validation_split=0)
    dirty = load(generator="regression", n_samples=400, noise=0.0, outliers=0.1, validation_split=0)
    assert np.allclose(np.sort(clean.y_test), np.sort(dirty.y_test))  # same clean test set
    shifted = np.abs(np.sort(dirty.y_train) - np.sort(clean.y_train)).max()
    assert shifted > OUTLIER_SHIFT * 0.5 * clean.y_train.std()
    assert any("true function" in n for n in dirty.notes) and any("outliers" in n for n in dirty.notes)


def test_test_size_zero_evaluates_on_the_training_data() -> None:
    ds = load_dataset(DatasetConfig(name="iris", test_size=0, validation_split=0), seed=0)
    assert np.array_equal(ds.x_test, ds.x_train) and len(ds.x_test) == 150


def test_resolved_config_shows_the_generator_defaults_and_nothing_else() -> None:
    moons = DatasetConfig(name="synthetic", generator="moons").model_dump()
    assert moons["n_samples"] == 500 and moons["noise"] == 0.1 and "factor" not in moons and "gate" not in moons
    gate = DatasetConfig(name="synthetic", generator="gate", gate="and").model_dump()
    assert gate["test_size"] == 0 and gate["validation_split"] == 0 and gate["repeat"] == 1
    digits = DatasetConfig(name="digits").model_dump()
    assert "generator" not in digits and "noise" not in digits and "cleaning" not in digits
    assert DatasetConfig.model_validate(moons) == DatasetConfig(name="synthetic", generator="moons")  # round trip


@pytest.mark.parametrize(
    "dataset, message",
    [
        (
            {"name": "synthetic", "generator": "moons", "n_sample": 10},
            r"line \d+  dataset.n_sample: unknown key \(did you mean 'n_samples'\?\)",
        ),
        (
            {"name": "synthetic", "generator": "moon"},
            r"dataset.generator: unknown value 'moon' \(did you mean 'moons'\?\)",
        ),
        (
            {"name": "synthetic", "generator": "moons", "factor": 0.3},
            r"dataset.factor: the moons generator does not take 'factor' .*circles",
        ),
        ({"name": "digits", "noise": 0.3}, r"dataset.noise: is a parameter of synthetic data"),
        ({"name": "synthetic"}, r"name: synthetic needs a `generator:`"),
        ({"name": "synthetic", "generator": "gate"}, r"generator: gate needs `gate:`"),
        (
            {"name": "synthetic", "generator": "gate", "gate": "xor", "test_size": 0.2},
            r"test_size must be 0 for a logic gate",
        ),
        (
            {"name": "synthetic", "generator": "classification", "n_classes": 5},
            r"n_classes x n_clusters_per_class \(5\)",
        ),
        ({"name": "synthetic", "generator": "gate", "gate": "xnor"}, r"dataset.gate: unknown value 'xnor'"),
    ],
)
def test_bad_synthetic_configs_are_config_errors(write_config, dataset: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(minimal_config(dataset)))
