"""CSV cleaning: each step does what it says and the record counts what it removed or changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlrun.config import CleaningConfig, DatasetConfig, load_config
from mlrun.data import load_dataset
from mlrun.data.cleaning import clean_table, describe
from mlrun.errors import ConfigError, DataError
from tests.conftest import minimal_config

CSV = """id,age,city,income,member,label
1,34,Paris,"1,200",yes,a
2,,Rome,900,no,b
3,51,Paris,$1500,yes,a
3,51,Paris,$1500,yes,a
4,28,?,800,no,b
5,45,Rome,NA,yes,
6,39,Berlin,1000,no,b
"""


def table(text: str = CSV):
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def clean(**cleaning):
    header, rows = table()
    return clean_table(header, rows, ["label"], CleaningConfig(**cleaning), source="t.csv")


FULL = {
    "drop_columns": ["id"],
    "dtypes": {"income": "float", "member": "bool"},
    "drop_duplicates": True,
    "missing": "mean",
    "one_hot": "auto",
}


def test_full_cleaning_records_every_step() -> None:
    x, y, rec = clean(**FULL)
    assert rec["rows_before"] == 7 and rec["rows_after"] == len(x) == len(y) == 5
    assert rec["dropped_columns"] == ["id"]
    assert rec["duplicates_dropped"] == 1 and rec["rows_dropped_missing_label"] == 1
    assert rec["missing"]["age"] == {"count": 1, "strategy": "mean", "fill": pytest.approx((34 + 51 + 28 + 39) / 4)}
    assert rec["missing"]["city"]["strategy"] == "most_frequent" and rec["missing"]["city"]["fill"] == "Paris"
    assert rec["one_hot"] == {"city": ["Berlin", "Paris", "Rome"]}
    assert rec["features"] == ["age", "city=Berlin", "city=Paris", "city=Rome", "income", "member"]
    assert rec["converted"]["income"] == {"to": "float", "changed": 3}  # "1,200" and two "$1500"
    # one-hot rows sum to 1; income parsed; booleans 0/1
    assert np.array_equal(x[:, 1:4].sum(axis=1), np.ones(5))
    assert sorted(x[:, 4].tolist()) == [800, 900, 1000, 1200, 1500]
    assert set(x[:, 5].tolist()) == {0.0, 1.0}
    assert sorted(y.tolist()) == ["a", "a", "b", "b", "b"]
    lines = describe(rec)
    assert lines[0].startswith("7 rows in, 5 rows out") and any("1 duplicate" in line for line in lines)


def test_missing_drop_removes_rows_and_median_fills() -> None:
    _, _, dropped = clean(
        drop_columns=["id"], dtypes={"income": "float", "member": "bool"}, missing="drop", one_hot=["city"]
    )
    assert (
        dropped["rows_dropped_missing"] == 2 and dropped["rows_after"] == 4
    )  # age and city missing; label row dropped too
    x, _, filled = clean(
        drop_columns=["id", "city"], dtypes={"income": "float", "member": "bool"}, missing={"age": "median"}
    )
    assert filled["missing"]["age"]["fill"] == pytest.approx(np.median([34, 51, 51, 28, 39]))
    assert filled["rows_after"] == 6 and not np.isnan(x).any()


@pytest.mark.parametrize(
    "cleaning, message",
    [
        ({"drop_columns": ["idd"]}, r"dataset.cleaning.drop_columns: no column 'idd' \(did you mean 'id'\?\)"),
        ({"drop_columns": ["label"]}, r"'label' is the label column"),
        (
            {"dtypes": {"member": "float"}, "missing": "mean", "one_hot": "auto"},
            r"line 2, column 'member': cannot convert 'yes' to float",
        ),
        ({"drop_columns": ["id"], "dtypes": {"income": "float"}, "one_hot": ["city"]}, r"the label is missing"),
        (
            {
                "drop_columns": ["id"],
                "dtypes": {"income": "float", "member": "bool"},
                "missing": {"age": "mean"},
                "one_hot": "auto",
            },
            r"columns \['city'\] have missing values but no strategy",
        ),
        (
            {"drop_columns": ["id"], "dtypes": {"income": "float", "member": "bool"}, "missing": "mean"},
            r"column 'city' is not a number .*one_hot: \[city\]",
        ),
    ],
)
def test_cleaning_problems_are_data_errors(cleaning: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        clean(**cleaning)


def test_load_dataset_records_cleaning_in_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "dirty.csv"
    path.write_text(CSV)
    ds = load_dataset(DatasetConfig(path=path, cleaning=FULL, validation_split=0, test_size=0.4), seed=0)
    assert ds.summary()["cleaning"]["rows_after"] == 5
    assert ds.features == ["age", "city=Berlin", "city=Paris", "city=Rome", "income", "member"]
    assert len(ds.x_train) + len(ds.x_test) == 5 and ds.input_shape == (6,)


def test_without_cleaning_the_error_points_at_it(tmp_path: Path) -> None:
    path = tmp_path / "dirty.csv"
    path.write_text(CSV)
    with pytest.raises(DataError, match=r"dataset.cleaning"):
        load_dataset(DatasetConfig(path=path), seed=0)


@pytest.mark.parametrize(
    "dataset, message",
    [
        ({"name": "digits", "cleaning": {"drop_duplicates": True}}, r"cleaning: applies to CSV files only"),
        ({"path": "x.csv", "cleaning": {"missing": "avg"}}, r"dataset.cleaning.missing"),
        ({"path": "x.csv", "cleaning": {"drop_duplicate": True}}, r"unknown key \(did you mean 'drop_duplicates'\?\)"),
    ],
)
def test_bad_cleaning_blocks_are_config_errors(write_config, dataset: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(minimal_config(dataset)))
