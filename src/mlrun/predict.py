"""Use a trained run: predict for new inputs with its model and exactly its preprocessing.

:func:`predict_run` reads the inputs (an NPZ array, a CSV table with the
training features' columns, or image files), checks them against what the run
was trained on (``preprocessing.json``), scales them as the run did, loads
``model.keras`` in Keras' safe mode, and writes one CSV row per input: the
predicted label (the run's original label values) and the probability of each
class, or the predicted values for regression. A run evaluated with Monte Carlo
dropout (``evaluation.mc_samples``) predicts the same way here and adds the
predictive standard deviations, scaled as the run's were (``evaluation.recalibrate``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrun import store
from mlrun.config import GAUSSIAN_LOSSES
from mlrun.data import numeric_column, read_csv_table
from mlrun.errors import DataError, RunError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class Prediction:
    """What :func:`predict_run` wrote: where, how many rows, and how long it took."""

    output: Path
    n: int
    task: str
    seconds: float
    source: str
    """Which inputs were read, e.g. ``x.npz (array 'x')``."""


@dataclass
class Inputs:
    """Raw model inputs read from a file, before scaling."""

    x: np.ndarray
    source: str
    names: list[str] | None = None
    """Per-row names (image file names), written as the ``file`` column."""


def predict_run(
    run_dir: Path, input_path: Path, output_path: Path | None = None, *, batch_size: int = 256
) -> Prediction:
    """Predict with a run's model for the inputs in ``input_path`` and write them as a CSV.

    Args:
        run_dir: a completed run directory (with ``model.keras`` and ``preprocessing.json``).
        input_path: an NPZ file (array ``x``, else ``x_test``, else its first
            array), a CSV file (the training features' columns, in any order; a
            label column is ignored; for a run with ``dataset.cleaning``, raw rows
            with the training CSV's columns, cleaned as the training rows were,
            or the cleaned feature columns), an image file, or a directory of image files
            (image datasets only; same size as the training images).
        output_path: the CSV to write; default ``<run_dir>/predictions-<input stem>.csv``.
        batch_size: inputs per forward pass.

    Returns:
        Where the predictions went and how many there are.

    Raises:
        RunError: the run has no model or no preprocessing record.
        DataError: the inputs are missing, unreadable, or do not have the shape
            or columns the model was trained on.
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    preprocessing = read_preprocessing(run_dir)
    input_path = Path(input_path)
    inputs = read_inputs(input_path, preprocessing)
    scores, std = score_inputs(run_dir, inputs.x, preprocessing, source=inputs.source, batch_size=batch_size)
    header, rows = prediction_table(scores, preprocessing, std=std)
    if inputs.names is not None:
        header, rows = ["file", *header], [[name, *row] for name, row in zip(inputs.names, rows)]
    output = Path(output_path) if output_path is not None else run_dir / f"predictions-{input_path.stem}.csv"
    output.parent.mkdir(parents=True, exist_ok=True)
    store.write_csv(output, header, rows)
    return Prediction(output, len(rows), preprocessing["task"], time.perf_counter() - started, inputs.source)


def read_preprocessing(run_dir: Path) -> dict[str, Any]:
    """Read what the run recorded about its inputs and outputs (``preprocessing.json``), and whether it cleaned them."""
    path = Path(run_dir) / store.PREPROCESSING_FILE
    try:
        preprocessing = store.read_json(path)
    except FileNotFoundError:
        raise RunError(
            f"error: {run_dir} has no {store.PREPROCESSING_FILE}: it is not a run directory, or the run did not start training"
        ) from None
    except (OSError, ValueError) as exc:
        raise RunError(f"error: cannot read {path}: {exc}") from None
    if not (Path(run_dir) / store.MODEL_FILE).is_file():
        raise RunError(
            f"error: {run_dir} has no {store.MODEL_FILE}: the run did not complete, so there is no model to predict with"
        )
    try:
        dataset = store.read_run_info(Path(run_dir)).get("dataset") or {}
    except RunError as exc:  # its dataset record says how CSV inputs were cleaned: do not guess
        raise RunError(f"error: {exc}; predict needs the run's record of its dataset: restore it or retrain") from None
    preprocessing["cleaned"] = isinstance(dataset, dict) and bool(dataset.get("cleaning"))
    return preprocessing


