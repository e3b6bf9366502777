"""Test-set metrics: invariants that hold for any predictions, checked against sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mlrun.metrics.compute import class_probabilities, evaluate_predictions


def random_proba(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, p


def test_multiclass_invariants() -> None:
    y, p = random_proba(200, 4)
    ev = evaluate_predictions(y, p, task="multiclass", classes=["a", "b", "c", "d"], loss=0.5)
    m = ev.metrics
    header, rows = ev.confusion
    counts = np.array([r[1:] for r in rows])
    assert header == ["true\\pred", "a", "b", "c", "d"] and counts.sum() == 200
    assert np.trace(counts) / 200 == pytest.approx(m["accuracy"])
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert m["roc_auc_micro"] == pytest.approx(skm.roc_auc_score(np.eye(4)[y], p, average="micro"))
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(np.eye(4)[y], p, average="macro"))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, p.argmax(1), average="macro"))
    assert sum(c["support"] for c in m["per_class"].values()) == 200
    assert {r[0] for r in ev.roc[1]} == {"a", "b", "c", "d", "micro"}
    assert len(ev.predictions[1]) == 200 and ev.predictions[0][:3] == ["y_true", "y_pred", "p_a"]


def test_perfect_scorer_has_auc_one() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    p = np.eye(3)[y] * 0.9 + 0.1 / 3
    m = evaluate_predictions(y, p, task="multiclass", classes=["0", "1", "2"]).metrics
    assert m["accuracy"] == 1.0 and m["roc_auc"] == 1.0 and m["average_precision"] == 1.0


def test_binary_single_sigmoid_column() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 100)
    s = np.clip(y * 0.6 + rng.random(100) * 0.5, 0, 1)
    ev = evaluate_predictions(y, s[:, None], task="binary", classes=["neg", "pos"])
    assert ev.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert ev.metrics["average_precision"] == pytest.approx(skm.average_precision_score(y, s))
    assert {r[0] for r in ev.roc[1]} == {"pos"}
    assert np.allclose(class_probabilities(s[:, None], "binary").sum(axis=1), 1)


def test_absent_class_gives_null_auc_not_a_crash() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    m = evaluate_predictions(y, p, task="multiclass", classes=["a", "b", "c"]).metrics
    assert m["per_class"]["c"]["auc"] is None and m["roc_auc"] == 1.0


def test_multilabel() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=(50, 3))
    s = np.clip(y * 0.5 + rng.random((50, 3)) * 0.6, 0, 1)
    ev = evaluate_predictions(y, s, task="multilabel", classes=["x", "y", "z"])
    assert ev.metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, s >= 0.5))
    assert ev.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s, average="macro"))
    header, rows = ev.confusion
    assert header == ["label", "tn", "fp", "fn", "tp"] and all(sum(r[1:]) == 50 for r in rows)


def test_regression() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 2.0, 2.5, 4.5])
    ev = evaluate_predictions(y, p, task="regression", classes=["target"], loss=0.1875)
    assert ev.metrics["mse"] == pytest.approx(0.1875) and ev.metrics["mae"] == pytest.approx(0.375)
    assert ev.metrics["r2"] == pytest.approx(skm.r2_score(y, p))
    assert ev.confusion is None and ev.predictions[0] == ["y_true", "y_pred"]


@pytest.mark.parametrize("positive", [0, 1])
def test_binary_scores_the_positive_class(positive: int) -> None:
    # breast_cancer's classes in sorted order: the sigmoid gives P(benign); malignant is the class of interest.
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=300)
    p1 = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(scale=0.25, size=300), 0.0, 1.0)
    classes = ["malignant", "benign"]
    ev = evaluate_predictions(y, p1, task="binary", classes=classes, loss=0.3, positive=positive)
    m = ev.metrics
    truth, p_pos = y == positive, (p1 if positive == 1 else 1.0 - p1)
    pred = (p1 >= 0.5).astype(int) if positive == 1 else (p1 < 0.5).astype(int)
    assert m["positive_label"] == classes[positive]
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(truth, p_pos), abs=1e-12)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, p_pos), abs=1e-12)
    assert m["precision"] == pytest.approx(skm.precision_score(truth, pred == 1))
    assert m["recall"] == pytest.approx(skm.recall_score(truth, pred == 1))
    assert m["f1"] == pytest.approx(skm.f1_score(truth, pred == 1))
    assert {row[0] for row in ev.roc[1]} == {row[0] for row in ev.pr[1]} == {classes[positive]}


def test_positive_label_changes_average_precision_but_not_accuracy() -> None:
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.2).astype(int)  # imbalanced: AP depends on which class is positive
    p1 = np.clip(0.2 + 0.5 * y + rng.normal(scale=0.2, size=400), 0.0, 1.0)
    one, zero = (evaluate_predictions(y, p1, task="binary", classes=["a", "b"], positive=k).metrics for k in (1, 0))
    assert one["accuracy"] == zero["accuracy"] and one["roc_auc"] == pytest.approx(zero["roc_auc"])
    assert zero["average_precision"] == pytest.approx(skm.average_precision_score(y == 0, 1.0 - p1))
    assert zero["average_precision"] != pytest.approx(one["average_precision"])
