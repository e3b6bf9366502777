"""Throughput of ``mlrun sweep``'s local backend on TensorFlow: the same small trials in parallel and one after another.

Every mode runs the same ``--trials`` trials (sklearn digits, an MLP, one
trial per seed, no cross-validation, no refit) as a fresh command, from
start to exit, TensorFlow start-up included, as a user would run them:

- ``train x N``: one ``mlrun train`` process per trial, one after another
  (running the trials by hand; each process imports TensorFlow, as in the
  issue's "two Keras processes back to back");
- ``1 worker, 1 thread``: ``mlrun sweep --workers 1`` with every trial on one
  TensorFlow thread: the very trials the parallel sweep runs, one after
  another (the issue's baseline: single-threaded trials back to back);
- ``1 worker``: ``mlrun sweep --workers 1``: one worker, all cores for its
  TensorFlow thread pools;
- ``N workers``: ``mlrun sweep --workers N`` (default N = cores), each worker
  limited to cores / N threads, forked from a fork server that imported
  TensorFlow once;
- ``N workers, spawn``: the same with ``MLRUN_WORKER_START=spawn``: each
  worker a fresh interpreter importing TensorFlow itself (how mlrun started
  workers before the fork server).

The order of the modes rotates from repeat to repeat, so drifting background
load hits all alike. Ratios are of median times (= throughput ratios).

A "free-cores check" (two CPU-bound Python processes side by side vs back to
back; 2.0 = two idle cores) is printed before and after: on a shared machine
it tells whether the numbers were taken with the cores actually free.

Usage::

    python bench/sweep_throughput.py                      # 6 trials, 3 repeats
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
        # TensorFlow, one step per call: the worker start methods compared here (the fork server) are TensorFlow's;
        # bench/sweep_defaults.py measures the default runtime (backend: auto) against these settings
        "runtime": {"backend": "tensorflow", "steps_per_execution": 1},
    }
    if threads:
        cfg["runtime"] |= {"intra_op_threads": threads, "inter_op_threads": 1}
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


def timed_command(args: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds for one command, from start to exit (output discarded; a failure stops the bench)."""
    import subprocess

    start = time.perf_counter()
    done = subprocess.run(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def timed_sweep(config: Path, workers: int, *, threads: int | None = None, start_method: str | None = None) -> float:
    """Seconds for ``mlrun sweep`` of every trial into a fresh runs directory."""
    import sys

    with tempfile.TemporaryDirectory(prefix="mlrun-bench-") as runs:
        args = [sys.executable, "-m", "mlrun", "sweep", str(config), "--workers", str(workers), "--runs-dir", runs]
        if threads:
            args += ["--set", f"runtime.intra_op_threads={threads}"]
        return timed_command(args, {"MLRUN_WORKER_START": start_method} if start_method else None)


def timed_train_processes(config: Path) -> float:
    """Seconds for ``mlrun train`` of every trial's config, one process after another."""
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
        total = 0.0
        for path in paths:
            total += timed_command(
                [sys.executable, "-m", "mlrun", "train", str(path), "--quiet", "--runs-dir", str(Path(tmp) / "runs")]
            )
        return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=6, help="trials per sweep (default 6)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per mode (default 3)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per trial (default 20)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="the parallel worker count (default: CPU cores)"
    )
    args = parser.parse_args()

    n = args.workers
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-") as tmp:
        config = Path(tmp) / "bench_sweep.yaml"
        config.write_text(yaml.safe_dump(sweep_config(args.trials, args.epochs, None), sort_keys=False))
        modes = {
            "train x N": lambda: timed_train_processes(config),
            "1 worker, 1 thread": lambda: timed_sweep(config, 1, threads=1),
            "1 worker": lambda: timed_sweep(config, 1),
            f"{n} workers": lambda: timed_sweep(config, n),
            f"{n} workers, spawn": lambda: timed_sweep(config, n, start_method="spawn"),
        }
        print(
            f"cpu cores: {os.cpu_count()}, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
            f"free-cores check (2 busy processes side by side vs back to back): {free_cores_ratio():.2f}x"
        )
        names = list(modes)
        print(f"{args.trials} trials (digits MLP 64-32, {args.epochs} epochs), {args.repeats} repeats, order rotating")
        times: dict[str, list[float]] = {name: [] for name in names}
        for repeat in range(args.repeats):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                t = modes[name]()
                times[name].append(t)
                print(
                    f"  repeat {repeat + 1}: {name:20} {t:7.2f} s  ({60 * args.trials / t:5.1f} trials/min)", flush=True
                )

    print(
        f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, free-cores check: {free_cores_ratio():.2f}x"
    )
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print("\nmedian seconds:")
    for name, t in med.items():
        print(f"  {name:20} {t:7.2f} s  ({60 * args.trials / t:5.1f} trials/min)")
    parallel = med[f"{n} workers"]
    print(f"\nthroughput of --workers {n} relative to:")
    for name in names:
        if name != f"{n} workers":
            print(f"  {name:20} {med[name] / parallel:5.2f}x")


if __name__ == "__main__":  # required: worker processes are spawned and re-import this file
    main()
