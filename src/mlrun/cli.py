"""The ``mlrun`` command line: parse, call one library function, print a summary.

This is the only module that imports typer. Keras is imported lazily inside
the commands that train or build models, so ``mlrun --help``, ``mlrun runs``
and ``mlrun report`` stay fast.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mlrun import __version__, store
from mlrun.errors import ConfigError, MlrunError

app = typer.Typer(
    name="mlrun",
    help="Train, compare and tune Keras models from YAML config files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigArg = Annotated[Path, typer.Argument(help="Experiment config (YAML).", show_default=False)]
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


def _runs_dir(value: Path | None) -> Path:
    return value if value is not None else store.default_runs_dir()


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so a run is marked interrupted and cleaned up."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


@contextlib.contextmanager
def cli_errors(config: Path | None = None, overrides: list[str] | None = None) -> Iterator[None]:
    """Turn mlrun's errors into a message on stderr and an exit code; interrupts into 130/143.

    A config error found against the data or the model is pointed at ``config``'s file and lines.
    """
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except MlrunError as exc:
        msg = str(exc)
        if config is not None and isinstance(exc, ConfigError):
            from mlrun.config.loading import locate_keys

            msg = locate_keys(msg if msg.startswith("error:") else f"error: {msg}", config, overrides or [])
        err_console.print(msg if msg.startswith("error:") else f"error: {msg}", markup=False)
        raise typer.Exit(exc.exit_code) from None
    except _Terminated:
        err_console.print("terminated (SIGTERM)", markup=False)
        raise typer.Exit(143) from None
    except KeyboardInterrupt:
        err_console.print("interrupted (Ctrl-C)", markup=False)
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"mlrun {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Train, compare and tune Keras models from YAML config files."""


