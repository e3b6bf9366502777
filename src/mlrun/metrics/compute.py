"""Test-set metrics as pure functions of (y_true, y_score), computed with sklearn.metrics.

:func:`evaluate_predictions` returns everything a run writes about its test
set: the metrics dict, the confusion matrix, ROC and precision-recall curves
and the per-sample predictions, as plain tables. No Keras here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlrun.metrics.regcalibration import regression_calibration

Table = tuple[list[str], list[list[Any]]]


@dataclass
class Evaluation:
    """The test-set results of a run, as tables ready to write."""

    metrics: dict[str, Any]
    predictions: Table
    confusion: Table | None = None
    roc: Table = field(default_factory=lambda: (["class", "fpr", "tpr", "threshold"], []))
    pr: Table = field(default_factory=lambda: (["class", "precision", "recall", "threshold"], []))
    calibration: Table | None = None
    """Binary and multiclass: the reliability table of :func:`expected_calibration_error`."""


def class_probabilities(y_score: np.ndarray, task: str) -> np.ndarray:
    """Return an (n, n_classes) score matrix; a single sigmoid column becomes [1 - p, p]."""
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_score.ndim == 1:
        y_score = y_score[:, None]
    if task == "binary" and y_score.shape[1] == 1:
        return np.hstack([1.0 - y_score, y_score])
    return y_score


def evaluate_predictions(
    y_true: np.ndarray,
    y_score: np.ndarray,
    *,
    task: str,
    classes: list[str],
    loss: float | None = None,
    score_std: np.ndarray | None = None,
    std_split: tuple[np.ndarray, np.ndarray] | None = None,
    positive: int = 1,
) -> Evaluation:
    """Compute the test-set metrics and tables for one task.

    Args:
        y_true: class indices (binary, multiclass), a 0/1 matrix (multilabel) or targets (regression).
        y_score: the model's outputs: probabilities, or predicted values for regression
            (with Monte Carlo dropout: their mean over the samples).
        task: binary, multiclass, multilabel or regression.
        classes: class, label or target names, in output order.
        loss: the model's test loss, recorded as ``loss``.
        score_std: the predictive standard deviation of each output (Monte Carlo
            dropout, an ensemble's spread, Bayesian layers; a Gaussian head's total std),
            same shape as ``y_score``: adds ``std_<class>`` columns (regression: ``y_std``)
            to the predictions and ``mean_predictive_std`` (of the predicted class;
            regression: of the prediction) to the metrics. Regression also gets
            ``coverage_68``, ``coverage_95``, ``nll``, ``mean_std`` and the calibration table
            (see :mod:`mlrun.metrics.regcalibration`).
        std_split: regression: the (aleatoric, epistemic) parts of ``score_std``, recorded
            as ``y_std_aleatoric`` and ``y_std_epistemic`` columns.
        positive: binary only: the index in ``classes`` of the positive class, which
            ``roc_auc``, ``average_precision``, ``precision``, ``recall``, ``f1`` and the
            curves score (a sigmoid output is P(class 1): class 0 is scored by 1 - p).
    """
    if task == "regression":
        ev = _regression(np.asarray(y_true, dtype=np.float64), np.asarray(y_score, dtype=np.float64), classes, loss)
    elif task == "multilabel":
        ev = _multilabel(np.asarray(y_true).astype(int), np.asarray(y_score, dtype=np.float64), classes, loss)
    else:
        proba = class_probabilities(y_score, task)
        ev = _single_label(np.asarray(y_true).astype(int), proba, task, classes, loss, positive)
    if score_std is not None:
        _add_std(ev, np.asarray(score_std, dtype=np.float64), task, classes)
        if task == "regression":
            ev.metrics.update(_regression_calibration(ev, y_true, y_score, score_std, std_split, classes))
    return ev


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, *, n_bins: int = 10) -> tuple[float, Table]:
    """Expected calibration error (ECE) of the top-label confidence, and the reliability table behind it.

    Each sample's confidence is its highest class probability; samples are
    grouped into ``n_bins`` equal-width bins of confidence ((0, 0.1], (0.1, 0.2],
    ... for 10), and ECE = sum over bins of (bin size / n) * |accuracy in the bin
    - mean confidence in the bin|: 0 for a perfectly calibrated classifier, whose
    predictions made with 80 % confidence are right 80 % of the time.

    Args:
        y_true: class indices, shape (n,).
        proba: class probabilities, shape (n, n_classes).
        n_bins: number of equal-width confidence bins.

    Returns:
        (ece, table) with the table's columns ``bin_lower, bin_upper, count,
        confidence, accuracy`` (one row per bin; empty bins have blank means).
    """
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    proba = np.asarray(proba, dtype=np.float64)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    edges = np.round(np.linspace(0.0, 1.0, n_bins + 1), 12)
    # searchsorted over the inner edges puts a confidence equal to an edge in the bin below: (lo, hi]
    which = np.searchsorted(edges[1:-1], confidence, side="left")
    ece = 0.0
    rows: list[list[Any]] = []
    for b in range(n_bins):
        in_bin = which == b
        count = int(in_bin.sum())
        if count:
            conf, acc = float(confidence[in_bin].mean()), float(correct[in_bin].mean())
            ece += count / len(y_true) * abs(acc - conf)
            rows.append([_num(edges[b]), _num(edges[b + 1]), count, conf, acc])
        else:
            rows.append([_num(edges[b]), _num(edges[b + 1]), 0, "", ""])
    return float(ece), (["bin_lower", "bin_upper", "count", "confidence", "accuracy"], rows)


def std_columns(std: np.ndarray, task: str, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """The predictive-std columns of a predictions table: their names and an (n, columns) array.

    Classification: ``std_<class>`` per class (binary: one std for both p and 1 - p);
    regression: ``y_std`` (``y_std_<target>`` for several targets). A run's predictions.csv
    and ``mlrun predict``'s output name them the same way.
    """
    std = np.asarray(std, dtype=np.float64)
    if task == "regression":
        std2 = std.reshape(len(std), -1)
        return (["y_std"] if std2.shape[1] == 1 else [f"y_std_{t}" for t in classes]), std2
    std2 = std[:, None] if std.ndim == 1 else std
    if task == "binary" and std2.shape[1] == 1:
        std2 = np.hstack([std2, std2])  # p and 1 - p vary alike
    return [f"std_{c}" for c in classes], std2


def _add_std(ev: Evaluation, std: np.ndarray, task: str, classes: list[str]) -> None:
    """Append the Monte Carlo predictive standard deviations to the predictions and metrics."""
    header, rows = ev.predictions
    names, std2 = std_columns(std, task, classes)
    if task in ("regression", "multilabel"):
        ev.metrics["mean_predictive_std"] = float(std2.mean())
    else:
        predicted = [classes.index(str(row[1])) for row in rows]
        ev.metrics["mean_predictive_std"] = float(std2[np.arange(len(rows)), predicted].mean())
    ev.predictions = ([*header, *names], [[*row, *map(_num, s)] for row, s in zip(rows, std2)])


def _regression_calibration(
    ev: Evaluation,
    y: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    split: tuple[np.ndarray, np.ndarray] | None,
    targets: list[str],
) -> dict[str, float]:
    """Coverage, NLL and mean std of a regression run's stds; calibration.csv's table; the split columns."""
    metrics, ev.calibration = regression_calibration(y, mean, std)
    if split is not None:
        header, rows = ev.predictions
        values = np.hstack([np.asarray(part, dtype=np.float64).reshape(len(rows), -1) for part in split])
        kinds = ("aleatoric", "epistemic")
        single = values.shape[1] == 2
        names = [f"y_std_{k}" for k in kinds] if single else [f"y_std_{k}_{t}" for k in kinds for t in targets]
        ev.predictions = ([*header, *names], [[*row, *map(_num, v)] for row, v in zip(rows, values)])
    return metrics


# --------------------------------------------------------------------------- single-label


def _single_label(
    y: np.ndarray, proba: np.ndarray, task: str, classes: list[str], loss: float | None, positive: int
) -> Evaluation:
    k = len(classes)
    labels = list(range(k))
    y_pred = proba.argmax(axis=1)
    p, r, f, s = skm.precision_recall_fscore_support(y, y_pred, labels=labels, zero_division=0)
    onehot = np.eye(k, dtype=int)[y]
    aucs = [_auc(onehot[:, c], proba[:, c]) for c in labels]
    m: dict[str, Any] = {
        "task": task,
        "n_test": int(len(y)),
        "accuracy": float(skm.accuracy_score(y, y_pred)),
        "loss": _float(loss),
        "precision_macro": float(np.mean(p)),
        "recall_macro": float(np.mean(r)),
        "f1_macro": float(np.mean(f)),
    }
    if task == "binary":
        m.update(_positive_class(onehot[:, positive], proba[:, positive], p, r, f, classes, positive))
        curve_classes = [positive]
    else:
        m["roc_auc"] = _mean(aucs)
        m["roc_auc_micro"] = _auc(onehot.ravel(), proba.ravel())
        m["average_precision"] = _mean([_ap(onehot[:, c], proba[:, c]) for c in labels])
        curve_classes = labels
    m["ece"], calibration = expected_calibration_error(y, proba)
    m["per_class"] = {
        classes[c]: {
            "precision": float(p[c]),
            "recall": float(r[c]),
            "f1": float(f[c]),
            "support": int(s[c]),
            "auc": aucs[c],
        }
        for c in labels
    }
    cm = skm.confusion_matrix(y, y_pred, labels=labels)
    confusion = (["true\\pred", *classes], [[classes[i], *map(int, row)] for i, row in enumerate(cm)])
    roc, pr = _curves([(classes[c], onehot[:, c], proba[:, c]) for c in curve_classes])
    if task == "multiclass":
        roc_micro, pr_micro = _curves([("micro", onehot.ravel(), proba.ravel())])
        roc[1].extend(roc_micro[1])
        pr[1].extend(pr_micro[1])
    header = ["y_true", "y_pred", *(f"p_{c}" for c in classes)]
    rows = [[classes[t], classes[q], *map(_num, ps)] for t, q, ps in zip(y, y_pred, proba)]
    return Evaluation(m, (header, rows), confusion, roc, pr, calibration)


def _positive_class(
    truth: np.ndarray, score: np.ndarray, p: np.ndarray, r: np.ndarray, f: np.ndarray, classes: list[str], positive: int
) -> dict[str, Any]:
    """A binary task's scores of its positive class: which one, its precision, recall, F1, ROC AUC and AP."""
    return {
        "positive_label": classes[positive],
        "precision": float(p[positive]),
        "recall": float(r[positive]),
        "f1": float(f[positive]),
        "roc_auc": _auc(truth, score),
        "average_precision": _ap(truth, score),
    }


