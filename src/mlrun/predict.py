"""Use a trained run: predict for new inputs with its model and exactly its preprocessing.

:func:`predict_run` reads the inputs (an NPZ array, a CSV table with the
training features' columns, or image files), checks them against what the run
was trained on (``preprocessing.json``), scales them as the run did, loads
``model.keras`` in Keras' safe mode, and writes one CSV row per input: the
predicted label (the run's original label values) and the probability of each
class, or the predicted values for regression. A run evaluated with Monte Carlo
dropout (``evaluation.mc_samples``) predicts the same way here and adds the
predictive standard deviations.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrun import store
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
            label column is ignored), an image file, or a directory of image files
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
    spec = read_spec(run_dir)
    input_path = Path(input_path)
    inputs = read_inputs(input_path, spec)
    x = check_shape(inputs.x, spec, inputs.source)

    from mlrun.data import Preprocessing
    from mlrun.runner import load_run_model, mc_dropout_predict

    x = Preprocessing.from_dict(spec["scaling"]).apply(x)
    model = load_run_model(run_dir)
    mc_samples = _mc_samples(run_dir)
    std = None
    if mc_samples > 1:
        scores, std = mc_dropout_predict(model, x, mc_samples, batch_size=batch_size)
    else:
        scores = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    header, rows = prediction_table(scores, spec, std=std)
    if inputs.names is not None:
        header, rows = ["file", *header], [[name, *row] for name, row in zip(inputs.names, rows)]
    output = Path(output_path) if output_path is not None else run_dir / f"predictions-{input_path.stem}.csv"
    output.parent.mkdir(parents=True, exist_ok=True)
    store.write_csv(output, header, rows)
    return Prediction(output, len(rows), spec["task"], time.perf_counter() - started, inputs.source)


def read_spec(run_dir: Path) -> dict[str, Any]:
    """Read what the run recorded about its inputs and outputs (``preprocessing.json``)."""
    path = Path(run_dir) / store.PREPROCESSING_FILE
    try:
        spec = store.read_json(path)
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
    except RunError:
        dataset = {}
    spec["cleaned"] = isinstance(dataset, dict) and bool(dataset.get("cleaning"))
    return spec


# --------------------------------------------------------------------------- reading inputs


def read_inputs(path: Path, spec: dict[str, Any]) -> Inputs:
    """Read raw inputs from an NPZ, CSV, image file or directory of images."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"error: input {path} does not exist")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return _read_images(path, spec)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path)
    if suffix in (".csv", ".txt"):
        return _read_csv(path, spec)
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


def _read_csv(path: Path, spec: dict[str, Any]) -> Inputs:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"error: cannot read {path} ({exc})") from None
    if len(rows) < 2:
        raise DataError(f"error: {path} needs a header row and at least one row of inputs")
    header = [h.strip() for h in rows[0]]
    label = spec.get("label") or "label"
    labels = {label} if isinstance(label, str) else set(label)
    present = [c for c in header if c not in labels]
    features = spec.get("features")
    if features:
        missing = [c for c in features if c not in header]
        extra = [c for c in present if c not in features]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing columns {missing}")
            if extra:
                parts.append(f"unexpected columns {extra}")
            cleaned = (
                " The run cleaned its training CSV (dataset.cleaning), and predict does not clean: give the cleaned "
                "columns (one-hot columns, converted numbers, no missing values)."
                if spec.get("cleaned")
                else ""
            )
            raise DataError(
                f"error: {path} does not have the columns the model was trained on: {'; '.join(parts)}. "
                f"It needs the feature columns {features} (any order; a label column {sorted(labels)} is ignored).{cleaned}"
            )
        order = [header.index(c) for c in features]
    else:
        order = [header.index(c) for c in present]
    x = np.empty((len(rows) - 1, len(order)), dtype=np.float64)
    for i, r in enumerate(rows[1:]):
        if len(r) != len(header):
            raise DataError(f"error: {path} line {i + 2} has {len(r)} fields but the header has {len(header)}")
        for j, col in enumerate(order):
            text = r[col].strip()
            try:
                x[i, j] = float(text)
            except ValueError:
                what = "is empty" if not text else f"is not a number ({text!r})"
                raise DataError(
                    f"error: {path} line {i + 2}, column {header[col]!r} {what}: inputs must be numbers"
                ) from None
    return Inputs(x, str(path))


