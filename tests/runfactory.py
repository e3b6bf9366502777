"""Fabricate consistent run directories, as the runner writes them, without TensorFlow.

Scores are random but the files agree with each other: metrics, confusion
matrix, curves and predictions are all computed from the same labels and scores
with scikit-learn, so a test can check invariants across them.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlrun import store

KINDS = ("multiclass", "binary", "multilabel", "regression", "failed", "interrupted", "crashed")

SUMMARY = """Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 32)             │         2,080 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, {n_out})              │           {out_params} │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: {params} (8.53 KB)
"""


def make_run(
    runs_dir: Path,
    kind: str = "multiclass",
    *,
    name: str | None = None,
    run_id: str | None = None,
    classes: list[str] | None = None,
    config: dict[str, Any] | None = None,
    epochs: int = 8,
    n_test: int = 120,
    started_at: str = "2026-01-02T10:00:00+00:00",
    seed: int = 0,
) -> Path:
    """Write a run directory of ``kind`` (one of :data:`KINDS`) under ``runs_dir`` and return its path."""
    rng = np.random.default_rng(seed)
    task = {"failed": "multiclass", "interrupted": "multiclass", "crashed": "binary"}.get(kind, kind)
    status = {"failed": "failed", "interrupted": "interrupted", "crashed": "running"}.get(kind, "completed")
    name = name or f"{kind}_mlp"
    if classes is None:
        classes = {
            "multiclass": ["0", "1", "2", "3", "4"],
            "binary": ["benign", "malignant"],
            "multilabel": ["red", "green", "blue"],
            "regression": [],
        }[task]
    run_id = run_id or f"20260102-100000-{name}-{seed:04x}"
    path = Path(runs_dir) / run_id
    path.mkdir(parents=True)

    cfg = {
        "name": name,
        "seed": seed,
        "task": task,
        "dataset": {
            "name": "digits" if task != "regression" else "diabetes",
            "path": None,
            "scale": "standard",
            "validation_split": 0.2,
            "test_size": 0.2,
            "limit": None,
        },
        "model": {"architecture": "mlp", "hidden_units": [64, 32], "activation": "relu", "dropout": 0.1},
        "loss": {
            "multiclass": "categorical_crossentropy",
            "binary": "binary_crossentropy",
            "multilabel": "binary_crossentropy",
            "regression": "mse",
        }[task],
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "training": {"epochs": epochs, "batch_size": 32, "shuffle": True, "early_stopping": None},
        "metrics": ["accuracy"] if task != "regression" else ["mae"],
        "runtime": {"threads": 0},
    }
    cfg.update(config or {})
    store.write_yaml(path / store.CONFIG_FILE, cfg)

    done = {"failed": 2, "interrupted": 3, "crashed": 4}.get(kind, epochs)
    metric = "accuracy" if task != "regression" else "mae"
    history = []
    for epoch in range(1, done + 1):
        decay = np.exp(-epoch / 3)
        history.append(
            {
                "loss": 0.3 + decay + rng.normal(0, 0.02),
                "val_loss": 0.35 + decay + rng.normal(0, 0.03),
                metric: (0.95 - 0.5 * decay if task != "regression" else 0.4 + decay) + rng.normal(0, 0.01),
                f"val_{metric}": (0.92 - 0.5 * decay if task != "regression" else 0.45 + decay) + rng.normal(0, 0.01),
                "learning_rate": 0.001 * 0.9 ** (epoch - 1),
            }
        )
    writer = store.HistoryWriter(path / store.HISTORY_FILE)
    for epoch, logs in enumerate(history, 1):
        writer.append(epoch, logs)
    n_out = len(classes) if task in ("multiclass", "multilabel") else 1
    params = 2080 + 33 * n_out
    (path / store.SUMMARY_FILE).write_text(
        SUMMARY.format(n_out=n_out, out_params=33 * n_out, params=f"{params:,}"), encoding="utf-8"
    )

    best = int(np.argmin([h["val_loss"] for h in history])) + 1 if history else None
    info: dict[str, Any] = {
        "id": run_id,
        "name": name,
        "status": status,
        "started_at": started_at,
        "ended_at": None if status == "running" else "2026-01-02T10:00:42+00:00",
        "duration_s": None if status == "running" else 42.5,
        "seed": seed,
        "command": ["mlrun", "train", f"configs/{name}.yaml"],
        "smoke": False,
        "task": task,
        "pid": 999_999_999 if kind == "crashed" else 1234,
        "host": socket.gethostname() if kind == "crashed" else "box",
        "versions": {
            "python": "3.11.9",
            "tensorflow": "2.21.0",
            "keras": "3.15.0",
            "numpy": "2.4.6",
            "scikit-learn": "1.8.0",
            "mlrun": "0.1.0",
        },
        "platform": {"system": "Linux", "machine": "x86_64", "devices": ["CPU:0"]},
        "dataset": {
            "name": cfg["dataset"]["name"],
            "fingerprint": "sha256:1f2e3d",
            "n_train": 1149,
            "n_val": 288,
            "n_test": n_test,
            "input_shape": [64],
            "classes": classes,
        },
        "epochs_completed": done,
        "best_epoch": best,
        "headline": None,
        "error": "ValueError: Input contains NaN (epoch 3)" if kind == "failed" else None,
        "params": params,
    }
    if status == "completed":
        info["headline"] = _write_results(path, task, classes, n_test, rng)
    store.write_json(path / store.RUN_FILE, info)
    return path


def _write_results(path: Path, task: str, classes: list[str], n: int, rng: np.random.Generator) -> dict[str, Any]:
    """Write metrics.json and the test-set files; return the headline metric."""
    if task == "regression":
        y_true = rng.normal(150, 60, n)
        y_pred = y_true + rng.normal(0, 25, n)
        mse = float(skm.mean_squared_error(y_true, y_pred))
        store.write_json(
            path / store.METRICS_FILE,
            {
                "task": task,
                "n_test": n,
                "loss": mse,
                "mse": mse,
                "mae": float(skm.mean_absolute_error(y_true, y_pred)),
                "rmse": mse**0.5,
                "r2": float(skm.r2_score(y_true, y_pred)),
            },
        )
        store.write_csv(path / store.PREDICTIONS_FILE, ["y_true", "y_pred"], list(zip(y_true, y_pred)))
        (path / store.MODEL_FILE).write_bytes(b"PK fake")
        return {"metric": "r2", "value": float(skm.r2_score(y_true, y_pred))}

    k = len(classes)
    if task == "multilabel":
        y = (rng.random((n, k)) < 0.4).astype(int)
        scores = np.clip(0.6 * y + rng.normal(0.2, 0.25, (n, k)), 0, 1)
        pred = (scores >= 0.5).astype(int)
        onehot, proba = y, scores
    else:
        y = rng.integers(0, k, n)
        logits = rng.normal(0, 1, (n, k)) + 2.2 * np.eye(k)[y]
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        pred = proba.argmax(axis=1)
        onehot = np.eye(k)[y]

    metrics: dict[str, Any] = {"task": task, "n_test": n, "loss": float(skm.log_loss(onehot.ravel(), proba.ravel()))}
    if task == "multilabel":
        metrics["accuracy"] = float(skm.accuracy_score(y, pred))
        p, r, f, s = skm.precision_recall_fscore_support(y, pred, zero_division=0)
        aucs = [float(skm.roc_auc_score(y[:, i], proba[:, i])) for i in range(k)]
        store.write_csv(
            path / store.CONFUSION_FILE,
            ["label", "tn", "fp", "fn", "tp"],
            [[c, *skm.confusion_matrix(y[:, i], pred[:, i], labels=[0, 1]).ravel()] for i, c in enumerate(classes)],
        )
    else:
        metrics["accuracy"] = float(skm.accuracy_score(y, pred))
        p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=range(k), zero_division=0)
        aucs = [float(skm.roc_auc_score(onehot[:, i], proba[:, i])) for i in range(k)]
        cm = skm.confusion_matrix(y, pred, labels=range(k))
        store.write_csv(
            path / store.CONFUSION_FILE, ["true\\pred", *classes], [[c, *row] for c, row in zip(classes, cm.tolist())]
        )
    metrics.update(
        precision_macro=float(np.mean(p)),
        recall_macro=float(np.mean(r)),
        f1_macro=float(np.mean(f)),
        roc_auc=float(np.mean(aucs)) if task != "binary" else aucs[1],
    )
    blocks = [(c, onehot[:, i], proba[:, i]) for i, c in enumerate(classes)]
    if task == "binary":
        blocks = blocks[1:]
    else:
        metrics["roc_auc_micro"] = float(skm.roc_auc_score(onehot.ravel(), proba.ravel()))
        blocks.append(("micro", onehot.ravel(), proba.ravel()))
    metrics["average_precision"] = float(skm.average_precision_score(onehot, proba, average="macro"))
    metrics["per_class"] = {
        c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i]), "auc": aucs[i]}
        for i, c in enumerate(classes)
    }
    store.write_json(path / store.METRICS_FILE, metrics)

    roc_rows, pr_rows = [], []
    for label, truth, score in blocks:
        fpr, tpr, thr = skm.roc_curve(truth, score)
        roc_rows += [[label, a, b, t] for a, b, t in zip(fpr, tpr, thr)]
        prec, rec, thr = skm.precision_recall_curve(truth, score)
        pr_rows += [[label, a, b, t] for a, b, t in zip(prec, rec, [*thr, ""])]
    store.write_csv(path / store.ROC_FILE, ["class", "fpr", "tpr", "threshold"], roc_rows)
    store.write_csv(path / store.PR_FILE, ["class", "precision", "recall", "threshold"], pr_rows)

    if task == "multilabel":
        header = [*(f"y_true_{c}" for c in classes), *(f"p_{c}" for c in classes)]
        rows = [[*yt, *ps] for yt, ps in zip(y.tolist(), proba.tolist())]
    else:
        header = ["y_true", "y_pred", *(f"p_{c}" for c in classes)]
        rows = [[classes[t], classes[q], *ps] for t, q, ps in zip(y, pred, proba.tolist())]
    store.write_csv(path / store.PREDICTIONS_FILE, header, rows)
    (path / store.MODEL_FILE).write_bytes(b"PK fake")
    return {"metric": "accuracy", "value": metrics["accuracy"]}