# --------------------------------------------------------------------------- multilabel


def _multilabel(y: np.ndarray, score: np.ndarray, classes: list[str], loss: float | None) -> Evaluation:
    y_pred = (score >= 0.5).astype(int)
    p, r, f, s = skm.precision_recall_fscore_support(y, y_pred, zero_division=0)
    aucs = [_auc(y[:, c], score[:, c]) for c in range(len(classes))]
    m: dict[str, Any] = {
        "task": "multilabel",
        "n_test": int(len(y)),
        "accuracy": float(skm.accuracy_score(y, y_pred)),  # subset accuracy: every label right
        "hamming_loss": float(skm.hamming_loss(y, y_pred)),
        "loss": _float(loss),
        "precision_macro": float(np.mean(p)),
        "recall_macro": float(np.mean(r)),
        "f1_macro": float(np.mean(f)),
        "roc_auc": _mean(aucs),
        "roc_auc_micro": _auc(y.ravel(), score.ravel()),
        "average_precision": _mean([_ap(y[:, c], score[:, c]) for c in range(len(classes))]),
        "per_class": {
            name: {
                "precision": float(p[c]),
                "recall": float(r[c]),
                "f1": float(f[c]),
                "support": int(s[c]),
                "auc": aucs[c],
            }
            for c, name in enumerate(classes)
        },
    }
    mcm = skm.multilabel_confusion_matrix(y, y_pred)
    confusion = (
        ["label", "tn", "fp", "fn", "tp"],
        [[name, *map(int, mcm[c].ravel())] for c, name in enumerate(classes)],
    )
    roc, pr = _curves(
        [*((name, y[:, c], score[:, c]) for c, name in enumerate(classes)), ("micro", y.ravel(), score.ravel())]
    )
    header = [*(f"y_true_{c}" for c in classes), *(f"p_{c}" for c in classes)]
    rows = [[*map(int, t), *map(_num, ps)] for t, ps in zip(y, score)]
    return Evaluation(m, (header, rows), confusion, roc, pr)