def score_inputs(
    run_dir: Path,
    x: np.ndarray,
    preprocessing: dict[str, Any],
    *,
    source: str = "the inputs",
    batch_size: int = 256,
    model: Any = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Check raw inputs against the run, scale them as the run did and predict them with its model.

    Args:
        run_dir: the run directory.
        x: raw inputs, ``(n, *input_shape)`` (or one sample without the batch axis).
        preprocessing: the run's :func:`read_preprocessing` record.
        source: what ``x`` is, for error messages.
        batch_size: inputs per forward pass.
        model: the run's model, already loaded (default: load ``model.keras``, or every member of
            a deep ensemble from ``members/<i>/model.keras``).

    Returns:
        The model's outputs (an ensemble's: the members' mean; a Gaussian head's: its means) and,
        for a run with Monte Carlo samples, an ensemble or a Gaussian head, their predictive
        standard deviations (else None), scaled as the run's were (``evaluation.recalibrate``).

    Raises:
        RunError: the run was recalibrated but its metrics.json does not say by how much.

        DataError: ``x`` is not numeric, has the wrong shape, or holds NaN or infinite values.
    """
    x = check_shape(x, preprocessing, source)
    from mlrun.artifacts import load_run_model
    from mlrun.data import Preprocessing
    from mlrun.ensemble import load_members
    from mlrun.evaluation import predict_scores

    x = Preprocessing.from_dict(preprocessing["scaling"]).apply(x)
    if model is None:
        model = load_members(run_dir) or load_run_model(run_dir)
    scores, std = predict_scores(
        model, x, batch_size=batch_size, mc_samples=mc_samples(run_dir), gaussian=gaussian_head(preprocessing)
    )
    return scores, std * std_scale(run_dir) if std is not None else None


# --------------------------------------------------------------------------- reading inputs


def read_inputs(path: Path, preprocessing: dict[str, Any]) -> Inputs:
    """Read raw inputs from an NPZ, CSV, image file or directory of images."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"error: input {path} does not exist")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return _read_images(path, preprocessing)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path)
    if suffix in (".csv", ".txt"):
        return _read_csv(path, preprocessing)
    raise DataError(
        f"error: input {path}: unsupported file type {suffix!r}; give an .npz or .csv file, or image files ({', '.join(IMAGE_SUFFIXES)})"
    )


def _read_npz(path: Path) -> Inputs:
    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            if not names:
                raise DataError(f"error: {path} has no arrays; save the inputs with np.savez(path, x=inputs)")
            key = next((k for k in ("x", "x_test") if k in names), names[0])
            x = f[key]
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"error: {path} is not a readable NPZ file ({exc})") from None
    return Inputs(x, f"{path} (array {key!r})")


def _read_csv(path: Path, preprocessing: dict[str, Any]) -> Inputs:
    """The feature columns of a CSV table (any order; label columns ignored), read and parsed as mlrun.data does.

    For a run that cleaned its training CSV, raw rows (the training CSV's columns) are cleaned
    as its training rows were; a table of the cleaned feature columns is read as it is.
    """
    header, rows, _ = read_csv_table(path, [])
    if preprocessing.get("cleaning"):
        from mlrun.data.cleaner import Cleaner

        cleaner = Cleaner.from_dict(preprocessing["cleaning"])
        if set(cleaner.columns) <= set(header) or not set(cleaner.features) <= set(header):
            x = cleaner.replay(header, rows, source=str(path))
            return Inputs(x, f"{path} (raw rows, cleaned as the run's training rows)")
    label = preprocessing.get("label") or "label"
    labels = {label} if isinstance(label, str) else set(label)
    present = [c for c in header if c not in labels]
    features = preprocessing.get("features")
    if features:
        _check_columns(path, header, present, features, labels, cleaned=bool(preprocessing.get("cleaned")))
        columns = list(features)
    else:
        columns = present
    table = np.array(rows, dtype=object)
    x = np.stack([numeric_column(table[:, header.index(c)], c, path) for c in columns], axis=1)
    return Inputs(x, str(path))


def _check_columns(
    path: Path, header: list[str], present: list[str], features: list[str], labels: set[str], *, cleaned: bool
) -> None:
    missing = [c for c in features if c not in header]
    extra = [c for c in present if c not in features]
    if not (missing or extra):
        return
    parts = []
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        parts.append(f"unexpected columns {extra}")
    hint = (
        " The run cleaned its training CSV (dataset.cleaning) but predates preprocessing.json's record of the "
        "fitted cleaning, so predict cannot clean raw rows for it: give the cleaned columns (one-hot columns, "
        "converted numbers, no missing values), or train the run again."
        if cleaned
        else ""
    )
    raise DataError(
        f"error: {path} does not have the columns the model was trained on: {'; '.join(parts)}. "
        f"It needs the feature columns {features} (any order; a label column {sorted(labels)} is ignored).{hint}"
    )


def _read_images(path: Path, preprocessing: dict[str, Any]) -> Inputs:
    shape = tuple(preprocessing["input_shape"])
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3)):
        what = "a directory" if path.is_dir() else "an image"
        raise DataError(
            f"error: {path} is {what}, but this run's model takes inputs of shape {shape}, not images: give an NPZ or CSV file"
        )
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise DataError(f"error: {path} has no image files ({', '.join(IMAGE_SUFFIXES)})")
    from PIL import Image, UnidentifiedImageError

    height, width = shape[0], shape[1]
    mode = "RGB" if len(shape) == 3 and shape[2] == 3 else "L"
    arrays = []
    for file in files:
        try:
            with Image.open(file) as img:
                size = img.size
                arr = np.asarray(img.convert(mode), dtype=np.float32)
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"error: cannot read image {file} ({exc})") from None
        if size != (width, height):
            raise DataError(
                f"error: image {file} is {size[0]}x{size[1]} pixels but the model takes {width}x{height} images: "
                "resize it first (mlrun does not resize)"
            )
        arrays.append(arr.reshape(shape))
    return Inputs(np.stack(arrays), f"{len(files)} image(s) from {path}", [f.name for f in files])


