"""The ``dataset`` block: built-in, file and synthetic data sources, and the cleaning of CSV files."""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_serializer, model_validator

from mlrun.config.base import Strict

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
SYNTHETIC = "synthetic"
#: AME2012 - FRDM95 mass residuals from the masstable package (mlrun.data.nuclear; the `nuclear` extra).
NUCLEAR = "nuclear_masses"
#: The generators of ``dataset.name: synthetic`` and the parameters each takes, with their defaults.
GENERATOR_PARAMS: dict[str, dict[str, Any]] = {
    "classification": {
        "n_samples": 500,
        "n_features": 2,
        "n_informative": 2,
        "n_redundant": 0,
        "n_classes": 2,
        "n_clusters_per_class": 1,
        "class_sep": 1.0,
        "flip_y": 0.01,
    },
    "moons": {"n_samples": 500, "noise": 0.1},
    "circles": {"n_samples": 500, "noise": 0.1, "factor": 0.5},
    "blobs": {"n_samples": 500, "n_features": 2, "n_classes": 3, "cluster_std": 1.0},
    "regression": {
        "n_samples": 500,
        "n_features": 1,
        "n_informative": None,
        "n_targets": 1,
        "noise": 10.0,
        "bias": 0.0,
        "outliers": 0.0,
    },
    "multilabel": {"n_samples": 500, "n_features": 20, "n_classes": 5, "n_labels": 2},
    "gate": {"gate": None, "n_inputs": 2, "repeat": 1, "noise": 0.0},
}
GENERATORS = tuple(GENERATOR_PARAMS)
GATES = ("and", "or", "nand", "nor", "xor")
_SYNTHETIC_KEYS = ("generator", *dict.fromkeys(k for params in GENERATOR_PARAMS.values() for k in params))
MissingStrategy = Literal["drop", "mean", "median", "most_frequent"]
DEFAULT_NA_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")


class CleaningConfig(Strict):
    """Cleaning steps for a CSV file, in this order; what they did is recorded.

    The steps that learn nothing run on the whole file before the splits; the fill values and
    one-hot categories are learned from the training rows only (a fold's training part under
    cross-validation) and applied to every row."""

    drop_columns: list[str] = Field(default_factory=list)
    """Columns to remove (identifiers, leaks, free text)."""
    dtypes: dict[str, Literal["float", "int", "bool"]] = Field(default_factory=dict)
    """Convert columns: ``float`` and ``int`` also accept thousands separators, currency signs and a
    trailing %, ``bool`` reads true/false, yes/no, y/n, t/f, on/off, 1/0 as 1/0."""
    drop_duplicates: bool = False
    """Drop rows identical to an earlier row (after dropping columns and converting types)."""
    na_values: list[str] = Field(default_factory=lambda: list(DEFAULT_NA_VALUES))
    """Cell values that count as missing (compared after stripping spaces)."""
    missing: MissingStrategy | dict[str, MissingStrategy] | None = None
    """What to do with missing feature values: ``drop`` the row, fill with the column's ``mean`` or
    ``median`` (numeric columns; text columns get ``most_frequent``), or ``most_frequent``; or a
    mapping {column: strategy}. Fill values come from the training rows; rows without a label are
    always dropped. None: a missing value is an error."""
    one_hot: list[str] | Literal["auto"] = Field(default_factory=list)
    """Categorical columns to one-hot encode (one 0/1 column per value of the training rows, named
    ``column=value``; other values encode as all zeros); ``auto``: every feature column that is not numeric."""


