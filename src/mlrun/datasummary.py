"""What a config's prepared data looks like: shapes, dtypes, class balance per split, value ranges, cleaning.

:func:`summarize_data` loads the data exactly as ``mlrun train`` does and
describes it as plain JSON-able data; ``mlrun data`` prints it and a run
records it (``data.json``), with a few images per class (``samples.npz``) for
image datasets, so the report can show them without loading the dataset or
TensorFlow again.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from mlrun import store
from mlrun.config import ExperimentConfig
from mlrun.data import Dataset, load_dataset

#: At most this many features get a row of their own in the summary.
MAX_FEATURE_ROWS = 50
#: Sample images per class in samples.npz (fewer when there are many classes), and in all.
SAMPLES_PER_CLASS = 8
MAX_SAMPLES = 120


def load_for_summary(cfg: ExperimentConfig, *, base_dir: Path | None = None) -> Dataset:
    """Load and prepare the config's data as ``mlrun train`` does (same seed, splits, cleaning, scaling)."""
    return load_dataset(cfg.dataset, seed=cfg.seed, task=cfg.task, loss=cfg.loss, base_dir=base_dir)


def summarize_data(data: Dataset, *, name: str | None = None) -> dict[str, Any]:
    """Describe a prepared dataset as plain data (what ``data.json`` holds).

    Returns:
        source, task, classes, input shape and dtype, scaling, notes, cleaning
        record, one entry per split (size, input range, class counts or target
        statistics) and, for flat inputs, per-feature statistics of the
        training inputs.
    """
    splits = []
    for split, x, y in (
        ("train", data.x_train, data.y_train),
        ("validation", data.x_val, data.y_val),
        ("calibration", data.x_cal, data.y_cal),
        ("test", data.x_test, data.y_test),
    ):
        if x is None or len(x) == 0:
            continue
        entry: dict[str, Any] = {"split": split, "n": int(len(x)), **_stats(x)}
        if data.task in ("binary", "multiclass"):
            counts = np.bincount(np.asarray(y, dtype=np.int64).reshape(-1), minlength=len(data.classes))
            entry["classes"] = {c: int(n) for c, n in zip(data.classes, counts)}
        elif data.task == "multilabel":
            entry["classes"] = {c: int(n) for c, n in zip(data.classes, np.asarray(y).sum(axis=0))}
        else:
            entry["targets"] = _stats(np.asarray(y, dtype=np.float64))
        splits.append(entry)
    out: dict[str, Any] = {
        "name": name,
        "source": data.source,
        "task": data.task,
        "classes": list(data.classes),
        "input_shape": list(data.input_shape),
        "dtype": str(data.x_train.dtype),
        "scaling": data.preprocessing.kind,
        "splits": splits,
        "fingerprint": data.fingerprint(),
        "notes": list(data.notes),
        "cleaning": data.cleaning,
        "image": is_image(data.input_shape),
    }
    if len(data.input_shape) == 1:
        names = data.features or [f"x{i}" for i in range(data.input_shape[0])]
        x = data.x_train.astype(np.float64)
        out["features"] = [{"name": n, **_stats(x[:, i])} for i, n in enumerate(names[:MAX_FEATURE_ROWS])]
        out["features_total"] = len(names)
    return out


def is_image(input_shape: tuple[int, ...] | list[int]) -> bool:
    """Images: (height, width) or (height, width, 1|3|4 channels), both sides at least 5 pixels."""
    shape = tuple(input_shape)
    if len(shape) == 2:
        return min(shape) >= 5
    return len(shape) == 3 and shape[2] in (1, 3, 4) and min(shape[:2]) >= 5


def sample_images(data: Dataset, *, seed: int = 0) -> dict[str, np.ndarray] | None:
    """A few training images per class as uint8 (``x``) with their class indices (``y``); None unless images of classes."""
    if not is_image(data.input_shape) or data.task not in ("binary", "multiclass"):
        return None
    per_class = max(1, min(SAMPLES_PER_CLASS, MAX_SAMPLES // max(1, len(data.classes))))
    rng = np.random.default_rng(seed)
    y = np.asarray(data.y_train).reshape(-1)
    picked = []
    for c in range(len(data.classes)):
        idx = np.flatnonzero(y == c)
        if len(idx):
            picked.append(np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False)))
    if not picked:
        return None
    idx = np.concatenate(picked)
    x = data.x_train[idx].astype(np.float64)
    lo, hi = float(x.min()), float(x.max())
    images = np.zeros(x.shape, dtype=np.uint8) if hi <= lo else np.round((x - lo) / (hi - lo) * 255).astype(np.uint8)
    return {"x": images, "y": y[idx].astype(np.int64)}


def write_data_files(run_dir: Path, data: Dataset, *, name: str | None = None, seed: int = 0) -> None:
    """Record the data summary (``data.json``) and, for image datasets, sample images (``samples.npz``) in a run directory."""
    store.write_json(Path(run_dir) / store.DATA_FILE, summarize_data(data, name=name))
    samples = sample_images(data, seed=seed)
    if samples is not None:
        buf = io.BytesIO()
        arrays: dict[str, Any] = samples  # savez's keyword arrays: numpy's stubs also let them be allow_pickle
        np.savez_compressed(buf, **arrays)
        store.write_atomic(Path(run_dir) / store.SAMPLES_FILE, buf.getvalue())


def _stats(x: np.ndarray) -> dict[str, float]:
    # Accumulated in float64 chunk by chunk: a float64 copy of MNIST's training inputs alone would be 300 MB.
    flat = np.asarray(x).reshape(-1)
    if flat.size == 0:
        return {}
    mean = float(np.mean(flat, dtype=np.float64))
    squares = 0.0
    for start in range(0, flat.size, 1 << 20):
        centered = flat[start : start + (1 << 20)].astype(np.float64) - mean
        squares += float(np.dot(centered, centered))
    return {
        "min": float(flat.min()),
        "max": float(flat.max()),
        "mean": mean,
        "std": float(np.sqrt(squares / flat.size)),
    }


def load_data_config(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a config for ``mlrun data``; a sweep config is accepted too (its base config's data is the same for every point)."""
    from mlrun.config import load_config, read_yaml

    raw, _ = read_yaml(Path(path))
    if "sweep" not in raw:
        return load_config(path, overrides)
    raw.pop("sweep")
    return load_config(path, overrides, data=raw)


def describe_config_data(
    cfg: ExperimentConfig, *, base_dir: Path | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """Load the config's data as training would; return its summary and, for images, sample images per class."""
    data = load_for_summary(cfg, base_dir=base_dir)
    return summarize_data(data, name=cfg.name), sample_images(data, seed=cfg.seed)
