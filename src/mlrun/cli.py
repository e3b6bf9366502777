"""The ``mlrun`` command line: parse, call one library function, print a summary.

This is the only module that imports typer. Keras is imported lazily inside
the commands that train or build models, so ``mlrun --help``, ``mlrun runs``
and ``mlrun report`` stay fast.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlrun import store
from mlrun.cli_options import (
    Backend,
    BackendOpt,
    CheckOpt,
    ConfigArg,
    DataHtmlOpt,
    ExportFormatOpt,
    ExportOutputOpt,
    FailFastOpt,
    FoldsOpt,
    GridOpt,
    HtmlOpt,
    InputsArg,
    JsonOpt,
    MlflowOpt,
    NameOpt,
    NoHtmlOpt,
    NTrialsOpt,
    OutputOpt,
    PrunerOpt,
    QuietOpt,
    RayAddressOpt,
    ReportHtmlOpt,
    RetriesOpt,
    RunArg,
    RunsArg,
    RunsDirOpt,
    SchemaOnlyOpt,
    SearchOpt,
    SetOpt,
    SortOpt,
    StatusOpt,
    SweepSmokeOpt,
    SyncAllOpt,
    SyncRunsArg,
    SyncTensorboardOpt,
    TrainSmokeOpt,
    VersionOpt,
    WorkersOpt,
    console,
)
from mlrun.cli_output import cli_errors, err_console, runs_dir_or_default, say

if TYPE_CHECKING:
    from mlrun.sweep import SweepResult

app = typer.Typer(
    name="mlrun",
    help="Train, compare and tune Keras models from YAML config files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(version: VersionOpt = False) -> None:
    """Train, compare and tune Keras models from YAML config files."""


@app.command()
def train(
    config: ConfigArg,
    overrides: SetOpt = None,
    runs_dir: RunsDirOpt = None,
    smoke: TrainSmokeOpt = False,
    quiet: QuietOpt = False,
    mlflow: MlflowOpt = None,
) -> None:
    """Train one model from CONFIG and record it under the runs directory."""
    from mlrun.config import load_config
    from mlrun.config.tracking import mlflow_override
    from mlrun.progress import EpochProgress

    overrides = [*(overrides or []), *mlflow_override(mlflow)]
    with cli_errors(config, overrides):
        cfg = load_config(config, overrides or [])
        from mlrun.runner import run_experiment
        from mlrun.runtime_choice import choose_backend

        if not quiet:
            err_console.print(choose_backend(cfg).line(), markup=False, highlight=False)
        with EpochProgress(err_console, enabled=not quiet) as progress:
            result = run_experiment(
                cfg, runs_dir_or_default(runs_dir), smoke=smoke, on_epoch=progress.update, base_dir=config.parent
            )
    if result.status == "diverged":
        info = store.read_run_info(result.run_dir)
        err_console.print(f"run {result.run_id}: diverged. {info.get('error')}", markup=False)
        raise typer.Exit(1)
    name, value = result.headline
    shown = "n/a" if value is None else f"{value:.4f}"
    say(f"run {result.run_id}: {result.status}, test {name} {shown}")


@app.command()
def validate(
    config: ConfigArg, overrides: SetOpt = None, schema_only: SchemaOnlyOpt = False, runs_dir: RunsDirOpt = None
) -> None:
    """Validate CONFIG, load its data and build the model without training; print the summary.

    A sweep config is checked as `mlrun sweep` checks it (every grid point, every model built) and its plan
    printed: points x folds x repeats, trainings, epochs. Nothing trains and nothing is written.
    """
    from mlrun.config import load_config
    from mlrun.sweep.dryrun import is_sweep_config

    if is_sweep_config(config, overrides or []):
        _validate_sweep(config, overrides or [], schema_only=schema_only, runs_dir=runs_dir_or_default(runs_dir))
        return
    with cli_errors(config, overrides):
        cfg = load_config(config, overrides or [])
        if schema_only:
            say(f"{config}: valid config (schema only: data and model not checked)")
            return
        from mlrun.runner import prepare

        prep = prepare(cfg, base_dir=config.parent)  # imports Keras on the config's runtime.backend
    from mlrun.model import summary_text

    d = prep.data
    calibration = "" if d.x_cal is None else f" / {len(d.x_cal)} calibration"
    console.print(summary_text(prep.model), markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"{config}: valid. {d.task} task on {d.source}: input {d.input_shape}, "
        f"{len(d.x_train)} train / {0 if d.x_val is None else len(d.x_val)} validation{calibration} / "
        f"{len(d.x_test)} test samples, "
        f"{prep.model.count_params():,} parameters",
        highlight=False,
        soft_wrap=True,
    )


def _validate_sweep(config: Path, overrides: list[str], *, schema_only: bool, runs_dir: Path) -> None:
    """`mlrun validate` on a sweep config: the sweep's own checks, then its plan; a dry run."""
    from mlrun.sweep import read_sweep_config
    from mlrun.sweep.dryrun import check_sweep

    with cli_errors(config, overrides):
        spec = read_sweep_config(config, overrides)
        checked = check_sweep(spec, runs_dir, schema_only=schema_only)
    for line in checked.lines():
        say(line)
    if schema_only:
        say("(schema only: data and models not checked)")


