"""The command line's arguments and options, each declared once as an ``Annotated`` alias with its help text."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mlrun import __version__

console = Console()

#: The help text of every argument and option, by its alias below.
HELP = {
    "config": "Experiment config (YAML).",
    "run": "A run id, a unique prefix of one, `latest`, or the path of a run (or sweep) directory.",
    "runs": "Two or more runs: ids, unique prefixes, `latest` or run directories.",
    "inputs": "Inputs: an NPZ file (array x), a CSV file with the training features' columns "
    "(a run with dataset.cleaning: raw rows with its training CSV's columns, cleaned as its training rows were), "
    "or image files (a file or a directory).",
    "set": "Override a config value: --set optimizer.learning_rate=0.01 (value parsed as YAML). Repeatable.",
    "runs_dir": "Runs directory (default: $MLRUN_RUNS_DIR, else ./runs).",
    "quiet": "No progress bar; print only the final line.",
    "html": "Write the HTML page to this file.",
    "report_html": "Write the HTML page here (default: report.html in the run directory).",
    "data_html": "Also write an HTML page with the tables and, for images, sample images per class.",
    "no_html": "Print the terminal report only.",
    "version": "Show the version and exit.",
    "train_smoke": "Run the whole pipeline on at most 200 samples for 1 epoch (a quick check); marks the run as smoke.",
    "sweep_smoke": "Every trial on at most 200 samples for 1 epoch, at most 2 folds and, for random or TPE search, "
    "at most 4 configurations (a quick check).",
    "schema_only": "Check the config file only (keys, values, consistency): no data, no model, no TensorFlow; fast.",
    "name": "Only runs whose name or id contains this (or matches this glob: 'mnist_*').",
    "status": "Only runs with this status: completed, running, failed, interrupted, diverged or crashed. Repeatable.",
    "sort": "Sort by a test metric (accuracy, loss, f1_macro, r2, ...) or duration_s, best first.",
    "json": "Print the runs as a JSON list, for scripts.",
    "output": "CSV to write (default: predictions-<input name>.csv in the run directory).",
    "grid": "Sweep a key over values: --grid optimizer.learning_rate=0.01,0.001 (YAML values; lists in brackets: "
    "--grid model.hidden_units=[128],[256,64]). Adds to or replaces the key in sweep.grid. Repeatable.",
    "folds": "Cross-validate with K folds (sets sweep.cv.n_splits).",
    "workers": "Trials run at once (default: the CPU cores; with --backend ray, the cluster's CPUs).",
    "backend": "local: worker processes on this machine; ray: one Ray task per trial "
    "(needs pip install 'mlrun\\[ray]').",
    "ray_address": "Ray cluster to run on, e.g. 127.0.0.1:6379 (default: start a local Ray instance).",
    "retries": "With --backend ray: run a trial again, up to this many times, when its worker process or node dies "
    "(a trial that fails by itself, a config error or divergence, is not retried).",
    "fail_fast": "Stop at the first failed trial (default: record it and go on).",
    "check": "Compare the new run's history.csv and metrics.json with the original's and print a verdict: "
    "identical, equal within tolerance (exit 0) or different (exit 1).",
    "export_format": "onnx, saved_model or litert (onnx needs pip install 'mlrun\\[export]').",
    "export_output": "File to write (a directory for saved_model; default: export/model.onnx, export/saved_model "
    "or export/model.tflite in the run directory). The sidecar JSON goes beside it as <name>.json.",
    "search": "grid, random or tpe (sets sweep.search); random and tpe sample sweep.space.",
    "n_trials": "Random or TPE search: configurations to try in all (sets sweep.n_trials); "
    "rerunning with a larger number extends the study.",
    "mlflow": "Record in MLflow at this tracking URI: http://host:5000, sqlite:///mlflow.db, or env "
    "($MLFLOW_TRACKING_URI). For train and sweep it sets tracking.mlflow. Needs pip install 'mlrun\\[mlflow]'.",
    "sync_tensorboard": "(Re)write each run's TensorBoard files (<run>/tensorboard/) from its history.csv.",
    "sync_all": "Every run and sweep in the runs directory.",
    "sync_runs": "Runs or sweeps: ids, unique prefixes, `latest` or directories.",
    "pruner": "Random or TPE search: none, median, successive_halving or hyperband (sets sweep.pruner).",
}


def _argument(key: str) -> Any:
    return typer.Argument(help=HELP[key], show_default=False)


def _option(key: str, *names: str, shown: bool = True, **kwargs: Any) -> Any:
    """A typer option with ``HELP[key]``; ``shown=False`` leaves its default out of --help (None, or in the text)."""
    return typer.Option(*names, help=HELP[key], show_default=shown, **kwargs)


def version_callback(value: bool) -> None:
    if value:
        console.print(f"mlrun {__version__}")
        raise typer.Exit()


class Search(str, Enum):
    grid = "grid"
    random = "random"
    tpe = "tpe"


class Pruner(str, Enum):
    none = "none"
    median = "median"
    successive_halving = "successive_halving"
    hyperband = "hyperband"


class Backend(str, Enum):
    local = "local"
    ray = "ray"


class ExportFormat(str, Enum):
    onnx = "onnx"
    saved_model = "saved_model"
    litert = "litert"


ConfigArg = Annotated[Path, _argument("config")]
RunArg = Annotated[str, _argument("run")]
RunsArg = Annotated[list[str], _argument("runs")]
InputsArg = Annotated[Path, _argument("inputs")]

SetOpt = Annotated[list[str] | None, _option("set", "--set", "-s")]
RunsDirOpt = Annotated[Path | None, _option("runs_dir", "--runs-dir", shown=False)]
QuietOpt = Annotated[bool, _option("quiet", "--quiet", "-q")]
HtmlOpt = Annotated[Path | None, _option("html", "--html", shown=False)]
ReportHtmlOpt = Annotated[Path | None, _option("report_html", "--html", shown=False)]
DataHtmlOpt = Annotated[Path | None, _option("data_html", "--html", shown=False)]
NoHtmlOpt = Annotated[bool, _option("no_html", "--no-html")]
VersionOpt = Annotated[bool, _option("version", "--version", callback=version_callback, is_eager=True)]
TrainSmokeOpt = Annotated[bool, _option("train_smoke", "--smoke")]
SweepSmokeOpt = Annotated[bool, _option("sweep_smoke", "--smoke")]
SchemaOnlyOpt = Annotated[bool, _option("schema_only", "--schema-only")]
NameOpt = Annotated[str | None, _option("name", "--name", shown=False)]
StatusOpt = Annotated[list[str] | None, _option("status", "--status", shown=False)]
SortOpt = Annotated[str | None, _option("sort", "--sort", shown=False)]
JsonOpt = Annotated[bool, _option("json", "--json")]
OutputOpt = Annotated[Path | None, _option("output", "--output", "-o", shown=False)]
GridOpt = Annotated[list[str] | None, _option("grid", "--grid", "-g", shown=False)]
FoldsOpt = Annotated[int | None, _option("folds", "--folds", shown=False)]
WorkersOpt = Annotated[int | None, _option("workers", "--workers", "-w", shown=False, min=1)]
BackendOpt = Annotated[Backend, _option("backend", "--backend")]
RayAddressOpt = Annotated[str | None, _option("ray_address", "--ray-address", shown=False)]
RetriesOpt = Annotated[int, _option("retries", "--retries", min=0)]
FailFastOpt = Annotated[bool, _option("fail_fast", "--fail-fast")]
CheckOpt = Annotated[bool, _option("check", "--check")]
ExportFormatOpt = Annotated[ExportFormat, _option("export_format", "--format", "-f", shown=False)]
ExportOutputOpt = Annotated[Path | None, _option("export_output", "--output", "-o", shown=False)]
SearchOpt = Annotated[Search | None, _option("search", "--search", shown=False)]
NTrialsOpt = Annotated[int | None, _option("n_trials", "--n-trials", shown=False, min=1)]
MlflowOpt = Annotated[str | None, _option("mlflow", "--mlflow", shown=False)]
SyncTensorboardOpt = Annotated[bool, _option("sync_tensorboard", "--tensorboard")]
SyncAllOpt = Annotated[bool, _option("sync_all", "--all")]
SyncRunsArg = Annotated[list[str] | None, typer.Argument(help=HELP["sync_runs"], show_default=False)]
PrunerOpt = Annotated[Pruner | None, _option("pruner", "--pruner", shown=False)]
