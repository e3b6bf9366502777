"""``mlrun train`` against the plain Keras script a user would write: wall time, time per epoch, peak memory.

Each command runs in its own process, from start to exit (imports included),
on the offline MNIST (``../shared/datasets/mnist.npz``). Within a repeat the
commands run one after another in an order that rotates from repeat to repeat,
so drifting background load hits all alike; the table shows medians over the
repeats and the ratios between them.

The plain Keras scripts (written into the work directory, printed with
``--show-scripts``) are the lecture's: load ``mnist.npz``, divide by 255, build
the same layers, compile with Adam, ``fit(validation_split=...)`` with the same
epochs, batch size and seed, ``evaluate`` on the test set; ``verbose=0``, so
printing costs them nothing. ``mlrun train`` does more: it validates the
config, splits validation stratified and shuffled (the same sizes as
``validation_split``), writes history every epoch, computes every test metric
with scikit-learn, writes predictions and curves, and saves the model.

Rows:

- ``mlp defaults vs keras tf``: ``mlrun train configs/mnist_mlp.yaml`` as shipped (no ``runtime:``
  block: ``backend: auto`` picks JAX for this MLP on a CPU, ``steps_per_execution: auto``) against
  the plain script on TensorFlow's defaults (targets: >= 3x faster per epoch, test accuracy within
  0.3 points, peak memory <= 1.1x);
- ``mlp tensorflow: overhead``: ``mlrun train`` with the plain script's settings (TensorFlow, one
  step per call) against it (target: wall <= 1.03x, peak memory <= 1.10x);
- ``mlp defaults vs keras jax``: mlrun's defaults against the plain script on JAX;
- ``cnn defaults vs keras tf``: ``mlrun train configs/mnist_cnn.yaml`` as shipped (``auto`` picks
  TensorFlow for convolutions) against the plain script (target: wall <= 1.03x);
- with ``--tf-data``: ``runtime.input_pipeline: tf_data`` against ``numpy`` (both mlrun, TensorFlow);
- with ``--rule``: the plain CNN script on JAX against TensorFlow: with ``mlp defaults vs keras
  jax`` and the MLP scripts, the measurements behind ``backend: auto``'s rule for a CPU.

Time per epoch is the median of the epochs after the first (the first
includes tracing/compilation), timed by a callback around each epoch
(validation included) in both programs. Peak memory is the process's maximum
resident set size (``wait4``).

Usage::

    python bench/train_vs_keras.py                       # 3 repeats, MLP 3 epochs, CNN 2 epochs
    python bench/train_vs_keras.py --mlp-epochs 32 --cnn-epochs 3 --repeats 2   # the README's table
    python bench/train_vs_keras.py --repeats 5 --mlp-epochs 5 --cnn-epochs 3
    python bench/train_vs_keras.py --only mlp            # skip the CNN (slow on 2 cores)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "mnist.npz"

KERAS_SCRIPT = """\
import json, os, sys, time
os.environ["KERAS_BACKEND"] = {backend!r}
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import keras

keras.utils.set_random_seed(42)
with np.load({data!r}) as f:
    x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
x_train = x_train.astype("float32") / 255.0
x_test = x_test.astype("float32") / 255.0
{model}
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

class EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)

times = EpochTimes()
model.fit(x_train, y_train, epochs={epochs}, batch_size={batch_size}, validation_split={validation_split},
          callbacks=[times{callbacks}], verbose=0)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(json.dumps({{"epoch_seconds": times.seconds, "accuracy": float(accuracy)}}))
