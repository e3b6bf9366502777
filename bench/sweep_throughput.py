"""Throughput of ``mlrun sweep``'s local backend: the same small trials in parallel and one after another.

Three ways to run the same ``--trials`` trials (sklearn digits, an MLP, one
trial per seed, no cross-validation, no refit), each from start to the last
trial finished, TensorFlow start-up included:

- ``train x N``: one ``mlrun train`` process per trial, one after another
  (what running the trials one after another by hand costs; each process
  imports TensorFlow, as in the issue's "two Keras processes back to back");
- ``workers=1``: ``mlrun sweep --workers 1``: one worker process runs every
  trial (TensorFlow imported once, all cores for its thread pools);
- ``workers=N``: ``mlrun sweep --workers N`` (default N = cores): N worker
  processes, each limited to cores / N TensorFlow threads.

The order of the three rotates from repeat to repeat, so drifting background
load hits all alike. The ratios are median times: baseline / workers=N, i.e.
the throughput gain of the parallel sweep.

A "free-cores check" (two CPU-bound Python processes side by side vs back to
back; 2.0 = two idle cores) is printed before and after: on a shared machine
it tells whether the numbers were taken with the cores actually free.

Usage::

    python bench/sweep_throughput.py                      # 4 trials, 3 repeats
    python bench/sweep_throughput.py --trials 8 --repeats 5 --epochs 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml


def sweep_config(trials: int, epochs: int, threads: int | None) -> dict:
    cfg = {
        "name": "bench_digits",
        "seed": 0,
        "dataset": {"name": "digits", "scale": 16, "validation_split": 0.2},
        "model": {"architecture": "mlp", "hidden_units": [64, 32], "activation": "relu"},
        "loss": "sparse_categorical_crossentropy",
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "training": {"epochs": epochs, "batch_size": 32},
        "metrics": ["accuracy"],
        "sweep": {"grid": {"seed": list(range(trials))}, "refit": False},
    }
    if threads:
        cfg["runtime"] = {"intra_op_threads": threads, "inter_op_threads": 1}
    return cfg


def _spin(n: int) -> None:
    x = 0
    for i in range(n):
        x += i * i


def free_cores_ratio(n: int = 8_000_000) -> float:
    """How much faster two CPU-bound Python processes finish side by side than back to back (2.0: two idle cores).

    Printed before and after, so a ratio measured while something else used the CPU can be told apart.
    """
    import multiprocessing

    start = time.perf_counter()
    _spin(n)
    _spin(n)
    serial = time.perf_counter() - start
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1, 1])  # both processes started
        start = time.perf_counter()
        pool.map(_spin, [n, n])
        parallel = time.perf_counter() - start
    return serial / parallel


def timed_sweep(config: Path, workers: int, trials: int) -> float:
    """Seconds for one fresh sweep of every trial with ``workers`` worker processes."""
    from mlrun.sweep import load_sweep, run_sweep

    spec = load_sweep(config)
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-") as runs:
        start = time.perf_counter()
        result = run_sweep(spec, Path(runs), workers=workers, command=["bench/sweep_throughput.py"])
        elapsed = time.perf_counter() - start
    if result.status != "completed" or result.ran != trials:
        raise SystemExit(f"the sweep did not complete every trial: {result.status}, {result.ran} of {trials} ran")
    return elapsed


def timed_train_processes(config: Path, trials: int) -> float:
    """Seconds for ``mlrun train`` of every trial's config, one process after another."""
    import subprocess
    import sys

    from mlrun import store
    from mlrun.sweep import load_sweep

    spec = load_sweep(config)
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-") as tmp:
        paths = []
        for p in spec.points:
            path = Path(tmp) / f"trial{p.index}.yaml"
            store.write_yaml(path, p.config.model_dump(mode="json"))
            paths.append(path)
        start = time.perf_counter()
        for path in paths:
            subprocess.run([sys.executable, "-m", "mlrun", "train", str(path), "--quiet", "--runs-dir", str(Path(tmp) / "runs")],
                           check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=4, help="trials per sweep (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per worker count (default 3)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per trial (default 20)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="the parallel worker count (default: CPU cores)")
    parser.add_argument("--intra-op-threads", type=int, default=None, help="pin every worker's TensorFlow threads (default: cores / workers)")
    args = parser.parse_args()

    from mlrun.sweep import load_sweep, plan_sweep

    with tempfile.TemporaryDirectory(prefix="mlrun-bench-") as tmp:
        config = Path(tmp) / "bench_sweep.yaml"
        config.write_text(yaml.safe_dump(sweep_config(args.trials, args.epochs, args.intra_op_threads), sort_keys=False))
        plan_sweep(load_sweep(config), Path(tmp))  # warm-up: TensorFlow imported in this process before timing

        print(f"cpu cores: {os.cpu_count()}, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
              f"free-cores check (2 busy processes side by side vs back to back): {free_cores_ratio():.2f}x")
        n = args.workers
        modes = {"train x N": lambda: timed_train_processes(config, args.trials),
                 "workers=1": lambda: timed_sweep(config, 1, args.trials),
                 f"workers={n}": lambda: timed_sweep(config, n, args.trials)}
        names = list(modes)
        print(f"{args.trials} trials (digits MLP 64-32, {args.epochs} epochs), {args.repeats} repeats, order rotating")
        times: dict[str, list[float]] = {name: [] for name in names}
        for repeat in range(args.repeats):
            for name in names[repeat % 3:] + names[: repeat % 3]:
                t = modes[name]()
                times[name].append(t)
                print(f"  repeat {repeat + 1}: {name:10} {t:7.2f} s  ({60 * args.trials / t:5.1f} trials/min)", flush=True)

    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, free-cores check: {free_cores_ratio():.2f}x")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print("median: " + ", ".join(f"{name} {t:.2f} s" for name, t in med.items()))
    parallel = med[f"workers={n}"]
    for name in names[:2]:
        print(f"throughput ratio, workers={n} vs {name}: {med[name] / parallel:.2f}x (time {parallel / med[name]:.2f} of it)")


if __name__ == "__main__":  # required: worker processes are spawned and re-import this file
    main()