@app.command()
def train(
    config: ConfigArg,
    overrides: SetOpt = None,
    runs_dir: RunsDirOpt = None,
    smoke: Annotated[
        bool,
        typer.Option(
            "--smoke",
            help=f"Run the whole pipeline on at most {200} samples for 1 epoch (a quick check); marks the run as smoke.",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Train one model from CONFIG and record it under the runs directory."""
    from mlrun.config import load_config

    with cli_errors(config, overrides):
        cfg = load_config(config, overrides or [])
        from mlrun.runner import run_experiment

        with _EpochProgress(enabled=not quiet) as progress:
            result = run_experiment(
                cfg, _runs_dir(runs_dir), smoke=smoke, on_epoch=progress.update, base_dir=config.parent
            )
    name, value = result.headline
    if result.status == "diverged":
        info = store.read_run_info(result.run_dir)
        err_console.print(f"run {result.run_id}: diverged. {info.get('error')}", markup=False)
        raise typer.Exit(1)
    shown = "n/a" if value is None else f"{value:.4f}"
    console.print(
        f"run {result.run_id}: {result.status}, test {name} {shown}", highlight=False, markup=False, soft_wrap=True
    )


@app.command()
def validate(
    config: ConfigArg,
    overrides: SetOpt = None,
    schema_only: Annotated[
        bool,
        typer.Option(
            "--schema-only",
            help="Check the config file only (keys, values, consistency): no data, no model, no TensorFlow; fast.",
        ),
    ] = False,
) -> None:
    """Validate CONFIG, load its data and build the model without training; print the summary."""
    from mlrun.config import load_config

    with cli_errors(config, overrides):
        cfg = load_config(config, overrides or [])
        if schema_only:
            console.print(
                f"{config}: valid config (schema only: data and model not checked)",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            return
        from mlrun.runner import prepare

        prep = prepare(cfg, base_dir=config.parent)  # imports Keras on the config's runtime.backend
    from mlrun.model import summary_text

    d = prep.data
    console.print(summary_text(prep.model), markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"{config}: valid. {d.task} task on {d.source}: input {d.input_shape}, "
        f"{len(d.x_train)} train / {0 if d.x_val is None else len(d.x_val)} validation / {len(d.x_test)} test samples, "
        f"{prep.model.count_params():,} parameters",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def data(
    config: ConfigArg,
    overrides: SetOpt = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write an HTML page with the tables and, for images, sample images per class.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Summarize CONFIG's prepared data: shapes, dtypes, class balance per split, value ranges, cleaning."""
    from mlrun.datasummary import describe_config_data, load_data_config
    from mlrun.report.datapage import data_page, print_data, write_data_page

    with cli_errors(config, overrides):
        cfg = load_data_config(config, overrides or [])
        summary, samples = describe_config_data(cfg, base_dir=config.parent)
    print_data(console, summary)
    if html is not None:
        written = write_data_page(html, data_page(summary, samples, config=str(config)))
        console.print(f"data page: {written}", highlight=False, markup=False, soft_wrap=True)


RunArg = Annotated[
    str,
    typer.Argument(
        help="A run id, a unique prefix of one, `latest`, or the path of a run (or sweep) directory.",
        show_default=False,
    ),
]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write the HTML page to this file.", show_default=False)]


@app.command("runs")
def runs_cmd(
    runs_dir: RunsDirOpt = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Only runs whose name or id contains this (or matches this glob: 'mnist_*').",
            show_default=False,
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only runs with this status: completed, running, failed, interrupted, diverged or crashed. Repeatable.",
            show_default=False,
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="Sort by a test metric (accuracy, loss, f1_macro, r2, ...) or duration_s, best first.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as a JSON list, for scripts.")] = False,
) -> None:
    """List the runs in the runs directory; filter by name and status, sort by a metric."""
    from mlrun.report.listing import run_record, select_runs
    from mlrun.report.terminal import runs_table

    with cli_errors():
        listed = select_runs(store.list_runs(_runs_dir(runs_dir)), name=name, statuses=status or [], sort=sort)
    if as_json:
        typer.echo(json.dumps([run_record(item.run) for item in listed], indent=2))
        return
    if not listed:
        filtered = name is not None or bool(status)
        console.print(
            f"no {'matching ' if filtered else ''}runs in {_runs_dir(runs_dir)}", highlight=False, markup=False
        )
        return
    console.print(runs_table(listed, width=console.width, sort=sort))


@app.command()
def report(
    run: RunArg,
    runs_dir: RunsDirOpt = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Write the HTML page here (default: report.html in the run directory).", show_default=False
        ),
    ] = None,
    no_html: Annotated[bool, typer.Option("--no-html", help="Print the terminal report only.")] = False,
) -> None:
    """Show a run: config, training, test metrics, per-class table, confusion matrix; write an HTML page."""
    from mlrun.report.show import show_report

    with cli_errors():
        written = show_report(console, run, _runs_dir(runs_dir), html=html, write_html=not no_html)
    if written is not None:
        console.print(f"report: {written}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def compare(
    runs: Annotated[
        list[str],
        typer.Argument(help="Two or more runs: ids, unique prefixes, `latest` or run directories.", show_default=False),
    ],
    runs_dir: RunsDirOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Compare runs side by side: config differences, metrics with the best highlighted, learning curves."""
    from mlrun.report.show import show_comparison

    with cli_errors():
        written = show_comparison(console, runs, _runs_dir(runs_dir), html=html)
    if written is not None:
        console.print(f"comparison: {written}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def predict(
    run: RunArg,
    inputs: Annotated[
        Path,
        typer.Argument(
            help="Inputs: an NPZ file (array x), a CSV file with the training features' columns, or image files (a file or a directory).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="CSV to write (default: predictions-<input name>.csv in the run directory).",
            show_default=False,
        ),
    ] = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Predict with RUN's model and preprocessing for INPUTS; write labels and class probabilities (or values) to a CSV."""
    from mlrun.predict import predict_run

    with cli_errors():
        run_dir = store.resolve_run(run, _runs_dir(runs_dir))
        result = predict_run(run_dir, inputs, output)
    console.print(
        f"{result.n} predictions for {result.source}: {result.output}", highlight=False, markup=False, soft_wrap=True
    )


class _EpochProgress:
    """A rich progress bar over epochs showing the latest loss and metrics."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None
        self._task = None

    def __enter__(self) -> _EpochProgress:
        return self  # the bar appears with the first epoch: an error before it prints nothing but the message

    def _start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("epoch"),
            MofNCompleteColumn(),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=err_console,
            transient=False,
        )
        self._progress.__enter__()

    def update(self, epoch: int, total: int, logs: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            self._start()
        if self._task is None:
            self._task = self._progress.add_task("", total=total)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k != "learning_rate")
        self._progress.update(self._task, completed=epoch, description=shown)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


class Backend(str, Enum):
    local = "local"
    ray = "ray"


@app.command()
def sweep(
    config: ConfigArg,
    overrides: SetOpt = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            "-g",
            help="Sweep a key over values: --grid optimizer.learning_rate=0.01,0.001 (YAML values; lists in brackets: --grid model.hidden_units=[128],[256,64]). Adds to or replaces the key in sweep.grid. Repeatable.",
            show_default=False,
        ),
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option("--folds", help="Cross-validate with K folds (sets sweep.cv.n_splits).", show_default=False),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Trials run at once (default: the CPU cores; with --backend ray, the cluster's CPUs).",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        Backend,
        typer.Option(
            "--backend",
            help="local: worker processes on this machine; ray: one Ray task per trial (needs pip install 'mlrun\\[ray]').",
        ),
    ] = Backend.local,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to run on, e.g. 127.0.0.1:6379 (default: start a local Ray instance).",
            show_default=False,
        ),
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Stop at the first failed trial (default: record it and go on).")
    ] = False,
    runs_dir: RunsDirOpt = None,
    smoke: Annotated[
        bool,
        typer.Option(
            "--smoke", help="Every trial on at most 200 samples for 1 epoch, at most 2 folds (a quick check)."
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Grid search, optionally k-fold cross-validated, over CONFIG's sweep: block; running it again resumes it."""
    from mlrun.report.sweeps import load_sweep as read_leaderboard
    from mlrun.report.terminal import print_sweep
    from mlrun.sweep import read_sweep_config as load_sweep
    from mlrun.sweep import run_sweep
    from mlrun.sweep.grid import describe_point

    with cli_errors():
        spec = load_sweep(config, overrides or [], grid=grid or [], folds=folds, smoke=smoke)
        with _TrialProgress(enabled=not quiet) as progress:
            result = run_sweep(
                spec,
                _runs_dir(runs_dir),
                workers=workers,
                backend=backend.value,
                ray_address=ray_address,
                fail_fast=fail_fast,
                on_progress=progress.update,
            )
    if not quiet:
        print_sweep(console, read_leaderboard(result.sweep_dir), top=10)
    best = result.table.best
    if best is not None:
        score = best.tracked[result.table.metric]
        console.print(
            f"best: {describe_point(best.params)} ({result.table.metric} {score['mean']:.4f} ± {score['std']:.4f}); config: {result.sweep_dir / 'best_config.yaml'}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if result.refit and result.refit.get("test_metrics"):
        name, value = _refit_headline(result.refit["test_metrics"])
        console.print(
            f"refit: test {name} {value:.4f} ({result.sweep_dir / 'refit'})",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    for trial, error in result.failures[:10]:
        err_console.print(f"{trial}: {error}", markup=False)
    failed = len(result.failures)
    console.print(
        f"sweep {result.sweep_dir.name}: {result.status}; {result.ran} trials run, {result.skipped} already done, "
        f"{failed} failed; results in {result.sweep_dir / 'results.csv'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if result.status != "completed":
        raise typer.Exit(1)


def _refit_headline(metrics: Mapping[str, Any]) -> tuple[str, float]:
    name = "r2" if metrics.get("r2") is not None else "accuracy"
    return name, float(metrics.get(name) or 0.0)


class _TrialProgress:
    """A rich progress bar over a sweep's trials, with an ETA, then one over the refit."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _TrialProgress:
        return self  # the bars appear with the first trial: an error in planning prints nothing but the message

    def update(self, event: Any) -> None:
        if not self.enabled or event.total == 0:
            return
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.fields[stage]}"),
                MofNCompleteColumn(),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                console=err_console,
                transient=False,
            )
            self._progress.__enter__()
        if event.stage not in self._tasks:
            self._tasks[event.stage] = self._progress.add_task("", total=event.total, stage=event.stage)
        notes = [
            f"{event.skipped} already done" if event.skipped else "",
            f"{event.failed} failed" if event.failed else "",
        ]
        if event.trial and event.status and event.status != "completed":
            notes.append(f"{event.trial}: {event.status}")
        shown = "; ".join(n for n in notes if n)
        self._progress.update(self._tasks[event.stage], completed=event.finished, description=shown)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def run() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