"""

MLP_MODEL = """\
model = keras.Sequential([
    keras.Input(shape=(28, 28)),
    keras.layers.Flatten(),
    keras.layers.Dense(256, activation="relu"),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])"""

CNN_MODEL = """\
x_train, x_test = x_train[..., None], x_test[..., None]
model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Conv2D(64, 3, activation="relu", padding="same"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])"""

#: mlrun with the plain script's settings: TensorFlow, one step per call (the overhead rows).
TF_LIKE_KERAS = {"backend": "tensorflow", "steps_per_execution": 1}

CNN_CALLBACKS = ', keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=3, restore_best_weights=True)'


@dataclass
class Command:
    """One program to time: a plain Keras script or an ``mlrun train``."""

    label: str
    argv: list[str]
    result_of: callable  # (work dir, stdout) -> {"epoch_seconds", "accuracy"}
    env: dict[str, str] = field(default_factory=dict)
    walls: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    per_epoch: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)

    def run(self, cwd: Path) -> None:
        out_path, err_path = cwd / "stdout.txt", cwd / "stderr.txt"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(self.argv, cwd=cwd, env={**os.environ, **self.env}, stdout=out, stderr=err)
            # wait4 reaps the child and returns its own resource usage: its peak resident memory.
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(
                f"{self.label} failed (exit {proc.returncode}):\n{out_path.read_text()}\n{err_path.read_text()[-3000:]}"
            )
        res = self.result_of(cwd, out_path.read_text())
        self.walls.append(wall)
        self.rss_mb.append(usage.ru_maxrss / 1024)  # KiB on Linux
        later = res["epoch_seconds"][1:] or res["epoch_seconds"]
        self.per_epoch.append(statistics.median(later))
        self.accuracy.append(res["accuracy"])


def keras_command(work: Path, label: str, arch: str, backend: str, epochs: int, data: Path) -> Command:
    cnn = arch == "cnn"
    script = KERAS_SCRIPT.format(
        backend=backend,
        data=str(data),
        model=CNN_MODEL if cnn else MLP_MODEL,
        epochs=epochs,
        batch_size=128 if cnn else 50,
        validation_split=0.1 if cnn else 0.2,
        callbacks=CNN_CALLBACKS if cnn else "",
    )
    path = work / f"keras_{arch}_{backend}.py"
    path.write_text(script)
    return Command(label, [sys.executable, str(path)], lambda cwd, out: json.loads(out.strip().splitlines()[-1]))


def mlrun_command(work: Path, label: str, arch: str, epochs: int, runtime: dict, data: Path) -> Command:
    cfg = yaml.safe_load((ROOT / "configs" / f"mnist_{arch}.yaml").read_text())
    cfg["training"]["epochs"] = epochs
    cfg["runtime"] = {**cfg.get("runtime", {}), **runtime}
    tag = "_".join(f"{k}-{v}" for k, v in runtime.items()) or "default"
    config = work / f"mlrun_{arch}_{tag}.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    runs = work / f"runs_{arch}_{tag}"

    def result_of(cwd: Path, out: str) -> dict:
        run = max(runs.iterdir(), key=lambda p: p.stat().st_mtime)
        info = json.loads((run / "run.json").read_text())
        metrics = json.loads((run / "metrics.json").read_text())
        shutil.rmtree(run)
        return {"epoch_seconds": info["epoch_seconds"], "accuracy": metrics["accuracy"]}

    mlrun = shutil.which("mlrun") or "mlrun"
    return Command(
        label,
        [mlrun, "train", str(config), "--quiet", "--runs-dir", str(runs)],
        result_of,
        env={"MLRUN_DATA_DIR": str(data.parent)},
    )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mlp-epochs", type=int, default=3)
    ap.add_argument("--cnn-epochs", type=int, default=2)
    ap.add_argument("--only", choices=["mlp", "cnn"], help="run only this model's rows")
    ap.add_argument("--tf-data", action="store_true", help="add runtime.input_pipeline: tf_data against numpy")
    ap.add_argument("--rule", action="store_true", help="add the plain CNN script on JAX (backs backend: auto's rule)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="mnist.npz (default: ../shared/datasets/mnist.npz)")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--show-scripts", action="store_true", help="print the plain Keras scripts and exit")
    args = ap.parse_args(argv)
    if not args.data.is_file():
        raise SystemExit(f"no {args.data}: pass --data path/to/mnist.npz")
    has_jax = importlib.util.find_spec("jax") is not None

    work = Path(tempfile.mkdtemp(prefix="mlrun-bench-"))
    C: dict[str, Command] = {}
    comparisons: list[tuple[str, str, str]] = []  # (row, baseline, candidate)
    if args.only in (None, "mlp"):
        e = args.mlp_epochs
        C["keras mlp tf"] = keras_command(work, "keras mlp tf", "mlp", "tensorflow", e, args.data)
        C["mlrun mlp defaults"] = mlrun_command(work, "mlrun mlp defaults", "mlp", e, {}, args.data)
        C["mlrun mlp tf"] = mlrun_command(work, "mlrun mlp tf", "mlp", e, TF_LIKE_KERAS, args.data)
        comparisons += [
            ("mlp defaults vs keras tf", "keras mlp tf", "mlrun mlp defaults"),
            ("mlp tensorflow: overhead", "keras mlp tf", "mlrun mlp tf"),
        ]
        if args.tf_data:
            tf_data = {**TF_LIKE_KERAS, "input_pipeline": "tf_data"}
            C["mlrun mlp tf_data"] = mlrun_command(work, "mlrun mlp tf_data", "mlp", e, tf_data, args.data)
            comparisons.append(("mlp tf_data vs numpy", "mlrun mlp tf", "mlrun mlp tf_data"))
        if has_jax:
            C["keras mlp jax"] = keras_command(work, "keras mlp jax", "mlp", "jax", e, args.data)
            comparisons.append(("mlp defaults vs keras jax", "keras mlp jax", "mlrun mlp defaults"))
    if args.only in (None, "cnn"):
        e = args.cnn_epochs
        C["keras cnn tf"] = keras_command(work, "keras cnn tf", "cnn", "tensorflow", e, args.data)
        C["mlrun cnn defaults"] = mlrun_command(work, "mlrun cnn defaults", "cnn", e, {}, args.data)
        comparisons.append(("cnn defaults vs keras tf", "keras cnn tf", "mlrun cnn defaults"))
        if args.rule and has_jax:
            C["keras cnn jax"] = keras_command(work, "keras cnn jax", "cnn", "jax", e, args.data)
            comparisons.append(("cnn: jax vs tf (the auto rule)", "keras cnn tf", "keras cnn jax"))
    if args.show_scripts:
        for p in sorted(work.glob("keras_*.py")):
            print(f"# ---- {p.name}\n{p.read_text()}")
        return 0

    order = list(C)
    print(
        f"work dir {work}; {len(order)} commands x {args.repeats} repeats; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    for rep in range(args.repeats):
        rotated = order[rep % len(order) :] + order[: rep % len(order)]
        for name in rotated:
            C[name].run(work)
            c = C[name]
            print(
                f"  repeat {rep + 1}: {name:<18} wall {c.walls[-1]:6.1f} s  epoch {c.per_epoch[-1]:6.2f} s  "
                f"rss {c.rss_mb[-1]:6.0f} MB  acc {c.accuracy[-1]:.4f}",
                flush=True,
            )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")

    figures = {
        name: {
            "wall_s": _median(c.walls),
            "epoch_s": _median(c.per_epoch),
            "peak_rss_mb": _median(c.rss_mb),
            "accuracy": _median(c.accuracy),
            "runs": len(c.walls),
        }
        for name, c in C.items()
    }
    rows = []
    for row, base, cand in comparisons:
        b, c = figures[base], figures[cand]
        rows.append(
            {
                "comparison": row,
                "baseline": base,
                "candidate": cand,
                "wall_ratio": c["wall_s"] / b["wall_s"],
                "epoch_speedup": b["epoch_s"] / c["epoch_s"],
                "rss_ratio": c["peak_rss_mb"] / b["peak_rss_mb"],
                "accuracy_points": 100 * (c["accuracy"] - b["accuracy"]),
            }
        )
    _print_tables(figures, rows)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "figures": figures,
                    "comparisons": rows,
                    "args": vars(args) | {"data": str(args.data), "json": str(args.json)},
                },
                indent=2,
            )
        )
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _print_tables(figures: dict, rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    t = Table(title="medians per command")
    for col in ("command", "wall s", "s / epoch", "peak RSS MB", "test acc", "runs"):
        t.add_column(col, justify="left" if col == "command" else "right")
    for name, f in figures.items():
        t.add_row(
            name,
            f"{f['wall_s']:.1f}",
            f"{f['epoch_s']:.2f}",
            f"{f['peak_rss_mb']:.0f}",
            f"{f['accuracy']:.4f}",
            str(f["runs"]),
        )
    console.print(t)
    r = Table(title="ratios (candidate / baseline; speed-up = baseline s per epoch / candidate s per epoch)")
    for col in (
        "comparison",
        "baseline",
        "candidate",
        "wall ratio",
        "epoch speed-up",
        "RSS ratio",
        "acc diff (points)",
    ):
        r.add_column(col, justify="left" if col in ("comparison", "baseline", "candidate") else "right")
    for row in rows:
        r.add_row(
            row["comparison"],
            row["baseline"],
            row["candidate"],
            f"{row['wall_ratio']:.3f}",
            f"{row['epoch_speedup']:.2f}x",
            f"{row['rss_ratio']:.3f}",
            f"{row['accuracy_points']:+.2f}",
        )
    console.print(r)


if __name__ == "__main__":
    sys.exit(main())
