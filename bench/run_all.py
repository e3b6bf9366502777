"""Run every mlrun benchmark in one go: training vs plain Keras, CLI latency, sweep defaults and throughput.

Usage::

    python bench/run_all.py            # the defaults of each benchmark (about 30 minutes on 2 cores)
    python bench/run_all.py --quick    # 1 repeat, fewer epochs: a check that the benchmarks run

Each benchmark prints its own table; ``--json-dir DIR`` keeps their figures as JSON.
Run on an otherwise idle machine: the figures are medians, but two cores shared
with other work still skew them (each benchmark prints the load average).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat and fewer epochs")
    ap.add_argument("--json-dir", type=Path, help="write each benchmark's figures as JSON here")
    args = ap.parse_args()
    quick = args.quick
    benches = [
        ("train_vs_keras.py", ["--repeats", "1", "--mlp-epochs", "2", "--cnn-epochs", "1"] if quick else []),
        ("cli_latency.py", ["--repeats", "3"] if quick else []),
        ("sweep_defaults.py", ["--repeats", "1", "--trials", "4", "--epochs", "5"] if quick else []),
        ("sweep_throughput.py", ["--repeats", "1"] if quick else []),
    ]
    failed = []
    for script, extra in benches:
        if args.json_dir and script != "sweep_throughput.py":
            args.json_dir.mkdir(parents=True, exist_ok=True)
            extra = [*extra, "--json", str(args.json_dir / script.replace(".py", ".json"))]
        print(f"\n=== {script} {' '.join(extra)}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *extra]).returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nmissed a target or failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
