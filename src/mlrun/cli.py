"""The ``mlrun`` command line: parse, call one library function, print a summary.

This is the only module that imports typer. Keras is imported lazily inside
the commands that train or build models, so ``mlrun --help``, ``mlrun runs``
and ``mlrun report`` stay fast.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from mlrun import __version__, store
from mlrun.errors import MlrunError

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
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config value: --set optimizer.learning_rate=0.01 (value parsed as YAML). Repeatable."),
]
RunsDirOpt = Annotated[
    Optional[Path],
    typer.Option("--runs-dir", help="Runs directory [default: $MLRUN_RUNS_DIR, else ./runs].", show_default=False),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar; print only the final line.")]


def _runs_dir(value: Path | None) -> Path:
    return value if value is not None else store.default_runs_dir()


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so a run is marked interrupted and cleaned up."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn mlrun's errors into a message on stderr and an exit code; interrupts into 130/143."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except MlrunError as exc:
        msg = str(exc)
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
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Train, compare and tune Keras models from YAML config files."""


@app.command()
def train(
    config: ConfigArg,
    overrides: SetOpt = None,
    runs_dir: RunsDirOpt = None,
    smoke: Annotated[bool, typer.Option("--smoke", help=f"Run the whole pipeline on at most {200} samples for 1 epoch (a quick check); marks the run as smoke.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Train one model from CONFIG and record it under the runs directory."""
    from mlrun.config import load_config

    with cli_errors():
        cfg = load_config(config, overrides or [])
        from mlrun.runner import run_experiment

        with _EpochProgress(enabled=not quiet) as progress:
            result = run_experiment(cfg, _runs_dir(runs_dir), smoke=smoke, on_epoch=progress.update)
    name, value = result.headline
    if result.status == "diverged":
        info = store.read_run_info(result.run_dir)
        err_console.print(f"run {result.run_id}: diverged. {info.get('error')}", markup=False)
        raise typer.Exit(1)
    shown = "n/a" if value is None else f"{value:.4f}"
    console.print(f"run {result.run_id}: {result.status}, test {name} {shown}", highlight=False)


@app.command()
def validate(config: ConfigArg, overrides: SetOpt = None) -> None:
    """Validate CONFIG, load its data and build the model without training; print the summary."""
    from mlrun.config import load_config

    with cli_errors():
        cfg = load_config(config, overrides or [])
        from mlrun.model import summary_text
        from mlrun.runner import prepare

        prep = prepare(cfg)
    d = prep.data
    console.print(summary_text(prep.model), markup=False, highlight=False)
    console.print(
        f"{config}: valid. {d.task} task on {d.source}: input {d.input_shape}, "
        f"{len(d.x_train)} train / {0 if d.x_val is None else len(d.x_val)} validation / {len(d.x_test)} test samples, "
        f"{prep.model.count_params():,} parameters",
        highlight=False,
    )


@app.command("runs")
def runs_cmd(runs_dir: RunsDirOpt = None) -> None:
    """List the runs in the runs directory."""
    runs = store.list_runs(_runs_dir(runs_dir))
    if not runs:
        console.print(f"no runs in {_runs_dir(runs_dir)}")
        return
    table = Table(show_edge=False, header_style="bold")
    for col in ("run id", "name", "status", "started", "duration", "headline"):
        table.add_column(col, no_wrap=col in ("run id", "started"))
    for r in runs:
        table.add_row(r.run_id, str(r.info.get("name", "")), _status_text(r.status), str(r.info.get("started_at", "")),
                      _duration(r.info.get("duration_s")), _headline(r.info))
    console.print(table)


def _status_text(status: str) -> str:
    color = {"completed": "green", "running": "cyan", "failed": "red", "diverged": "red", "crashed": "red", "interrupted": "yellow"}.get(status, "white")
    return f"[{color}]{status}[/{color}]"


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return ""
    minutes, sec = divmod(float(seconds), 60)
    return f"{int(minutes)}m{sec:04.1f}s" if minutes else f"{sec:.1f}s"


def _headline(info: Mapping[str, Any]) -> str:
    h = info.get("headline") or {}
    if h.get("value") is None:
        return ""
    return f"{h.get('metric')} {h['value']:.4f}"


class _EpochProgress:
    """A rich progress bar over epochs showing the latest loss and metrics."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None
        self._task = None

    def __enter__(self) -> _EpochProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("epoch"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), TextColumn("{task.description}"), console=err_console, transient=False,
            )
            self._progress.__enter__()
        return self

    def update(self, epoch: int, total: int, logs: Mapping[str, float]) -> None:
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task("", total=total)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k != "learning_rate")
        self._progress.update(self._task, completed=epoch, description=shown)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def run() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