@app.command()
def data(config: ConfigArg, overrides: SetOpt = None, html: DataHtmlOpt = None) -> None:
    """Summarize CONFIG's prepared data: shapes, dtypes, class balance per split, value ranges, cleaning."""
    from mlrun.datasummary import describe_config_data, load_data_config
    from mlrun.report.datapage import data_page, print_data
    from mlrun.report.markup import write_page

    with cli_errors(config, overrides):
        cfg = load_data_config(config, overrides or [])
        summary, samples = describe_config_data(cfg, base_dir=config.parent)
    print_data(console, summary)
    if html is not None:
        written = write_page(html, data_page(summary, samples, config=str(config)), name="data.html")
        say(f"data page: {written}")


@app.command("runs")
def runs_cmd(
    runs_dir: RunsDirOpt = None,
    name: NameOpt = None,
    status: StatusOpt = None,
    sort: SortOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the runs in the runs directory; filter by name and status, sort by a metric."""
    from mlrun.report.listing import run_record, select_runs
    from mlrun.report.terminal import runs_table

    with cli_errors():
        scan = store.scan_runs(runs_dir_or_default(runs_dir))
        listed = select_runs(scan.runs, name=name, statuses=status or [], sort=sort)
    for skipped in scan.skipped:  # on stderr: --json output stays parseable
        err_console.print(f"skipped {skipped.path}: {skipped.reason}", markup=False, highlight=False)
    if as_json:
        typer.echo(json.dumps([run_record(item.run) for item in listed], indent=2))
        return
    if not listed:
        filtered = name is not None or bool(status)
        console.print(
            f"no {'matching ' if filtered else ''}runs in {runs_dir_or_default(runs_dir)}",
            highlight=False,
            markup=False,
        )
        return
    console.print(runs_table(listed, width=console.width, sort=sort))


@app.command()
def report(run: RunArg, runs_dir: RunsDirOpt = None, html: ReportHtmlOpt = None, no_html: NoHtmlOpt = False) -> None:
    """Show a run: config, training, test metrics, per-class table, confusion matrix; write an HTML page."""
    from mlrun.report.show import show_report

    with cli_errors():
        written = show_report(console, run, runs_dir_or_default(runs_dir), html=html, write_html=not no_html)
    if written is not None:
        say(f"report: {written}")


@app.command()
def compare(runs: RunsArg, runs_dir: RunsDirOpt = None, html: HtmlOpt = None) -> None:
    """Compare runs side by side: config differences, metrics with the best highlighted, learning curves."""
    from mlrun.report.show import show_comparison

    with cli_errors():
        written = show_comparison(console, runs, runs_dir_or_default(runs_dir), html=html)
    if written is not None:
        say(f"comparison: {written}")


@app.command()
def predict(run: RunArg, inputs: InputsArg, output: OutputOpt = None, runs_dir: RunsDirOpt = None) -> None:
    """Predict with RUN's model and preprocessing for INPUTS; write labels and class probabilities (or values) to a CSV."""
    from mlrun.predict import predict_run

    with cli_errors():
        run_dir = store.resolve_run(run, runs_dir_or_default(runs_dir))
        result = predict_run(run_dir, inputs, output)
    say(f"{result.n} predictions for {result.source}: {result.output}")


@app.command()
def rerun(run: RunArg, check: CheckOpt = False, runs_dir: RunsDirOpt = None, quiet: QuietOpt = False) -> None:
    """Train RUN again from its config, seed and backend into a new run; --check compares the results."""
    from mlrun.progress import EpochProgress
    from mlrun.rerun import check_rerun
    from mlrun.rerun import rerun as rerun_run

    with cli_errors():
        original = store.resolve_run(run, runs_dir_or_default(runs_dir))
        with EpochProgress(err_console, enabled=not quiet) as progress:
            result = rerun_run(original, runs_dir_or_default(runs_dir), on_epoch=progress.update)
        checked = check_rerun(original, result.run_dir) if check else None
    name, value = result.headline
    shown = "n/a" if value is None else f"{value:.4f}"
    say(f"run {result.run_id} (rerun of {original.name}): {result.status}, test {name} {shown}")
    for line in checked.lines() if checked is not None else []:
        say(line)
    if result.status != "completed" or (checked is not None and checked.verdict == "different"):
        raise typer.Exit(1)


@app.command()
def export(run: RunArg, fmt: ExportFormatOpt, output: ExportOutputOpt = None, runs_dir: RunsDirOpt = None) -> None:
    """Export RUN's model as ONNX, SavedModel or LiteRT, taking raw inputs (its scaling inside); verify it."""
    from mlrun.export import TOLERANCE, export_run

    with cli_errors():
        run_dir = store.resolve_run(run, runs_dir_or_default(runs_dir))
        result = export_run(run_dir, fmt.value, output)
    for note in result.notes:
        say(f"note: {note}")
    say(
        f"{result.format}: {result.output} (sidecar {result.sidecar.name}); verified with {result.runtime} on "
        f"{result.n} test inputs: largest absolute difference from {result.against} {result.max_abs_diff:.2g} "
        f"(tolerance {TOLERANCE:g})"
    )


@app.command()
def sweep(
    config: ConfigArg,
    overrides: SetOpt = None,
    grid: GridOpt = None,
    folds: FoldsOpt = None,
    workers: WorkersOpt = None,
    backend: BackendOpt = Backend.local,
    ray_address: RayAddressOpt = None,
    fail_fast: FailFastOpt = False,
    retries: RetriesOpt = 1,
    runs_dir: RunsDirOpt = None,
    smoke: SweepSmokeOpt = False,
    quiet: QuietOpt = False,
    search: SearchOpt = None,
    n_trials: NTrialsOpt = None,
    pruner: PrunerOpt = None,
    mlflow: MlflowOpt = None,
) -> None:
    """Grid, random or TPE search, optionally k-fold cross-validated, over CONFIG's sweep: block; running it again resumes it."""
    from mlrun.config.tracking import mlflow_override
    from mlrun.progress import TrialProgress
    from mlrun.sweep import read_sweep_config as load_sweep
    from mlrun.sweep import run_sweep

    with cli_errors():
        spec = load_sweep(
            config,
            [*(overrides or []), *mlflow_override(mlflow)],
            grid=grid or [],
            folds=folds,
            smoke=smoke,
            search=search.value if search else None,
            n_trials=n_trials,
            pruner=pruner.value if pruner else None,
        )
        if not quiet:
            from mlrun.sweep.info import keras_backends

            for name, reason in keras_backends(spec).items():
                err_console.print(f"backend {name} ({reason})", markup=False, highlight=False)
        with TrialProgress(err_console, enabled=not quiet) as progress:
            result = run_sweep(
                spec,
                runs_dir_or_default(runs_dir),
                workers=workers,
                backend=backend.value,
                ray_address=ray_address,
                fail_fast=fail_fast,
                on_progress=progress.update,
                retries=retries,
            )
    _print_sweep_result(result, leaderboard=not quiet)
    if result.status != "completed":
        raise typer.Exit(1)


@app.command()
def sync(
    runs: SyncRunsArg = None,
    mlflow: MlflowOpt = None,
    tensorboard: SyncTensorboardOpt = False,
    everything: SyncAllOpt = False,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Record runs and sweeps trained offline in MLflow and/or TensorBoard; syncing twice adds nothing."""
    from mlrun.tracking.sync import sync_refs

    with cli_errors():
        result = sync_refs(
            runs or [], runs_dir_or_default(runs_dir), everything, mlflow=mlflow, tensorboard=tensorboard
        )
    say(result.summary())


def _print_sweep_result(result: SweepResult, *, leaderboard: bool) -> None:
    """The leaderboard, the best point, the refit's score, the first failures and one closing line."""
    from mlrun.report.sweeps import read_sweep_results
    from mlrun.report.terminal import print_sweep
    from mlrun.sweep.files import RESULTS_CSV
    from mlrun.sweep.grid import describe_point

    if leaderboard:
        print_sweep(console, read_sweep_results(result.sweep_dir), top=10)
    best = result.table.best
    if best is not None:
        score = best.tracked[result.table.metric]
        say(
            f"best: {describe_point(best.params)} ({result.table.metric} {score['mean']:.4f} ± {score['std']:.4f}); config: {result.sweep_dir / 'best_config.yaml'}"
        )
    if result.refit and result.refit.get("test_metrics"):
        name, value = _refit_headline(result.refit["test_metrics"], result.plan.task)
        if value is not None:
            say(f"refit: test {name} {value:.4f} ({result.sweep_dir / 'refit'})")
    for trial, error in result.failures[:10]:
        err_console.print(f"{trial}: {error}", markup=False)
    say(
        f"sweep {result.sweep_dir.name}: {result.status}; {result.ran} trials run, {result.skipped} already done, "
        f"{len(result.failures)} failed; results in {result.sweep_dir / RESULTS_CSV}"
    )


def _refit_headline(metrics: Mapping[str, Any], task: str) -> tuple[str, float | None]:
    """The refit's headline test metric (r2 for regression, accuracy otherwise) and its value, if recorded."""
    from mlrun.metrics import registry

    name = registry.headline(task)
    value = metrics.get(name)
    return name, float(value) if isinstance(value, (int, float)) else None


if __name__ == "__main__":  # pragma: no cover
    app()
