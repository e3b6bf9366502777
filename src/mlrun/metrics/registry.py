"""What each metric is: its name, the tasks it applies to, its direction, its label, whether it is the headline.

Every other module asks this one. Nothing here imports numpy, scikit-learn or Keras.

>>> direction("val_accuracy"), direction("loss"), direction("mean_predictive_std")
('max', 'min', None)
>>> headline("regression"), headline("binary")
('r2', 'accuracy')
>>> "val_roc_auc" in held_out_metrics("binary")
True
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Task = Literal["binary", "multiclass", "multilabel", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "multilabel", "regression")
CLASSIFICATION: frozenset[str] = frozenset({"binary", "multiclass", "multilabel"})
_ALL: frozenset[str] = frozenset(TASKS)

#: Prefixes a metric name can carry: held-out (validation) data, and the test set.
PREFIXES = ("val_", "test_")


@dataclass(frozen=True)
class Metric:
    """One metric mlrun knows.

    Attributes:
        name: the key in history.csv (per epoch) or metrics.json (test set).
        label: how people read it (``f1_macro`` -> ``F1 (macro)``).
        higher_is_better: True or False; None for a quantity that is not a score (a spread).
        scored: tasks whose metrics.json holds it as a scalar, so a sweep can rank on ``val_<name>``.
        per_epoch: tasks for which ``metrics:`` may track it every epoch (a Keras metric).
        headline: tasks a run is summarized by this metric.
    """

    name: str
    label: str
    higher_is_better: bool | None
    scored: frozenset[str] = frozenset()
    per_epoch: frozenset[str] = frozenset()
    headline: frozenset[str] = frozenset()


def _m(
    name: str,
    label: str,
    higher: bool | None,
    scored: Iterable[str] = (),
    per_epoch: Iterable[str] = (),
    headline: Iterable[str] = (),
) -> Metric:
    return Metric(name, label, higher, frozenset(scored), frozenset(per_epoch), frozenset(headline))


_SINGLE = ("binary", "multiclass")
_BINARY_LIKE = ("binary", "multilabel")

#: Every metric, in the order reports list them.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _m("accuracy", "accuracy", True, CLASSIFICATION, CLASSIFICATION, CLASSIFICATION),
        _m("loss", "loss", False, _ALL),
        _m("precision_macro", "precision (macro)", True, CLASSIFICATION),
        _m("recall_macro", "recall (macro)", True, CLASSIFICATION),
        _m("f1_macro", "F1 (macro)", True, CLASSIFICATION),
        _m("roc_auc", "ROC AUC", True, CLASSIFICATION),
        _m("roc_auc_micro", "ROC AUC (micro)", True, ("multiclass", "multilabel")),
        _m("average_precision", "average precision", True, CLASSIFICATION),
        _m("mse", "MSE", False, ("regression",), _ALL),
        _m("mae", "MAE", False, ("regression",), _ALL),
        _m("rmse", "RMSE", False, ("regression",), _ALL),
        _m("r2", "R²", True, ("regression",), (), ("regression",)),
        _m("ece", "ECE (calibration error)", False),
        _m("mean_predictive_std", "mean predictive std", None),
        # Regression runs with a predictive std: measured calibration (mlrun.metrics.regcalibration).
        # Coverage is right at its level, not "higher is better": it has no direction.
        _m("coverage_68", "coverage of ±1σ (68 %)", None),
        _m("coverage_95", "coverage of ±1.96σ (95 %)", None),
        _m("nll", "Gaussian NLL", False),
        _m("mean_std", "mean predicted std", None),
        _m("hamming_loss", "hamming loss", False, ("multilabel",)),
        # Per-epoch Keras metrics; the test set reports their macro versions above, and for a binary
        # task precision, recall and F1 of its positive class (``dataset.positive_label``).
        _m("auc", "auc", True, (), _BINARY_LIKE),
        _m("precision", "precision", True, ("binary",), _BINARY_LIKE),
        _m("recall", "recall", True, ("binary",), _BINARY_LIKE),
        _m("f1", "F1", True, ("binary",)),
    )
}

#: Names ``metrics:`` accepts (per-epoch Keras metrics), in a stable order.
EPOCH_METRIC_NAMES: tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.per_epoch)


def base_name(name: str) -> str:
    """The metric's name without a ``val_`` or ``test_`` prefix.

    >>> base_name("val_f1_macro")
    'f1_macro'
    """
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def direction(name: str) -> Literal["max", "min"] | None:
    """``max`` when higher is better for ``name`` (prefixes allowed), ``min`` when lower is, None when unknown."""
    metric = METRICS.get(base_name(name))
    if metric is None or metric.higher_is_better is None:
        return None
    return "max" if metric.higher_is_better else "min"


def label(name: str) -> str:
    """A readable name for a metric key; unknown keys read with their underscores as spaces."""
    metric = METRICS.get(name)
    return metric.label if metric else name.replace("_", " ")


def headline(task: str | None) -> str:
    """The metric a run of ``task`` is summarized by: r2 for regression, accuracy otherwise."""
    return "r2" if task == "regression" else "accuracy"


def epoch_metrics(task: str) -> list[str]:
    """The metrics ``metrics:`` may track per epoch for ``task``."""
    return [n for n in EPOCH_METRIC_NAMES if task in METRICS[n].per_epoch]


def default_epoch_metrics(task: str | None) -> list[str]:
    """What is tracked per epoch when ``metrics:`` is not given: accuracy; mae for regression."""
    return ["mae"] if task == "regression" else ["accuracy"]


def scored_metrics(task: str) -> list[str]:
    """The scalar metrics a run's metrics.json holds for ``task`` that a sweep can rank on (without prefix)."""
    return [n for n, m in METRICS.items() if task in m.scored]


def held_out_metrics(task: str | None = None) -> list[str]:
    """The names ``sweep.metric`` accepts: ``val_<metric>`` for ``task``, or for any task when None."""
    tasks = TASKS if task is None else (task,)
    return sorted({f"val_{n}" for t in tasks for n in scored_metrics(t)})


def logged_names(metrics: Sequence[str], *, validation: bool) -> list[str]:
    """The history.csv columns Keras logs: ``loss`` and each metric, and their ``val_`` twins with validation data."""
    names = ["loss", *metrics]
    return names + [f"val_{n}" for n in names] if validation else names


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    hint = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""
