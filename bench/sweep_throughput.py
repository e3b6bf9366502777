"""Throughput of ``mlrun sweep``'s local backend: the same small trials with 1 worker and with N workers.

Each measurement runs a fresh sweep of ``--trials`` identical-size trials
(sklearn digits, an MLP, one trial per seed, no cross-validation, no refit)
into an empty runs directory, from the call to ``run_sweep`` until every trial
has finished: worker start-up (importing TensorFlow) included. The worker
counts alternate, so a change in background load hits both alike. The ratio
reported is median(time with 1 worker) / median(time with N workers), i.e. the
throughput gain of running trials in parallel over running them one after
another.

With 1 worker mlrun gives that worker every core (TensorFlow intra-op threads =
cores); with N workers each gets cores / N. ``--intra-op-threads 1`` pins every
worker to one thread instead (the issue's "single-threaded processes" baseline).

Usage::

    python bench/sweep_throughput.py                      # 4 trials, 3 repeats, 1 vs 2 workers
    python bench/sweep_throughput.py --trials 6 --repeats 5 --epochs 30
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
        print(f"{args.trials} trials (digits MLP 64-32, {args.epochs} epochs), 1 vs {args.workers} workers, {args.repeats} repeats, alternating")
        times: dict[int, list[float]] = {1: [], args.workers: []}
        for repeat in range(args.repeats):
            for workers in (1, args.workers) if repeat % 2 == 0 else (args.workers, 1):
                t = timed_sweep(config, workers, args.trials)
                times[workers].append(t)
                print(f"  repeat {repeat + 1}: workers={workers}  {t:7.2f} s  ({60 * args.trials / t:5.1f} trials/min)", flush=True)

    serial, parallel = statistics.median(times[1]), statistics.median(times[args.workers])
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, free-cores check: {free_cores_ratio():.2f}x")
    print(f"median: workers=1 {serial:.2f} s, workers={args.workers} {parallel:.2f} s")
    print(f"throughput ratio (workers={args.workers} vs one after another): {serial / parallel:.2f}x "
          f"(parallel time = {parallel / serial:.2f} of serial)")


if __name__ == "__main__":  # required: worker processes are spawned and re-import this file
    main()