# --------------------------------------------------------------------------- regression


def _regression(y: np.ndarray, pred: np.ndarray, targets: list[str], loss: float | None) -> Evaluation:
    y2 = y.reshape(len(y), -1)
    p2 = pred.reshape(len(pred), -1)
    mse = float(skm.mean_squared_error(y2, p2))
    m = {
        "task": "regression",
        "n_test": int(len(y)),
        "loss": _float(loss),
        "mse": mse,
        "mae": float(skm.mean_absolute_error(y2, p2)),
        "rmse": float(np.sqrt(mse)),
        "r2": float(skm.r2_score(y2, p2)) if len(y) > 1 else None,
    }
    if y2.shape[1] == 1:
        header = ["y_true", "y_pred"]
        rows = [[_num(t), _num(q)] for t, q in zip(y2[:, 0], p2[:, 0])]
    else:
        header = [*(f"y_true_{t}" for t in targets), *(f"y_pred_{t}" for t in targets)]
        rows = [[*map(_num, t), *map(_num, q)] for t, q in zip(y2, p2)]
    return Evaluation(m, (header, rows))


# --------------------------------------------------------------------------- helpers


def _curves(items: list[tuple[str, np.ndarray, np.ndarray]]) -> tuple[Table, Table]:
    roc_rows: list[list[Any]] = []
    pr_rows: list[list[Any]] = []
    for name, truth, score in items:
        if truth.min() == truth.max():
            continue  # one class only: no curve
        fpr, tpr, thr = skm.roc_curve(truth, score)
        roc_rows += [[name, _num(a), _num(b), _num(t)] for a, b, t in zip(fpr, tpr, thr)]
        prec, rec, thr = skm.precision_recall_curve(truth, score)
        pr_rows += [
            [name, _num(a), _num(b), _num(thr[i]) if i < len(thr) else ""] for i, (a, b) in enumerate(zip(prec, rec))
        ]
    return (["class", "fpr", "tpr", "threshold"], roc_rows), (["class", "precision", "recall", "threshold"], pr_rows)


def _auc(truth: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC, or None when only one class is present (it is undefined then)."""
    if truth.min() == truth.max():
        return None
    return float(skm.roc_auc_score(truth, score))


def _ap(truth: np.ndarray, score: np.ndarray) -> float | None:
    if truth.max() == 0:
        return None
    return float(skm.average_precision_score(truth, score))


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _num(value: float) -> float:
    """A float written with enough digits to recompute metrics from the CSV."""
    return float(np.float64(value))
