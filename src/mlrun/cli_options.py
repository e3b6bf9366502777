"""The command line's arguments and options, each declared once as an ``Annotated`` alias with its help text."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mlrun import __version__

console = Console()


def version_callback(value: bool) -> None:
    if value:
        console.print(f"mlrun {__version__}")
        raise typer.Exit()


ConfigArg = Annotated[Path, typer.Argument(help="Experiment config (YAML).", show_default=False)]
RunArg = Annotated[
    str,
    typer.Argument(
        help="A run id, a unique prefix of one, `latest`, or the path of a run (or sweep) directory.",
        show_default=False,
    ),
]
RunsArg = Annotated[
    list[str],
    typer.Argument(help="Two or more runs: ids, unique prefixes, `latest` or run directories.", show_default=False),
]
InputsArg = Annotated[
    Path,
    typer.Argument(
        help="Inputs: an NPZ file (array x), a CSV file with the training features' columns, or image files (a file or a directory).",
        show_default=False,
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override a config value: --set optimizer.learning_rate=0.01 (value parsed as YAML). Repeatable.",
    ),
]
RunsDirOpt = Annotated[
    Path | None,
    typer.Option("--runs-dir", help="Runs directory (default: $MLRUN_RUNS_DIR, else ./runs).", show_default=False),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; print only the final line.")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write the HTML page to this file.", show_default=False)]
ReportHtmlOpt = Annotated[
    Path | None,
    typer.Option(
        "--html", help="Write the HTML page here (default: report.html in the run directory).", show_default=False
    ),
]
DataHtmlOpt = Annotated[
    Path | None,
    typer.Option(
        "--html",
        help="Also write an HTML page with the tables and, for images, sample images per class.",
        show_default=False,
    ),
]
NoHtmlOpt = Annotated[bool, typer.Option("--no-html", help="Print the terminal report only.")]
VersionOpt = Annotated[
    bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")
]
TrainSmokeOpt = Annotated[
    bool,
    typer.Option(
        "--smoke",
        help=f"Run the whole pipeline on at most {200} samples for 1 epoch (a quick check); marks the run as smoke.",
    ),
]
SweepSmokeOpt = Annotated[
    bool,
    typer.Option("--smoke", help="Every trial on at most 200 samples for 1 epoch, at most 2 folds (a quick check)."),
]
SchemaOnlyOpt = Annotated[
    bool,
    typer.Option(
        "--schema-only",
        help="Check the config file only (keys, values, consistency): no data, no model, no TensorFlow; fast.",
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Only runs whose name or id contains this (or matches this glob: 'mnist_*').",
        show_default=False,
    ),
]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        help="Only runs with this status: completed, running, failed, interrupted, diverged or crashed. Repeatable.",
        show_default=False,
    ),
]
SortOpt = Annotated[
    str | None,
    typer.Option(
        "--sort",
        help="Sort by a test metric (accuracy, loss, f1_macro, r2, ...) or duration_s, best first.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the runs as a JSON list, for scripts.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="CSV to write (default: predictions-<input name>.csv in the run directory).",
        show_default=False,
    ),
]


class Backend(str, Enum):
    local = "local"
    ray = "ray"


GridOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--grid",
        "-g",
        help="Sweep a key over values: --grid optimizer.learning_rate=0.01,0.001 (YAML values; lists in brackets: --grid model.hidden_units=[128],[256,64]). Adds to or replaces the key in sweep.grid. Repeatable.",
        show_default=False,
    ),
]
FoldsOpt = Annotated[
    int | None,
    typer.Option("--folds", help="Cross-validate with K folds (sets sweep.cv.n_splits).", show_default=False),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-w",
        min=1,
        help="Trials run at once (default: the CPU cores; with --backend ray, the cluster's CPUs).",
        show_default=False,
    ),
]
BackendOpt = Annotated[
    Backend,
    typer.Option(
        "--backend",
        help="local: worker processes on this machine; ray: one Ray task per trial (needs pip install 'mlrun\\[ray]').",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="Ray cluster to run on, e.g. 127.0.0.1:6379 (default: start a local Ray instance).",
        show_default=False,
    ),
]
FailFastOpt = Annotated[
    bool, typer.Option("--fail-fast", help="Stop at the first failed trial (default: record it and go on).")
]