def _read_images(path: Path, spec: dict[str, Any]) -> Inputs:
    shape = tuple(spec["input_shape"])
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


def check_shape(x: np.ndarray, spec: dict[str, Any], source: str) -> np.ndarray:
    """Return ``x`` as a numeric (n, *input_shape) batch, or raise DataError naming expected and received shapes."""
    x = np.asarray(x)
    expected = tuple(int(d) for d in spec["input_shape"])
    if x.dtype.kind not in "biuf":
        raise DataError(f"error: {source}: inputs must be numeric, got dtype {x.dtype}")
    if x.shape == expected:
        x = x[None]  # one sample without a batch axis
    if x.shape[1:] != expected or len(x) == 0:
        want = "(n, " + ", ".join(map(str, expected)) + ")"
        hint = ""
        if x.ndim >= 2 and int(np.prod(x.shape[1:])) == int(np.prod(expected)):
            hint = f"; the sizes match: reshape with x.reshape(-1, {', '.join(map(str, expected))})"
        features = spec.get("features")
        if features and len(expected) == 1:
            hint += f"; the features are {features}"
        raise DataError(f"error: {source}: the model takes inputs of shape {want} but got {x.shape}{hint}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"error: {source}: the inputs contain NaN or infinite values; fill or drop them first")
    return x


def prediction_table(
    scores: np.ndarray, spec: dict[str, Any], *, std: np.ndarray | None = None
) -> tuple[list[str], list[list[Any]]]:
    """Turn model outputs into the output CSV: predicted labels and class probabilities, or values.

    Classification: ``y_pred`` (the run's label values) then ``p_<class>``;
    multilabel: ``y_pred_<label>`` (0/1 at 0.5) then ``p_<label>``; regression:
    ``y_pred`` (or ``y_pred_<target>``). With ``std`` (Monte Carlo dropout),
    ``std_<class>`` (regression ``y_std``) columns follow, as in a run's predictions.csv.
    """
    from mlrun.metrics.compute import class_probabilities

    task, classes = spec["task"], [str(c) for c in spec["classes"]]
    scores = np.asarray(scores, dtype=np.float64)
    if task == "regression":
        s2 = scores.reshape(len(scores), -1)
        header = ["y_pred"] if s2.shape[1] == 1 else [f"y_pred_{t}" for t in classes]
        rows = [[*map(float, r)] for r in s2]
        if std is not None:
            d2 = np.asarray(std).reshape(len(std), -1)
            header += ["y_std"] if d2.shape[1] == 1 else [f"y_std_{t}" for t in classes]
            rows = [[*r, *map(float, d)] for r, d in zip(rows, d2)]
        return header, rows
    if task == "multilabel":
        header = [*(f"y_pred_{c}" for c in classes), *(f"p_{c}" for c in classes)]
        rows = [[*map(int, p >= 0.5), *map(float, p)] for p in scores]
    else:
        proba = class_probabilities(scores, task)
        header = ["y_pred", *(f"p_{c}" for c in classes)]
        rows = [[classes[int(p.argmax())], *map(float, p)] for p in proba]
    if std is not None:
        d2 = np.asarray(std, dtype=np.float64)
        d2 = d2[:, None] if d2.ndim == 1 else d2
        if task == "binary" and d2.shape[1] == 1:
            d2 = np.hstack([d2, d2])
        header += [f"std_{c}" for c in classes]
        rows = [[*r, *map(float, d)] for r, d in zip(rows, d2)]
    return header, rows


def _mc_samples(run_dir: Path) -> int:
    """The run's evaluation.mc_samples (1 when absent)."""
    import yaml

    try:
        cfg = yaml.safe_load((Path(run_dir) / store.CONFIG_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return 1
    value = (cfg.get("evaluation") or {}).get("mc_samples", 1) if isinstance(cfg, dict) else 1
    return int(value) if isinstance(value, int) and value >= 1 else 1
