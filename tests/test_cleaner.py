"""Cleaning learns only from the training rows: fill values and one-hot categories per split and per fold."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from mlrun.config import DatasetConfig
from mlrun.data import Dataset, Fold, load_dataset
from mlrun.data.cleaner import Cleaner
from mlrun.errors import DataError

HEADER = ["id", "age", "city", "income", "churned"]
CLEANING = {"dtypes": {"income": "float"}, "missing": "mean", "one_hot": ["city"]}


def raw_rows(n: int = 40) -> list[list[str]]:
    """Rows of a customer table: ``id`` is the row number, every seventh age is missing, incomes as "$1,234"."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        age = "" if i % 7 == 3 else str(int(rng.integers(20, 70)))
        income = f"${int(rng.integers(500, 3000)):,}"
        rows.append([str(i), age, ["Paris", "Rome", "Berlin"][i % 3], income, "yes" if i % 2 else "no"])
    return rows


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def load(path: Path, fold: Fold | None = None, **cleaning) -> Dataset:
    cfg = DatasetConfig(
        path=path, label="churned", cleaning={**CLEANING, **cleaning}, test_size=0.25, validation_split=0.25
    )
    return load_dataset(cfg, seed=0, fold=fold)


def ids(data: Dataset, x: np.ndarray | None) -> list[int]:
    """The CSV rows (``id`` column) of a split: ``id`` is kept as a feature, unscaled."""
    assert data.features is not None and x is not None
    return x[:, data.features.index("id")].astype(int).tolist()


def mean_age(rows: list[list[str]], which: list[int]) -> float:
    """The mean of the present ages of rows ``which``, straight from the CSV text."""
    ages = np.array([float(rows[i][1]) if rows[i][1] else np.nan for i in which])
    return float(np.nanmean(ages))


def test_fill_values_are_the_training_rows_statistics(tmp_path: Path) -> None:
    rows = raw_rows()
    first = load(write(tmp_path / "a.csv", rows))
    test = ids(first, first.x_test)
    for i in test:  # the test rows get extreme ages: a fill value from the whole file would show them
        rows[i][1] = "1000000"
    data = load(write(tmp_path / "b.csv", rows))
    train = ids(data, data.x_train)
    assert ids(data, data.x_test) == test  # the splits depend on the labels only, not on the values
    fill = data.cleaning["missing"]["age"]["fill"]
    assert fill == pytest.approx(mean_age(rows, train), rel=1e-12)  # the training rows only
    assert fill < 100 < mean_age(rows, list(range(len(rows))))  # not the whole file's, nor the validation rows'
    assert not set(train) & set(ids(data, data.x_val))
    assert data.cleaning["fitted_on_rows"] == len(train) == len(data.x_train)
    missing = [r for r, i in enumerate(train) if not rows[i][1]]
    assert missing and np.allclose(data.x_train[missing, data.features.index("age")], fill)
    assert data.cleaner is not None and data.cleaner.fill["age"] == fill


def test_a_category_only_in_test_rows_encodes_as_all_zeros(tmp_path: Path) -> None:
    rows = raw_rows()
    first = load(write(tmp_path / "a.csv", rows))
    atlantis = ids(first, first.x_test)[0]
    rows[atlantis][2] = "Atlantis"
    data = load(write(tmp_path / "b.csv", rows))
    assert data.features is not None
    city = [j for j, name in enumerate(data.features) if name.startswith("city=")]
    assert [data.features[j] for j in city] == ["city=Berlin", "city=Paris", "city=Rome"]
    assert data.cleaning["one_hot"] == {"city": ["Berlin", "Paris", "Rome"]}
    onehot = data.x_test[:, city]
    where = ids(data, data.x_test).index(atlantis)
    assert onehot[where].tolist() == [0.0, 0.0, 0.0]
    assert np.delete(onehot, where, axis=0).sum(axis=1).tolist() == [1.0] * (len(onehot) - 1)


def test_each_fold_fills_from_its_own_training_rows(tmp_path: Path) -> None:
    rows = raw_rows(60)
    path = write(tmp_path / "a.csv", rows)
    fills = []
    for index in range(2):
        data = load(path, fold=Fold(index, 2))
        train, held_out = ids(data, data.x_train), ids(data, data.x_fold)
        assert not set(train) & set(held_out)
        fills.append(data.cleaning["missing"]["age"]["fill"])
        assert fills[-1] == pytest.approx(mean_age(rows, train), rel=1e-12)
        assert data.cleaning["fitted_on_rows"] == len(train)
    assert fills[0] != pytest.approx(fills[1])


def test_replay_on_raw_test_rows_gives_the_test_features(tmp_path: Path) -> None:
    rows = raw_rows()
    data = load(write(tmp_path / "a.csv", rows))
    assert data.cleaner is not None
    test = [rows[i] for i in ids(data, data.x_test)]
    assert any(not r[1] for r in test)  # a missing age among them, filled with the training rows' mean
    # Reloaded from its JSON record, and given without the label column (it is optional).
    cleaner = Cleaner.from_dict(data.cleaner.to_dict())
    x = cleaner.replay(HEADER[:-1], [r[:-1] for r in test], source="new.csv")
    assert x.dtype == np.float32 and np.array_equal(x, data.x_test)


@pytest.mark.parametrize(
    ("cleaning", "header", "row", "message"),
    [
        (
            {"missing": {"age": "drop"}},
            HEADER,
            ["1", "", "Rome", "900", "no"],
            r"new.csv line 2, column 'age' is missing and the run dropped rows missing it",
        ),
        (
            {},
            HEADER,
            ["1", "40", "Rome", "9 hundred", "no"],
            r"new.csv line 2, column 'income': cannot convert '9 hundred' to float",
        ),
        ({}, [*HEADER, "extra"], ["1", "40", "Rome", "900", "no", "x"], r"unexpected columns \['extra'\]"),
        ({}, ["id", "city", "income"], ["1", "Rome", "900"], r"missing columns \['age'\].*It needs the raw columns"),
    ],
)
def test_replay_drops_no_row_and_names_the_problem(
    tmp_path: Path, cleaning: dict, header: list[str], row: list[str], message: str
) -> None:
    data = load(write(tmp_path / "a.csv", raw_rows()), **cleaning)
    assert data.cleaner is not None
    with pytest.raises(DataError, match=message):
        data.cleaner.replay(header, [row], source="new.csv")


def test_a_column_without_training_values_cannot_be_filled(tmp_path: Path) -> None:
    rows = raw_rows()
    first = load(write(tmp_path / "a.csv", rows))
    test = set(ids(first, first.x_test))
    for i, r in enumerate(rows):
        r[1] = r[1] if i in test else ""
    with pytest.raises(DataError, match=r"column 'age' has no values in the \d+ training rows, so its mean fill value"):
        load(write(tmp_path / "b.csv", rows))
