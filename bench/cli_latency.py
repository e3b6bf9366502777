"""Latency of mlrun's quick commands, and proof that none of them imports TensorFlow (or Keras, or JAX).

Times, as medians of ``--repeats`` fresh processes each: ``mlrun --help``,
``mlrun validate --schema-only``, ``mlrun runs``, ``mlrun report RUN --no-html``
and ``mlrun report RUN`` (HTML page included), on a runs directory holding one
finished digits run (trained once, first, not timed). Targets: ``--help``
<= 0.5 s; ``runs`` and ``report`` <= 1.5 s.

Each command also runs once in a Python process that reports which heavy
modules it imported (``tensorflow``, ``keras``, ``jax``): that column must
read "none".

Usage::

    python bench/cli_latency.py                 # 7 repeats
    python bench/cli_latency.py --repeats 15
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"--help": 0.5, "runs": 1.5, "report --no-html": 1.5, "report (html)": 1.5}

PROBE = (
    "import sys\nfrom mlrun.cli import app\n"
    "try:\n    app(sys.argv[1:], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'jax'})\n"
    "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    mlrun = shutil.which("mlrun")
    if mlrun is None:
        raise SystemExit("mlrun is not on PATH: pip install -e . first")
    work = Path(tempfile.mkdtemp(prefix="mlrun-cli-bench-"))
    env = {**os.environ, "MLRUN_RUNS_DIR": str(work / "runs")}
    config = ROOT / "configs" / "digits_mlp.yaml"
    subprocess.run(
        [mlrun, "train", str(config), "--quiet", "--set", "training.epochs=3"], env=env, check=True, capture_output=True
    )

    commands = {
        "--help": ["--help"],
        "validate --schema-only": ["validate", str(config), "--schema-only"],
        "runs": ["runs"],
        "report --no-html": ["report", "latest", "--no-html"],
        "report (html)": ["report", "latest"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    print(f"{len(commands)} commands x {args.repeats} repeats; load average {os.getloadavg()[0]:.2f}", flush=True)
    for _ in range(args.repeats):
        for name, cmd in commands.items():  # interleaved, so background load drifts over all alike
            started = time.perf_counter()
            subprocess.run([mlrun, *cmd], env=env, check=True, capture_output=True)
            times[name].append(time.perf_counter() - started)
    heavy = {}
    for name, cmd in commands.items():
        out = subprocess.run([sys.executable, "-c", PROBE, *cmd], env=env, capture_output=True, text=True)
        line = next((ln for ln in out.stderr.splitlines() if ln.startswith("HEAVY=")), "HEAVY=?")
        heavy[name] = line.removeprefix("HEAVY=") or "none"

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"CLI latency, median of {args.repeats} fresh processes")
    for col in ("command", "median s", "min s", "max s", "target s", "ok", "heavy imports"):
        table.add_column(col, justify="left" if col in ("command", "heavy imports") else "right")
    figures = {}
    for name, values in times.items():
        med = statistics.median(values)
        target = TARGETS.get(name)
        ok = (target is None or med <= target) and heavy[name] == "none"
        figures[name] = {
            "median_s": med,
            "min_s": min(values),
            "max_s": max(values),
            "target_s": target,
            "heavy_imports": heavy[name],
            "ok": ok,
        }
        table.add_row(
            name,
            f"{med:.3f}",
            f"{min(values):.3f}",
            f"{max(values):.3f}",
            "-" if target is None else f"{target:.1f}",
            "yes" if ok else "NO",
            heavy[name],
        )
    Console(width=max(Console().width, 110)).print(table)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(f["ok"] for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
