"""Read a run directory into plain data, tolerating whatever is missing.

A failed, interrupted or crashed run has only some of its files, and a killed
process may leave a file half written. Reading never raises for that: absent
files go to ``missing`` and unreadable ones to ``problems``, so the terminal
report and the HTML page can show what exists and say what does not.
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

import yaml

from mlrun import store

REPORT_FILE = "report.html"

T = TypeVar("T")

#: Files a finished classification run has beyond those every run has.
_CLASSIFICATION_FILES = (store.CONFUSION_FILE, store.ROC_FILE, store.PR_FILE)


@dataclass
class Curve:
    """One curve of a ROC or precision-recall plot: x and y values of one class."""

    x: list[float]
    y: list[float]


@dataclass
class Confusion:
    """A confusion matrix: ``counts[i][j]`` samples of true ``labels[i]`` predicted ``labels[j]``."""

    labels: list[str]
    counts: list[list[int]]


@dataclass
class LabelConfusion:
    """One label's 2x2 counts in a multilabel run."""

    label: str
    tn: int
    fp: int
    fn: int
    tp: int


@dataclass
class RunData:
    """Everything a report shows about one run; every part may be absent."""

    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    config_text: str | None = None
    history: list[dict[str, float | None]] = field(default_factory=list)
    metrics: dict[str, Any] | None = None
    confusion: Confusion | None = None
    label_confusion: list[LabelConfusion] | None = None
    summary: str | None = None
    roc: dict[str, Curve] | None = None
    pr: dict[str, Curve] | None = None
    predictions: list[dict[str, str]] | None = None
    data: dict[str, Any] | None = None
    """The data summary (``data.json``): splits, class balance, value ranges, cleaning."""
    samples: dict[str, Any] | None = None
    """Sample training images per class (``samples.npz``: ``x`` uint8, ``y`` class indices)."""
    weights: dict[str, Any] | None = None
    """Learned weights and bias of a single-layer model (``weights.json``: perceptron, linear)."""
    calibration: list[dict[str, str]] | None = None
    """``calibration.csv``: classification, the reliability bins behind the ECE (bin_lower, bin_upper, count,
    confidence, accuracy); regression with a predictive std, expected against observed coverage."""
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.info.get("id") or self.path.name)

    @property
    def name(self) -> str:
        return str(self.info.get("name") or (self.config or {}).get("name") or self.path.name)

    @property
    def status(self) -> str:
        return store.effective_status(self.info) if self.info else "unknown"

    @property
    def task(self) -> str | None:
        for source in (self.info, self.config or {}, self.metrics or {}):
            if isinstance(source.get("task"), str):
                return source["task"]
        return None

    @property
    def classes(self) -> list[str]:
        """Label names, from run.json, else from the metrics or the confusion matrix."""
        dataset = self.info.get("dataset")
        if isinstance(dataset, Mapping) and isinstance(dataset.get("classes"), list):
            return [str(c) for c in dataset["classes"]]
        per_class = (self.metrics or {}).get("per_class")
        if isinstance(per_class, Mapping):
            return [str(c) for c in per_class]
        return list(self.confusion.labels) if self.confusion else []

    @property
    def history_keys(self) -> list[str]:
        """Logged quantities in history.csv order, without ``epoch``."""
        keys: dict[str, None] = {}
        for row in self.history:
            keys.update(dict.fromkeys(k for k in row if k != "epoch"))
        return list(keys)

    @property
    def best_epoch(self) -> int | None:
        """The epoch run.json names as best, else the one with the lowest validation (or training) loss."""
        best = self.info.get("best_epoch")
        if isinstance(best, int) and not isinstance(best, bool):
            return best
        for key in ("val_loss", "loss"):
            scored = [
                (value, int(epoch))
                for row in self.history
                if _is_finite_number(value := row.get(key)) and (epoch := row.get("epoch")) is not None
            ]
            if scored:
                return min(scored)[1]
        return None

    @property
    def epochs(self) -> list[int]:
        """The epoch of each history.csv row, in order."""
        return [int(row.get("epoch") or 0) for row in self.history]

    @property
    def epochs_completed(self) -> int:
        """Epochs finished, from run.json, else counted in history.csv."""
        done = self.info.get("epochs_completed")
        if isinstance(done, int) and not isinstance(done, bool):
            return done
        return len(self.history)

    def history_row(self, epoch: int | None) -> dict[str, float | None] | None:
        """Return the history row of ``epoch`` (1-based), or None."""
        return next((row for row in self.history if row.get("epoch") == epoch), None)

    @property
    def duration_s(self) -> float | None:
        """Seconds the run took (or has taken so far, while it runs)."""
        duration = self.info.get("duration_s")
        if isinstance(duration, (int, float)):
            return float(duration)
        start = _parse_time(self.info.get("started_at"))
        end = _parse_time(self.info.get("ended_at"))
        if start and not end and self.status == "running":
            end = _dt.datetime.now().astimezone()
        return (end - start).total_seconds() if start and end else None

    def config_get(self, dotted: str) -> Any:
        """Return the config value at a dotted key, or None."""
        node: Any = self.config or {}
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node


