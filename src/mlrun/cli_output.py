"""How the command line reports: the error console, one-line summaries, mlrun's errors and interrupts as exit codes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console

from mlrun import interrupts, store
from mlrun.cli_options import console
from mlrun.errors import ConfigError, MlrunError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def runs_dir_or_default(value: Path | None) -> Path:
    """``--runs-dir``, else ``$MLRUN_RUNS_DIR``, else ``./runs``."""
    return value if value is not None else store.default_runs_dir()


@contextlib.contextmanager
def cli_errors(config: Path | None = None, overrides: list[str] | None = None) -> Iterator[None]:
    """Turn mlrun's errors into a message on stderr and an exit code; interrupts into 130/143.

    A config error found against the data or the model is pointed at ``config``'s file and lines.
    Ctrl-C and SIGTERM are remembered while the command runs (:mod:`mlrun.interrupts`), so that
    training raises one again where a library swallowed it.
    """
    try:
        with interrupts.handled():
            yield
    except MlrunError as exc:
        msg = str(exc)
        if config is not None and isinstance(exc, ConfigError):
            from mlrun.config.loading import locate_keys

            msg = locate_keys(msg if msg.startswith("error:") else f"error: {msg}", config, overrides or [])
        err_console.print(msg if msg.startswith("error:") else f"error: {msg}", markup=False)
        raise typer.Exit(exc.exit_code) from None
    except interrupts.Terminated:
        err_console.print("terminated (SIGTERM)", markup=False)
        raise typer.Exit(143) from None
    except KeyboardInterrupt:
        err_console.print("interrupted (Ctrl-C)", markup=False)
        raise typer.Exit(130) from None


def say(line: str) -> None:
    """Print one summary line as it is: no markup, no highlighting, no wrapping."""
    console.print(line, highlight=False, markup=False, soft_wrap=True)
