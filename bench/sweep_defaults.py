"""``mlrun sweep`` with its defaults against the same sweep on TensorFlow, one step per call.

Three measurements, each a fresh ``mlrun sweep`` command from start to exit:

1. **Speed.** ``mlrun sweep configs/digits_mlp_sweep.yaml --workers 2`` as shipped
   (``runtime.backend: auto`` picks JAX for this MLP on a CPU, ``steps_per_execution: auto``)
   against the same command with ``--set runtime.backend=tensorflow --set
   runtime.steps_per_execution=1`` (mlrun's settings before ``auto``). The two alternate, in an
   order that rotates per repeat; the ratio is of median wall times (target: >= 2x).
2. **Same results with one worker.** The defaults again with ``--workers 1``: every trial's
   history and the leaderboard (``results.csv``) must be identical to the two-worker run's.
3. **Time inside epochs.** A JAX sweep of ``--trials`` small trials (the digits MLP, one trial
   per seed, no folds, no refit) on two workers: the sum of every trial's ``epoch_seconds``
   (run.json) over the sweep's duration (sweep.json) times the workers (target: >= 0.8).

A free-cores check (two CPU-bound processes side by side against back to back; 2.0 = two idle
cores) is printed before and after: on a shared machine it tells whether the cores were free.

Usage::

    python bench/sweep_defaults.py                 # 2 repeats, 12 trials
    python bench/sweep_defaults.py --repeats 3 --trials 12 --epochs 20
    python bench/sweep_defaults.py --share-only --epochs 100   # the share with larger trials
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_throughput import free_cores_ratio

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "digits_mlp_sweep.yaml"
OLD_SETTINGS = ["--set", "runtime.backend=tensorflow", "--set", "runtime.steps_per_execution=1"]


def run_sweep(config: Path, runs: Path, *args: str) -> tuple[float, Path]:
    """Run ``mlrun sweep`` in a fresh process; return its wall time and the sweep directory."""
    runs.mkdir(parents=True, exist_ok=True)
    before = set(runs.iterdir())
    argv = [sys.executable, "-m", "mlrun", "sweep", str(config), "--quiet", "--runs-dir", str(runs), *args]
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    (sweep_dir,) = set(runs.iterdir()) - before
    return wall, sweep_dir


def trial_files(sweep_dir: Path, name: str) -> dict[str, str]:
    return {p.parent.name: p.read_text() for p in sorted((sweep_dir / "trials").glob(f"*/{name}"))}


def leaderboard(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def speed(work: Path, repeats: int) -> dict[str, float]:
    modes = {"defaults": [], "tensorflow, 1 step per call": OLD_SETTINGS}
    walls: dict[str, list[float]] = {m: [] for m in modes}
    for rep in range(repeats):
        order = list(modes) if rep % 2 == 0 else list(reversed(modes))
        for mode in order:
            wall, _ = run_sweep(CONFIG, work / f"speed-{rep}-{len(walls[mode])}", "--workers", "2", *modes[mode])
            walls[mode].append(wall)
            print(f"  repeat {rep + 1}: {mode:<28} {wall:6.1f} s", flush=True)
    medians = {m: statistics.median(w) for m, w in walls.items()}
    medians["ratio"] = medians["tensorflow, 1 step per call"] / medians["defaults"]
    return medians


def same_results(work: Path) -> bool:
    _, two = run_sweep(CONFIG, work / "same-2", "--workers", "2")
    _, one = run_sweep(CONFIG, work / "same-1", "--workers", "1")
    histories = trial_files(two, "history.csv") == trial_files(one, "history.csv")
    refit = (two / "refit" / "metrics.json").read_text() == (one / "refit" / "metrics.json").read_text()
    board = leaderboard(two) == leaderboard(one)
    print(f"  --workers 2 against --workers 1: histories {histories}, leaderboard {board}, refit metrics {refit}")
    return histories and board and refit


def epoch_share(work: Path, trials: int, epochs: int) -> float:
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["training"]["epochs"] = epochs
    cfg["sweep"] = {"grid": {"seed": list(range(trials))}, "refit": False, "metric": "val_accuracy"}
    config = work / "jax_sweep.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    _, sweep_dir = run_sweep(config, work / "share", "--workers", "2", "--set", "runtime.backend=jax")
    info = json.loads((sweep_dir / "sweep.json").read_text())
    in_epochs = sum(sum(json.loads(text)["epoch_seconds"]) for text in trial_files(sweep_dir, "run.json").values())
    share = in_epochs / (info["duration_s"] * info["workers"])
    print(
        f"  {trials} JAX trials x {epochs} epochs, 2 workers: {in_epochs:.1f} s in epochs over "
        f"{info['duration_s']:.1f} s x {info['workers']} workers = {share:.2f}"
    )
    return share


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--share-only", action="store_true", help="only measurement 3, the time inside epochs")
    args = ap.parse_args(argv)
    if args.share_only:
        with tempfile.TemporaryDirectory(prefix="mlrun-bench-") as tmp:
            epoch_share(Path(tmp), args.trials, args.epochs)
        return 0
    print(f"load average {os.getloadavg()[0]:.2f}; free-cores check {free_cores_ratio():.2f}x", flush=True)
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-") as tmp:
        work = Path(tmp)
        medians = speed(work, args.repeats)
        identical = same_results(work)
        share = epoch_share(work, args.trials, args.epochs)
    print(f"load average {os.getloadavg()[0]:.2f}; free-cores check {free_cores_ratio():.2f}x")
    print(
        f"\ndigits_mlp_sweep, --workers 2, median of {args.repeats}: defaults {medians['defaults']:.1f} s, "
        f"tensorflow + 1 step per call {medians['tensorflow, 1 step per call']:.1f} s: "
        f"{medians['ratio']:.2f}x faster (target >= 2x)\n"
        f"defaults, --workers 2 against --workers 1: identical = {identical}\n"
        f"JAX sweep, share of wall time x workers inside epochs: {share:.2f} (target >= 0.80)"
    )
    if args.json:
        args.json.write_text(json.dumps({"speed": medians, "identical": identical, "epoch_share": share}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
