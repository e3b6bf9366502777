"""Search efficiency: one search space three ways on scikit-learn's digits, over several seeds.

For each seed, the same space (4 learning rates x 3 architectures x 2 batch
sizes = 24 points, each cross-validated on 3 folds) is searched by:

- ``grid``: ``search: grid``, every point x fold;
- ``random``: ``search: random``, ``--n-trials`` configurations, no pruning: a third of the grid's epochs;
- ``tpe+<pruner>``: ``search: tpe`` with ``--pruner`` (median), ``--tpe-trials`` configurations: pruning stops
  unpromising ones early, so the same epoch budget tries more of them (the target checks the epochs).

Each is a fresh ``mlrun sweep`` command (``--workers`` workers, no refit). The table
gives, per method, the epochs trained (summed over every fold trial's run.json
``epochs_completed``), the wall time of the command and the best mean
validation score (``val_accuracy`` over the folds of the best *completed*
configuration), then medians over the seeds, and the target: TPE with pruning
within 0.5 points of the grid's best with at most a third of its epochs.

Usage::

    python bench/search_efficiency.py                       # 3 seeds, 6 epochs, 8 random and 12 TPE trials
    python bench/search_efficiency.py --seeds 0 --epochs 3  # a quick check
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SPACE = {
    "optimizer.learning_rate": [0.001, 0.003, 0.01, 0.03],
    "model.hidden_units": [[16], [64], [64, 32]],
    "training.batch_size": [32, 128],
}


def config(seed: int, epochs: int, search: str, n_trials: int, pruner: str = "median") -> dict:
    sweep: dict = {"cv": {"n_splits": 3}, "metric": "val_accuracy", "mode": "max", "refit": False}
    if search == "grid":
        sweep["grid"] = SPACE
    else:
        sweep.update(search=search, space=SPACE, n_trials=n_trials, pruner=pruner if search == "tpe" else "none")
    return {
        "name": f"bench_{search}",
        "seed": seed,
        "dataset": {"name": "digits", "scale": 16, "validation_split": 0.2},
        "model": {"architecture": "mlp", "hidden_units": [64], "activation": "relu"},
        "loss": "sparse_categorical_crossentropy",
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "training": {"epochs": epochs, "batch_size": 32},
        "metrics": ["accuracy"],
        "sweep": sweep,
    }


def run(cfg: dict, workdir: Path, workers: int) -> dict:
    path = workdir / f"{cfg['name']}-{cfg['seed']}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    runs = workdir / "runs"
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "mlrun", "sweep", str(path), "--runs-dir", str(runs), "--workers", str(workers), "-q"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    sweep_dir = max((p for p in runs.iterdir() if p.name.startswith(cfg["name"])), key=lambda p: p.stat().st_mtime)
    epochs = sum(json.loads(p.read_text())["epochs_completed"] for p in sweep_dir.glob("trials/*/run.json"))
    results = json.loads((sweep_dir / "results.json").read_text())
    best = results["best"]["mean"] if results["best"] else float("nan")
    states = [p.get("status") for p in results["points"]]
    return {"epochs": epochs, "wall_s": wall, "best": best, "pruned": states.count("pruned")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--n-trials", type=int, default=8, help="random search's configurations")
    ap.add_argument("--tpe-trials", type=int, default=12, help="TPE's configurations (pruned ones cost less)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pruner", default="median", help="TPE's pruner: median, successive_halving or hyperband")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    tpe = f"tpe+{args.pruner}"
    methods = (("grid", "grid"), ("random", "random"), (tpe, "tpe"))
    figures: dict[str, list[dict]] = {name: [] for name, _ in methods}
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-search-") as tmp:
        for seed in args.seeds:
            for name, search in methods:
                trials = args.tpe_trials if search == "tpe" else args.n_trials
                fig = run(config(seed, args.epochs, search, trials, args.pruner), Path(tmp), args.workers)
                figures[name].append({"seed": seed, **fig})
                print(f"seed {seed} {name:11} {fig}", file=sys.stderr, flush=True)
    print(f"\n{'method':12} {'seed':>4} {'epochs':>7} {'wall s':>7} {'best val_accuracy':>18} {'pruned':>6}")
    for name, rows in figures.items():
        for r in rows:
            print(f"{name:12} {r['seed']:>4} {r['epochs']:>7} {r['wall_s']:>7.1f} {r['best']:>18.4f} {r['pruned']:>6}")
    print(f"\n{'median':12} {'':>4} {'epochs':>7} {'wall s':>7} {'best val_accuracy':>18}")
    for name, rows in figures.items():
        med = {k: statistics.median(r[k] for r in rows) for k in ("epochs", "wall_s", "best")}
        print(f"{name:12} {'':>4} {med['epochs']:>7.0f} {med['wall_s']:>7.1f} {med['best']:>18.4f}")
    grid, tpe_rows = figures["grid"], figures[tpe]
    gap = statistics.median(100 * (g["best"] - t["best"]) for g, t in zip(grid, tpe_rows))
    ratio = statistics.median(t["epochs"] / g["epochs"] for g, t in zip(grid, tpe_rows))
    met = gap <= 0.5 and ratio <= 1 / 3
    print(
        f"\n{tpe} vs grid (median over seeds): {gap:.2f} points below the grid's best, {ratio:.2f} of its epochs; "
        f"target (<= 0.5 points, <= 0.33 of the epochs) {'met' if met else 'NOT met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