# --------------------------------------------------------------------------- reading


def load_run(path: Path, *, details: bool = True) -> RunData:
    """Read a run directory; never raises for missing or damaged files.

    Args:
        path: the run directory.
        details: also read the ROC and precision-recall curves and, for
            regression, the predictions (what the HTML page plots).
    """
    path = Path(path)
    run = RunData(path=path)
    info = _read(run, store.RUN_FILE, store.read_json)
    run.info = info if isinstance(info, dict) else {}
    if info is not None and not isinstance(info, dict):
        run.problems.append(f"{store.RUN_FILE}: expected a JSON object, got {type(info).__name__}")
    run.config_text = _read(run, store.CONFIG_FILE, lambda p: p.read_text(encoding="utf-8"))
    if run.config_text is not None:
        try:
            loaded = yaml.safe_load(run.config_text)
        except yaml.YAMLError as exc:
            run.problems.append(f"{store.CONFIG_FILE}: not valid YAML ({first_line(exc)})")
        else:
            if isinstance(loaded, dict):
                run.config = loaded
            elif loaded is not None:
                run.problems.append(f"{store.CONFIG_FILE}: expected a mapping, got {type(loaded).__name__}")
    run.history = _read(run, store.HISTORY_FILE, _read_history) or []
    run.metrics = _checked_metrics(run, _read(run, store.METRICS_FILE, store.read_json))
    run.summary = _read(run, store.SUMMARY_FILE, lambda p: p.read_text(encoding="utf-8"))
    weights = _read(run, store.WEIGHTS_FILE, store.read_json)
    run.weights = weights if isinstance(weights, dict) else None
    data = _read(run, store.DATA_FILE, store.read_json)
    run.data = data if isinstance(data, dict) else None

    task = run.task
    if task == "multilabel":
        run.label_confusion = _read(run, store.CONFUSION_FILE, _read_label_confusion)
    elif task != "regression":
        run.confusion = _read(run, store.CONFUSION_FILE, _read_confusion)
    if details:
        if task != "regression":
            run.roc = _read(run, store.ROC_FILE, lambda p: _read_curves(p, "fpr", "tpr"))
            run.pr = _read(run, store.PR_FILE, lambda p: _read_curves(p, "recall", "precision"))
        # classification: reliability bins; regression (with a predictive std): expected vs observed coverage
        run.calibration = _read(run, store.CALIBRATION_FILE, store.read_csv)
        if task == "regression" or task is None:
            run.predictions = _read(run, store.PREDICTIONS_FILE, store.read_csv)
        run.samples = _read(run, store.SAMPLES_FILE, _read_samples)
    run.missing = _missing_files(path, task)
    return run


