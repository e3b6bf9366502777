"""What a report shows, independent of how: labelled values, table rows, notices.

The terminal report and the HTML page both build on these, so they agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from mlrun import store
from mlrun.metrics import registry
from mlrun.report.rundata import RunData

LEARNING_RATE_KEYS = ("learning_rate", "lr")

#: Keys of metrics.json that are not metrics. mc_samples is a setting: the report shows it with the config.
_NOT_METRICS = {"task", "n_test", "per_class", "mc_samples", "positive_label", "test_is_training_data", "warning"}
#: Settings recorded in metrics.json, and how people read them.
_SETTING_LABELS = {"mc_samples": "MC dropout samples"}


#: The notice of a run whose test set is its training data (``test_size: 0``; metrics.json says so).
TRAINING_DATA_NOTICE = (
    "The test metrics of this run are computed on its training data (dataset.test_size: 0), not on held-out "
    "data: they say whether the model fits what it was trained on, not how it does on new data."
)


@dataclass(frozen=True)
class Notice:
    """A message shown above the report: ``level`` is ``error``, ``warning`` or ``info``."""

    level: str
    text: str


def metric_label(key: str) -> str:
    """Return a readable name for a metric key (``f1_macro`` -> ``F1 (macro)``); the registry owns the labels."""
    return _SETTING_LABELS.get(key) or registry.label(key)


def fmt(value: Any) -> str:
    """Format a metric or count for display: 4 decimals, thousands separators, ``—`` for none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        if abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.4f}"
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    """Format seconds as ``4.2 s``, ``3 min 12 s`` or ``1 h 02 min``."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def plain(value: Any) -> str:
    """Format a config value as written in YAML (lists inline, None as ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(plain(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {plain(v)}" for k, v in value.items()) + "}"
    return str(value)


# --------------------------------------------------------------------------- identity and config


def identity(run: RunData) -> list[tuple[str, str]]:
    """Return the run's identity and timing as (label, text) pairs."""
    info = run.info
    items = [
        ("run id", run.run_id),
        ("name", run.name),
        ("status", run.status),
        ("task", run.task or "—"),
        ("started", str(info.get("started_at") or "—")),
        ("ended", str(info.get("ended_at") or "—")),
        ("duration", fmt_duration(run.duration_s)),
    ]
    if info.get("smoke"):
        items.append(("smoke run", "yes (a quick check, not a real result)"))
    return items


def key_values(run: RunData) -> list[tuple[str, str]]:
    """Return the key config values (dataset, topology, loss, optimizer, ...) as (label, text) pairs."""
    get = run.config_get
    found = run.info.get("dataset")
    dataset: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    items = [
        ("dataset", str(get("dataset.name") or get("dataset.path") or dataset.get("name") or "—")),
        ("samples", _sizes(dataset)),
        ("topology", describe_model(get("model"))),
        ("parameters", fmt(run.info.get("params"))),
        ("loss", plain(get("loss")) if get("loss") is not None else "—"),
        ("optimizer", str(get("optimizer.name") or "—")),
        ("learning rate", plain(get("optimizer.learning_rate")) if get("optimizer.learning_rate") else "—"),
        ("epochs", _epochs(run)),
        ("batch size", plain(get("training.batch_size")) if get("training.batch_size") else "—"),
        ("seed", plain(get("seed")) if get("seed") is not None else plain(run.info.get("seed"))),
    ]
    mc = get("evaluation.mc_samples")
    if isinstance(mc, int) and mc > 1:
        items.append(("MC dropout", f"{mc} samples per test prediction"))
    recalibration = (run.metrics or {}).get("recalibration")
    if isinstance(recalibration, Mapping):
        items.append(("recalibration", _recalibration_text(recalibration)))
    return items


def _sizes(dataset: Mapping[str, Any]) -> str:
    """``800 / 200 / 250 (train / val / test)``; the calibration split's size too, when the run had one."""
    parts = ["train", "val", "test"]
    if isinstance(dataset.get("n_cal"), int) and dataset["n_cal"] > 0:
        parts.insert(2, "cal")
    sizes = [dataset.get(f"n_{part}") for part in parts]
    return " / ".join(fmt(s) for s in sizes) + f" ({' / '.join(parts)})" if any(sizes) else "—"


def _recalibration_text(record: Mapping[str, Any]) -> str:
    """``stds × 1.0832 (sigma), fitted on 353 validation targets``, or why none was fitted."""
    scale = record.get("scale")
    if not isinstance(scale, (int, float)):
        return f"skipped: {record.get('skipped') or 'no scale recorded'}"
    where = str(record.get("fitted_on") or "validation").replace("_", " ")
    method = record.get("method") or "sigma"  # runs from before the coverage method recorded none
    return f"stds × {fmt(float(scale))} ({method}), fitted on {fmt(record.get('n'))} {where} targets"


def _epochs(run: RunData) -> str:
    planned = run.config_get("training.epochs")
    done = run.epochs_completed
    if planned is None:
        return fmt(done)
    return f"{fmt(planned)} ({fmt(done)} run)" if done != planned else fmt(planned)


def describe_model(model: Any) -> str:
    """Describe a model config in one line, e.g. ``mlp: dense 256 → 64 (relu, dropout 0.2)``."""
    if not isinstance(model, Mapping):
        return "—"
    arch = str(model.get("architecture") or "model")
    layers = model.get("layers")
    if isinstance(layers, list) and layers:
        parts = [_describe_layer(layer) for layer in layers[:12]]
        if len(layers) > 12:
            parts.append(f"… ({len(layers)} layers)")
        return f"{arch}: " + " → ".join(parts)
    units = model.get("hidden_units")
    if isinstance(units, list) and units:
        extras = [str(model.get("activation") or "relu")]
        if model.get("dropout"):
            extras.append(f"dropout {plain(model['dropout'])}")
        if model.get("batch_normalization"):
            extras.append("batch norm")
        return f"{arch}: dense " + " → ".join(plain(u) for u in units) + f" ({', '.join(extras)})"
    return arch


def _describe_layer(layer: Any) -> str:
    if not isinstance(layer, Mapping):
        return plain(layer)
    args = [plain(layer[k]) for k in ("units", "filters", "kernel_size", "pool_size", "rate") if k in layer]
    activation = layer.get("activation")
    if activation and activation != "linear":
        args.append(str(activation))
    kind = str(layer.get("type") or "?")
    return f"{kind}({', '.join(args)})" if args else kind


# --------------------------------------------------------------------------- training and test results


def base_metrics(run: RunData) -> list[str]:
    """Return the training quantities logged per epoch (``loss``, ``accuracy``, ...), loss first."""
    keys = run.history_keys
    bases = [k for k in keys if not k.startswith("val_") and k not in LEARNING_RATE_KEYS]
    bases += [k[4:] for k in keys if k.startswith("val_") and k[4:] not in bases]
    return sorted(bases, key=lambda k: (k != "loss", bases.index(k)))


def training_rows(run: RunData) -> list[tuple[str, float | None, float | None, float | None]]:
    """Return (metric, final train, final validation, validation at the best epoch) per logged metric."""
    if not run.history:
        return []
    last = run.history[-1]
    best = run.history_row(run.best_epoch) or {}
    return [(m, last.get(m), last.get(f"val_{m}"), best.get(f"val_{m}", best.get(m))) for m in base_metrics(run)]


def evaluation_metrics(run: RunData) -> list[tuple[str, float | None]]:
    """Return the test-set metrics (key, value) in a stable, readable order."""
    metrics = run.metrics or {}
    keys = [k for k in registry.METRICS if k in metrics and k not in _NOT_METRICS]
    keys += sorted(k for k, v in metrics.items() if k not in keys and k not in _NOT_METRICS and is_number(v))
    return [(k, as_number(metrics.get(k))) for k in keys]


def per_class_rows(
    run: RunData,
) -> list[tuple[str, float | None, float | None, float | None, int | None, float | None]]:
    """Return (label, precision, recall, F1, support, AUC) per class, in label order."""
    per_class = (run.metrics or {}).get("per_class")
    if not isinstance(per_class, Mapping):
        return []
    order = [c for c in run.classes if c in per_class] + [c for c in per_class if c not in run.classes]
    rows = []
    for label in order:
        entry = per_class[label] if isinstance(per_class[label], Mapping) else {}
        support = entry.get("support")
        rows.append(
            (
                str(label),
                as_number(entry.get("precision")),
                as_number(entry.get("recall")),
                as_number(entry.get("f1")),
                int(support) if is_number(support) else None,
                as_number(entry.get("auc")),
            )
        )
    return rows


def metadata(run: RunData) -> list[tuple[str, str]]:
    """Return versions, platform, host and dataset provenance as (label, text) pairs."""
    info = run.info
    items = [(label, value) for label, value in identity(run) if label in ("started", "ended", "duration")]
    versions = info.get("versions")
    if isinstance(versions, Mapping):
        items += [(str(k), str(v)) for k, v in versions.items()]
    platform = info.get("platform")
    if isinstance(platform, Mapping):
        for key, value in platform.items():
            items.append((str(key), plain(value) if isinstance(value, (list, tuple, Mapping)) else str(value)))
    for key in ("host", "pid"):
        if info.get(key) is not None:
            items.append((key, str(info[key])))
    command = info.get("command")
    if isinstance(command, list):
        items.append(("command", " ".join(str(part) for part in command)))
    dataset = info.get("dataset")
    if isinstance(dataset, Mapping):
        for key, value in dataset.items():
            if key != "classes":
                items.append((f"dataset.{key}", plain(value)))
    items.append(("run directory", str(run.path)))
    return items


def notices(run: RunData) -> list[Notice]:
    """Return what a reader should know first: errors, an unfinished run, missing or damaged files."""
    status = run.status
    out: list[Notice] = []
    epochs = run.epochs_completed
    if status == "failed":
        out.append(
            Notice("error", f"This run failed after {epochs} epoch(s): {run.info.get('error') or 'no error recorded'}")
        )
    elif status == "interrupted":
        out.append(Notice("warning", f"This run was interrupted after {epochs} epoch(s); it shows what was saved."))
    elif status == "diverged":
        error = run.info.get("error") or "the loss became NaN or infinite"
        out.append(Notice("error", f"This run diverged after {epochs} epoch(s): {error}"))
    elif status == "crashed":
        out.append(
            Notice(
                "error",
                f"This run's process (pid {run.info.get('pid')}) is gone without recording an end: it crashed or was killed.",
            )
        )
    elif status == "running":
        out.append(
            Notice("info", f"This run is still running ({epochs} epoch(s) so far); the report shows its progress.")
        )
    elif status == "unknown":
        out.append(Notice("error", f"{store.RUN_FILE} could not be read: identity and status are unknown."))
    if run.missing:
        if status == "completed":
            lost = f"Missing, though the run completed (deleted or lost since): {', '.join(run.missing)}."
            out.append(Notice("warning", lost))
        else:
            out.append(Notice("info", f"Not written (the run did not get that far): {', '.join(run.missing)}."))
    out += [Notice("warning", problem) for problem in run.problems]
    if (run.metrics or {}).get("test_is_training_data") is True:
        out.append(Notice("warning", TRAINING_DATA_NOTICE))
    return out


def is_number(value: Any) -> TypeGuard[int | float]:
    """True for an int or a float, but not a bool (JSON's ``true`` is not 1 in a report)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_number(value: Any) -> float | None:
    """``value`` as a float when :func:`is_number`, else None."""
    return float(value) if is_number(value) else None


def short_label(text: str, width: int = 24) -> str:
    """Shorten ``text`` to ``width`` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def column_labels(runs: Sequence[RunData]) -> list[str]:
    """Return short, distinct column headings for runs shown side by side: ``#1 name``."""
    return [f"#{i} {short_label(run.name, 20)}" for i, run in enumerate(runs, 1)]


MAX_WEIGHT_ROWS = 30


def weight_rows(run: RunData) -> tuple[list[str], list[list[str]]] | None:
    """Return (header, rows) of a single-layer model's learned weights (``weights.json``), bias last; None without one.

    One row per input feature and a column per output unit; with more than
    :data:`MAX_WEIGHT_ROWS` features, the largest weights (by magnitude) are kept.
    """
    w = run.weights
    if not isinstance(w, Mapping) or not isinstance(w.get("weights"), list) or not isinstance(w.get("features"), list):
        return None
    outputs = [str(o) for o in w.get("outputs") or []]
    weights, bias = w["weights"], w.get("bias")
    columns = [weights] if weights and not isinstance(weights[0], list) else weights
    biases = [bias] if not isinstance(bias, list) else bias
    if len(outputs) != len(columns):
        outputs = [f"unit {i + 1}" for i in range(len(columns))]
    features = [str(f) for f in w["features"]]
    order = list(range(len(features)))
    if len(order) > MAX_WEIGHT_ROWS:
        size = [max(abs(as_number(col[i]) or 0.0) for col in columns) for i in order]
        order = sorted(sorted(order, key=lambda i: -size[i])[:MAX_WEIGHT_ROWS])
    rows = [[features[i], *(fmt(col[i]) if i < len(col) else "—" for col in columns)] for i in order]
    if len(order) < len(features):
        rows.append([f"… {len(features) - len(order)} smaller weights in {store.WEIGHTS_FILE}", *("" for _ in columns)])
    rows.append(["bias", *(fmt(b) for b in biases)])
    if w.get("threshold") is not None:
        rows.append(["threshold (= -bias)", fmt(w["threshold"])])
    activation = w.get("activation")
    header = ["input", *(f"w → {o}" for o in outputs)]
    if activation:
        header[0] = f"input ({activation} unit{'s' if len(columns) > 1 else ''})"
    return header, rows