# --------------------------------------------------------------------------- checks and output


def check_shape(x: np.ndarray, preprocessing: dict[str, Any], source: str) -> np.ndarray:
    """Return ``x`` as a numeric (n, *input_shape) batch, or raise DataError naming expected and received shapes."""
    x = np.asarray(x)
    expected = tuple(int(d) for d in preprocessing["input_shape"])
    if x.dtype.kind not in "biuf":
        raise DataError(f"error: {source}: inputs must be numeric, got dtype {x.dtype}")
    if x.shape == expected:
        x = x[None]  # one sample without a batch axis
    if x.shape[1:] != expected or len(x) == 0:
        want = "(n, " + ", ".join(map(str, expected)) + ")"
        hint = ""
        if x.ndim >= 2 and int(np.prod(x.shape[1:])) == int(np.prod(expected)):
            hint = f"; the sizes match: reshape with x.reshape(-1, {', '.join(map(str, expected))})"
        features = preprocessing.get("features")
        if features and len(expected) == 1:
            hint += f"; the features are {features}"
        raise DataError(f"error: {source}: the model takes inputs of shape {want} but got {x.shape}{hint}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"error: {source}: the inputs contain NaN or infinite values; fill or drop them first")
    return x


def prediction_table(
    scores: np.ndarray, preprocessing: dict[str, Any], *, std: np.ndarray | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Turn model outputs into the output CSV: predicted labels and class probabilities, or values.

    Classification: ``y_pred`` (the run's label values) then ``p_<class>``;
    multilabel: ``y_pred_<label>`` (0/1 at 0.5) then ``p_<label>``; regression:
    ``y_pred`` (or ``y_pred_<target>``). With ``std`` (Monte Carlo dropout),
    ``std_<class>`` (regression ``y_std``) columns follow, as in a run's predictions.csv.
    """
    from mlrun.metrics.compute import class_probabilities, std_columns

    task, classes = preprocessing["task"], [str(c) for c in preprocessing["classes"]]
    scores = np.asarray(scores, dtype=np.float64)
    rows: list[list[Any]]
    if task == "regression":
        s2 = scores.reshape(len(scores), -1)
        header = ["y_pred"] if s2.shape[1] == 1 else [f"y_pred_{t}" for t in classes]
        rows = [[*map(float, r)] for r in s2]
    elif task == "multilabel":
        header = [*(f"y_pred_{c}" for c in classes), *(f"p_{c}" for c in classes)]
        rows = [[*map(int, p >= 0.5), *map(float, p)] for p in scores]
    else:
        proba = class_probabilities(scores, task)
        header = ["y_pred", *(f"p_{c}" for c in classes)]
        rows = [[classes[int(p.argmax())], *map(float, p)] for p in proba]
    if std is not None:
        names, columns = std_columns(std, task, classes)
        header, rows = [*header, *names], [[*r, *map(float, d)] for r, d in zip(rows, columns)]
    return header, rows


def mc_samples(run_dir: Path) -> int:
    """The run's evaluation.mc_samples (1 when absent)."""
    value = _evaluation_setting(run_dir, "mc_samples", 1)
    return int(value) if isinstance(value, int) and value >= 1 else 1


def gaussian_head(preprocessing: dict[str, Any]) -> bool:
    """Whether the run's model is a Gaussian head (a mean and a variance per target), from its preprocessing.json."""
    return preprocessing.get("loss") in GAUSSIAN_LOSSES


def std_scale(run_dir: Path) -> float:
    """The factor the run multiplied its stds by (``evaluation.recalibrate``; metrics.json's ``recalibration.scale``).

    1 for a run that was not recalibrated, or whose recalibration was skipped (its stds were not scaled either).

    Raises:
        RunError: the config says the run was recalibrated, but metrics.json does not say by how much.
    """
    if _evaluation_setting(run_dir, "recalibrate", False) in (False, None):
        return 1.0
    path = Path(run_dir) / store.METRICS_FILE
    try:
        record = store.read_json(path).get("recalibration")
    except (OSError, ValueError, AttributeError):
        record = None
    if not isinstance(record, dict) or "scale" not in record:
        raise RunError(
            f"error: {run_dir} was trained with evaluation.recalibrate, but {path} has no recalibration.scale: "
            "its standard deviations cannot be scaled as the run's were; restore metrics.json or retrain"
        )
    scale = record["scale"]
    return float(scale) if isinstance(scale, (int, float)) else 1.0  # None: skipped, nothing scaled


def _evaluation_setting(run_dir: Path, key: str, default: Any) -> Any:
    """A key of the evaluation block of the run's config.yaml (``default`` when absent or unreadable)."""
    import yaml

    try:
        cfg = yaml.safe_load((Path(run_dir) / store.CONFIG_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return default
    block = cfg.get("evaluation") if isinstance(cfg, dict) else None
    return block.get(key, default) if isinstance(block, dict) else default