def _read(run: RunData, name: str, reader: Callable[[Path], T]) -> T | None:
    """Read ``run.path / name`` with ``reader``; None if absent, a problem noted if unreadable."""
    file = run.path / name
    if not file.is_file():
        return None
    try:
        return reader(file)
    except (OSError, ValueError, KeyError, IndexError, TypeError, csv.Error) as exc:
        run.problems.append(f"{name}: could not be read ({first_line(exc)})")
        return None


#: metrics.json's entries that are text, not numbers.
_TEXT_METRICS = frozenset({"task", "positive_label", "warning"})


def _checked_metrics(run: RunData, metrics: Any) -> dict[str, Any] | None:
    """metrics.json's object without the entries that should be numbers and are not; each one a problem."""
    if metrics is None:
        return None
    if not isinstance(metrics, dict):
        run.problems.append(f"{store.METRICS_FILE}: expected a JSON object of metrics, got {type(metrics).__name__}")
        return None
    kept: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, str) and key not in _TEXT_METRICS:
            run.problems.append(f"{store.METRICS_FILE}: {key!r} is not a number ({value!r}); left out")
        else:
            kept[key] = value
    return kept


def _missing_files(path: Path, task: str | None) -> list[str]:
    expected = [store.RUN_FILE, store.CONFIG_FILE, store.HISTORY_FILE, store.SUMMARY_FILE, store.METRICS_FILE]
    if task != "regression":
        expected += _CLASSIFICATION_FILES
    expected += [store.PREDICTIONS_FILE, store.MODEL_FILE]
    return [name for name in expected if not (path / name).is_file()]


def _read_history(path: Path) -> list[dict[str, float | None]]:
    rows = []
    for raw in store.read_csv(path):
        epoch = to_float(raw.get("epoch"))
        if epoch is None:
            continue  # a half-written last line
        row: dict[str, float | None] = {k: to_float(v) for k, v in raw.items() if k and k != "epoch"}
        row["epoch"] = int(epoch)
        rows.append(row)
    return rows


def _read_samples(path: Path) -> dict[str, Any]:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as f:
            return {"x": f["x"], "y": f["y"]}
    except Exception as exc:  # a truncated or damaged zip file (EOFError, zipfile.BadZipFile, ...)
        raise ValueError(f"not a readable NPZ file ({type(exc).__name__})") from None


def _read_confusion(path: Path) -> Confusion:
    with open(path, encoding="utf-8", newline="") as f:
        table = [row for row in csv.reader(f) if row]
    labels = table[0][1:]
    counts = [[int(float(v)) for v in row[1 : len(labels) + 1]] for row in table[1:]]
    if len(counts) != len(labels) or any(len(row) != len(labels) for row in counts):
        raise ValueError(f"expected a {len(labels)}x{len(labels)} matrix")
    return Confusion(labels=labels, counts=counts)


def _read_label_confusion(path: Path) -> list[LabelConfusion]:
    return [
        LabelConfusion(row["label"], *(int(float(row[k])) for k in ("tn", "fp", "fn", "tp")))
        for row in store.read_csv(path)
    ]


def _read_curves(path: Path, x_key: str, y_key: str) -> dict[str, Curve]:
    # csv.reader, not DictReader: a precision-recall file of a 10,000-sample
    # test set has hundreds of thousands of rows, and dicts triple the time.
    curves: dict[str, Curve] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        i_class, i_x, i_y = header.index("class"), header.index(x_key), header.index(y_key)
        for row in reader:
            try:
                x, y = float(row[i_x]), float(row[i_y])
            except (ValueError, IndexError):
                continue  # an empty cell, or a line cut short
            curve = curves.get(row[i_class])
            if curve is None:
                curve = curves[row[i_class]] = Curve([], [])
            curve.x.append(x)
            curve.y.append(y)
    return curves


# --------------------------------------------------------------------------- small helpers


def to_float(value: Any) -> float | None:
    """Parse a CSV or JSON cell as a float; None for empty or non-numeric cells."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _is_finite_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _parse_time(value: Any) -> _dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.astimezone()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