class DatasetConfig(Strict):
    """Where the data comes from and how it is prepared."""

    name: str | None = None
    """A built-in dataset: keras (mnist, fashion_mnist, cifar10, cifar100), sklearn
    (digits, iris, wine, breast_cancer, diabetes) or ``synthetic`` (see ``generator``).
    Give ``name`` or ``path``."""
    path: Path | None = None
    """A CSV file (one row per sample, the label in column ``label``) or an NPZ file
    (arrays ``x``/``y``, or ``x_train``/``y_train``/``x_test``/``y_test``). A relative
    path is looked up in the current directory, then beside the config file."""
    label: str | list[str] = "label"
    """CSV only: the label column, or a list of columns (multilabel or multi-output)."""
    data_dir: Path | None = None
    """Directory searched first for keras datasets' files (``mnist.npz``, ...);
    default ``$MLRUN_DATA_DIR``, then Keras' own loader (downloads)."""
    scale: float | Literal["standard", "minmax", "none"] = "none"
    """Input scaling: a number to divide by (e.g. 255), ``standard`` (zero mean, unit
    variance), ``minmax`` (to [0, 1]) or ``none``. Statistics come from the training set."""
    validation_split: float = Field(default=0.2, ge=0.0, lt=1.0)
    """Fraction of the training set held out for validation (0 for none)."""
    calibration_split: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Fraction of the training set held out for ``evaluation.recalibrate`` only (0 for none): never fit
    on, never watched by early stopping or another callback, never scored. Taken after the validation
    split, from the rows it leaves, so the validation rows stay the same. Ignored by a cross-validation
    fold (its inner validation split is fitted on); a sweep's refit keeps it."""
    test_size: float = Field(default=0.2, ge=0.0, lt=1.0)
    """Fraction held out as the test set, for sources without one. 0: no held-out test set, the
    test metrics are computed on the training data (does the model represent the data at all?)."""
    limit: int | None = Field(default=None, ge=2)
    """Use at most this many training samples and at most this many test samples."""
    stratify: bool = True
    """Stratify test split and subsampling by class (classification only)."""
    positive_label: str | None = None
    """Binary tasks only: the class that ROC AUC, average precision, precision, recall and F1 score
    as positive (e.g. ``malignant``). Default: the second class in sorted order. It must name one of
    the data's classes. The model's output is unchanged (a sigmoid gives P(second class))."""
    cleaning: CleaningConfig | None = None
    """CSV only: drop columns and duplicates, convert types, fill or drop missing values,
    one-hot encode categorical columns. Recorded in run.json (``dataset.cleaning``)."""

    # --- name: synthetic (each generator takes only its own parameters; see GENERATOR_PARAMS)
    generator: Literal["classification", "moons", "circles", "blobs", "regression", "multilabel", "gate"] | None = None
    """Synthetic data: scikit-learn's ``make_<generator>`` (classification, moons, circles, blobs,
    regression, multilabel) or ``gate``, the truth table of a logic gate. Seeded by the config's seed."""
    n_samples: int | None = Field(default=None, ge=4)
    """Samples generated (before the test split). Default 500."""
    n_features: int | None = Field(default=None, ge=1)
    """Input features (classification default 2, blobs 2, regression 1, multilabel 20)."""
    n_informative: int | None = Field(default=None, ge=1)
    """Features that carry the signal (classification default 2; regression default all)."""
    n_redundant: int | None = Field(default=None, ge=0)
    """classification: linear combinations of the informative features (default 0)."""
    n_classes: int | None = Field(default=None, ge=2)
    """Classes (classification default 2, blobs 3) or, for multilabel, labels (default 5)."""
    n_clusters_per_class: int | None = Field(default=None, ge=1)
    """classification: Gaussian clusters per class (default 1)."""
    class_sep: float | None = Field(default=None, gt=0.0)
    """classification: how far apart the classes are (default 1.0; larger is easier)."""
    flip_y: float | None = Field(default=None, ge=0.0, le=1.0)
    """classification: fraction of labels assigned at random (label noise; default 0.01)."""
    cluster_std: float | None = Field(default=None, gt=0.0)
    """blobs: standard deviation of each class's cluster (default 1.0)."""
    noise: float | None = Field(default=None, ge=0.0)
    """Standard deviation of Gaussian noise: on the points (moons, circles; default 0.1), on the
    targets (regression; default 10) or on the inputs of the training rows (gate; default 0)."""
    factor: float | None = Field(default=None, gt=0.0, lt=1.0)
    """circles: radius of the inner circle relative to the outer one (default 0.5)."""
    n_targets: int | None = Field(default=None, ge=1)
    """regression: target values per sample (default 1)."""
    bias: float | None = None
    """regression: the intercept of the true linear function (default 0)."""
    outliers: float | None = Field(default=None, ge=0.0, lt=1.0)
    """regression: fraction of training samples whose target is shifted up by 10 standard deviations
    (the test set stays clean, so it measures the fit to the true function). Default 0."""
    n_labels: int | None = Field(default=None, ge=1)
    """multilabel: average number of labels per sample (default 2)."""
    gate: Literal["and", "or", "nand", "nor", "xor"] | None = None
    """gate: the logic gate whose truth table is the data (required for ``generator: gate``)."""
    n_inputs: int | None = Field(default=None, ge=1, le=12)
    """gate: number of 0/1 inputs (default 2; and/or/nand/nor/xor of all of them, xor = parity)."""
    repeat: int | None = Field(default=None, ge=1)
    """gate: copies of the truth table in the training set (default 1). The test set is always the
    clean truth table itself, and test_size and validation_split default to 0."""

    @model_validator(mode="before")
    @classmethod
    def _generator_defaults(cls, data: Any) -> Any:
        # Fill in the chosen generator's defaults, so the resolved config shows every value used.
        # A wrong type ({}, [..]) is reported by the field's own validation: it is not hashable, so check first.
        generator = data.get("generator") if isinstance(data, dict) else None
        if not isinstance(generator, str) or generator not in GENERATOR_PARAMS or data.get("name") != SYNTHETIC:
            return data
        data = dict(data)
        for key, default in GENERATOR_PARAMS[generator].items():
            if data.get(key) is None and default is not None:
                data[key] = default
        if generator == "regression" and data.get("n_informative") is None and isinstance(data.get("n_features"), int):
            data["n_informative"] = data["n_features"]
        if generator == "gate":
            data.setdefault("test_size", 0.0)
            data.setdefault("validation_split", 0.0)
        return data

    @field_validator(*_SYNTHETIC_KEYS[1:])
    @classmethod
    def _check_generator_param(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or "name" not in info.data:
            return value  # not given, or `name` is already reported as invalid
        name, generator, key = info.data["name"], info.data.get("generator"), info.field_name
        if name != SYNTHETIC:
            raise ValueError(
                f"is a parameter of synthetic data: it needs `name: synthetic` and a `generator:` (got name {name!r})"
            )
        if generator is None:
            return value  # the missing or invalid generator is reported on its own
        if key not in GENERATOR_PARAMS[generator]:
            takes = ", ".join(GENERATOR_PARAMS[generator])
            users = [g for g, params in GENERATOR_PARAMS.items() if key in params]
            raise ValueError(
                f"the {generator} generator does not take {key!r} (it takes {takes}; {key} is for {', '.join(users)})"
            )
        return value

    @model_serializer(mode="wrap")
    def _drop_unused(self, handler: Any) -> dict[str, Any]:
        # Synthetic parameters, cleaning and a calibration split appear in a resolved config only where they
        # are used (so the configs, and the sweep trial keys hashed from them, of runs without one stay as they were).
        data = handler(self)
        for key in ("cleaning", *_SYNTHETIC_KEYS):
            if data.get(key) is None:
                data.pop(key, None)
        if data.get("calibration_split") == 0:
            data.pop("calibration_split")
        return data

    @field_validator("scale", mode="before")
    @classmethod
    def _check_scale(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("must be a number to divide by, or one of 'standard', 'minmax', 'none'")
        if isinstance(value, str) and value not in ("standard", "minmax", "none"):
            raise ValueError(f"must be a number to divide by, or one of 'standard', 'minmax', 'none' (got {value!r})")
        if isinstance(value, (int, float)) and not math.isfinite(value):
            raise ValueError(f"must be a finite number to divide by (got {value})")
        if isinstance(value, (int, float)) and value <= 0:
            raise ValueError(f"must be greater than 0 to divide by (got {value})")
        return value

    @field_validator("positive_label", mode="before")
    @classmethod
    def _label_as_text(cls, value: Any) -> Any:
        # Classes are named by text ("0", "1", "malignant"): `positive_label: 0` in YAML means "0".
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        known = KERAS_DATASETS + SKLEARN_DATASETS + (SYNTHETIC, NUCLEAR)
        if value is not None and value not in known:
            hint = difflib.get_close_matches(value, known, n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ValueError(
                f"unknown dataset {value!r}{did}; known: {', '.join(known)}; or give `path:` to a CSV/NPZ file"
            )
        return value

    @model_validator(mode="after")
    def _name_or_path(self) -> DatasetConfig:
        if (self.name is None) == (self.path is None):
            raise ValueError("give exactly one of `name` (a built-in dataset) or `path` (a CSV or NPZ file)")
        if self.name == SYNTHETIC and self.generator is None:
            raise ValueError(f"name: synthetic needs a `generator:` ({', '.join(GENERATORS)}), e.g. generator: moons")
        if self.name != SYNTHETIC and self.generator is not None:
            raise ValueError(f"generator: {self.generator!r} makes synthetic data: set `name: synthetic` (and no path)")
        if self.generator == "gate" and self.gate is None:
            raise ValueError(f"generator: gate needs `gate:` ({', '.join(GATES)}), e.g. gate: xor")
        if self.generator == "gate" and self.test_size != 0:
            raise ValueError(
                f"test_size must be 0 for a logic gate (got {self.test_size}): its test set is its whole truth table, "
                "so the test metrics say whether the model can represent the gate; remove test_size"
            )
        if self.generator == "classification":
            _check_classification(self)
        if (
            self.generator == "regression"
            and self.n_informative is not None
            and self.n_features is not None
            and self.n_informative > self.n_features
        ):
            raise ValueError(f"n_informative ({self.n_informative}) cannot exceed n_features ({self.n_features})")
        if self.cleaning is not None and (self.path is None or self.path.suffix.lower() not in (".csv", ".txt")):
            raise ValueError("cleaning: applies to CSV files only (dataset.path: a .csv file); remove it")
        if self.validation_split + self.calibration_split >= 1:
            raise ValueError(
                f"calibration_split: {self.calibration_split} with validation_split {self.validation_split} "
                "leaves no training rows (their sum must be below 1); lower one of them"
            )
        return self


def _check_classification(ds: DatasetConfig) -> None:
    """sklearn's make_classification constraints, as config errors."""
    informative, redundant, features = ds.n_informative or 2, ds.n_redundant or 0, ds.n_features or 2
    if informative + redundant > features:
        raise ValueError(
            f"n_informative ({informative}) + n_redundant ({redundant}) cannot exceed n_features ({features}); raise n_features"
        )
    clusters = (ds.n_classes or 2) * (ds.n_clusters_per_class or 1)
    if clusters > 2**informative:
        raise ValueError(
            f"n_classes x n_clusters_per_class ({clusters}) must be at most 2 ** n_informative ({2**informative}); "
            "raise n_informative or lower n_clusters_per_class"
        )
