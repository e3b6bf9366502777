"""The notebook API: ``mlrun.train``, ``mlrun.load``, ``mlrun.runs``, ``mlrun.compare``, ``mlrun.sweep``.

Each is the plain function the CLI command of the same name calls (:func:`mlrun.runner.run_experiment`,
:func:`mlrun.sweep.run_sweep`, :func:`mlrun.store.resolve_run`, :mod:`mlrun.report`,
:mod:`mlrun.predict`, :func:`mlrun.export.export_run`), with Python values instead of command-line
strings and objects that show themselves in Jupyter. Errors are raised, never exited on: a
:class:`mlrun.ConfigError` or :class:`mlrun.DataError` carries the message the CLI prints.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from mlrun import store
from mlrun.errors import ConfigError

if TYPE_CHECKING:
    from mlrun.export import ExportResult
    from mlrun.report.rundata import RunData
    from mlrun.sweep import SweepResult


def train(
    config: str | Path,
    *,
    set: Mapping[str, Any] | None = None,
    runs_dir: str | Path | None = None,
    smoke: bool = False,
    progress: bool = True,
) -> Run:
    """Train one model from a YAML config and record it under the runs directory, as ``mlrun train`` does.

    Args:
        config: the experiment config (YAML).
        set: config overrides by dotted key, e.g. ``{"optimizer.learning_rate": 0.01}`` (``--set``).
        runs_dir: default ``$MLRUN_RUNS_DIR``, else ``./runs``.
        smoke: at most 200 samples for 1 epoch (``--smoke``).
        progress: show a progress bar over the epochs.

    Returns:
        The run; a diverged run is returned too (``run.status == "diverged"``).

    Raises:
        ConfigError, DataError: as ``mlrun train`` reports them, before anything is written.
    """
    from mlrun.config import load_config
    from mlrun.progress import EpochProgress, notebook_console
    from mlrun.runner import run_experiment

    config, overrides, where = Path(config), _overrides(set), _runs_dir(runs_dir)
    command = ["mlrun", "train", str(config), *(f"--set={o}" for o in overrides), f"--runs-dir={where}"]
    with _located(config, overrides):
        cfg = load_config(config, overrides)
        with EpochProgress(notebook_console(), enabled=progress) as bars:
            result = run_experiment(
                cfg, where, smoke=smoke, on_epoch=bars.update, base_dir=config.parent, command=command
            )
    return Run(result.run_dir)


def load(ref: str | Path = "latest", *, runs_dir: str | Path | None = None) -> Run:
    """The run ``ref`` names (an id, a unique prefix, ``latest`` or a path), as every CLI command resolves it.

    Raises:
        RunNotFound: nothing matches, or several runs do.
    """
    return Run(store.resolve_run(str(ref), _runs_dir(runs_dir)))


def runs(
    runs_dir: str | Path | None = None,
    *,
    name: str | None = None,
    status: Sequence[str] = (),
    sort: str | None = None,
) -> RunList:
    """The runs in the runs directory, filtered and sorted as ``mlrun runs`` lists them."""
    from mlrun.report.listing import select_runs

    listed = select_runs(store.list_runs(_runs_dir(runs_dir)), name=name, statuses=list(status), sort=sort)
    return RunList(Run(item.run.path) for item in listed)


def compare(*refs: Run | str | Path, runs_dir: str | Path | None = None, html: str | Path | None = None) -> Path | None:
    """Compare runs side by side as ``mlrun compare`` does: config differences, metrics, learning curves.

    Returns:
        The HTML page written (only when ``html`` is given), else None.
    """
    from mlrun.report.show import show_comparison

    names = [str(r.dir) if isinstance(r, Run) else str(r) for r in refs]
    target = Path(html) if html is not None else None
    return show_comparison(_console(), names, _runs_dir(runs_dir), html=target)


def sweep(
    config: str | Path,
    *,
    set: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    folds: int | None = None,
    workers: int | None = None,
    backend: str = "local",
    runs_dir: str | Path | None = None,
    smoke: bool = False,
    fail_fast: bool = False,
    progress: bool = True,
) -> Sweep:
    """Run a grid search over a config's ``sweep:`` block, as ``mlrun sweep`` does; running it again resumes it.

    Args:
        config: a YAML config with a ``sweep:`` block (or give ``grid``).
        set: base config overrides by dotted key (``--set``).
        grid: ``{key: [values]}`` added to or replacing keys of ``sweep.grid`` (``--grid``).
        folds: cross-validate with this many folds (``--folds``).
        workers, backend, fail_fast, smoke: as ``mlrun sweep``'s options.
        runs_dir: default ``$MLRUN_RUNS_DIR``, else ``./runs``.
        progress: show a progress bar over the trials.

    Raises:
        ConfigError, DataError: before anything trains.
    """
    from mlrun.progress import TrialProgress, notebook_console
    from mlrun.sweep import read_sweep_config, run_sweep

    overrides = _overrides(set)
    grid_options = [f"{key}={','.join(json.dumps(v) for v in values)}" for key, values in (grid or {}).items()]
    spec = read_sweep_config(Path(config), overrides, grid=grid_options, folds=folds, smoke=smoke)
    command = [
        "mlrun",
        "sweep",
        str(config),
        *(f"--set={o}" for o in overrides),
        *(f"--grid={g}" for g in grid_options),
    ]
    with TrialProgress(notebook_console(), enabled=progress) as bars:
        result = run_sweep(
            spec,
            _runs_dir(runs_dir),
            workers=workers,
            backend=backend,
            fail_fast=fail_fast,
            on_progress=bars.update,
            command=command,
        )
    return Sweep(result)


class Run:
    """A run directory, read on demand: ``id``, ``dir``, ``status``, ``config``, ``metrics``, ``history``.

    ``predict`` feeds raw inputs to its model as ``mlrun predict`` does; ``export`` writes it for
    serving as ``mlrun export`` does. In Jupyter a run shows its report's key figures.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self._data: RunData | None = None
        self._model: Any = None

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def data(self) -> RunData:
        """Everything the report reads about the run (:class:`mlrun.report.rundata.RunData`), read once."""
        if self._data is None:
            from mlrun.report.rundata import load_run

            self._data = load_run(self.dir, details=False)
        return self._data

    def refresh(self) -> Run:
        """Read the run's files again (a run still training changes them)."""
        self._data = None
        return self

    @property
    def status(self) -> str:
        return self.data.status

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config the run trained with (config.yaml)."""
        return dict(self.data.config or {})

    @property
    def metrics(self) -> dict[str, Any]:
        """The test-set metrics (metrics.json); empty when the run did not complete."""
        return dict(self.data.metrics or {})

    @property
    def history(self) -> list[dict[str, float | None]]:
        """One dict per finished epoch (history.csv): ``epoch``, ``loss``, ``val_loss``, metrics."""
        return [dict(row) for row in self.data.history]

    @property
    def info(self) -> dict[str, Any]:
        """run.json: status, times, versions, data, command."""
        return dict(self.data.info)

    @overload
    def predict(
        self, x: np.ndarray | str | Path, *, batch_size: int = ..., return_std: Literal[False] = ...
    ) -> np.ndarray: ...

    @overload
    def predict(
        self, x: np.ndarray | str | Path, *, batch_size: int = ..., return_std: Literal[True]
    ) -> tuple[np.ndarray, np.ndarray | None]: ...

    def predict(
        self, x: np.ndarray | str | Path, *, batch_size: int = 256, return_std: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
        """Predict raw inputs with the run's model and scaling, as ``mlrun predict`` does.

        Args:
            x: raw inputs ``(n, *input_shape)`` (one sample without the batch axis is fine), or a
                file ``mlrun predict`` reads (NPZ, CSV, image or directory of images).
            batch_size: inputs per forward pass.
            return_std: also return the predictive standard deviations, shaped like ``mlrun predict``'s
                std columns (None for a run without them), scaled as the run's (``evaluation.recalibrate``).

        Returns:
            Class probabilities ``(n, n_classes)`` in the run's class order (a binary model too),
            label probabilities for multilabel, predicted values for regression (``(n,)`` for one
            target). A Monte Carlo dropout run returns the mean of its samples, a deep ensemble its members' mean,
            a Gaussian head its means. With ``return_std``: (those, the stds).

        Raises:
            DataError: the inputs do not have the shape or columns the model was trained on.
        """
        from mlrun.metrics.compute import class_probabilities, std_columns
        from mlrun.predict import read_inputs, read_preprocessing, score_inputs

        preprocessing = read_preprocessing(self.dir)
        source = "the inputs"
        if isinstance(x, (str, Path)):
            inputs = read_inputs(Path(x), preprocessing)
            x, source = inputs.x, inputs.source
        if self._model is None:
            from mlrun.artifacts import load_run_model
            from mlrun.ensemble import load_members

            self._model = load_members(self.dir) or load_run_model(self.dir)
        scores, std = score_inputs(self.dir, x, preprocessing, source=source, batch_size=batch_size, model=self._model)
        task = preprocessing["task"]
        if task in ("binary", "multiclass"):
            out = class_probabilities(scores, task)
        else:
            out = scores[:, 0] if task == "regression" and scores.ndim == 2 and scores.shape[1] == 1 else scores
        if not return_std:
            return out
        return out, std_columns(std, task, [str(c) for c in preprocessing["classes"]])[1] if std is not None else None

    def export(self, format: str, output: str | Path | None = None) -> ExportResult:
        """Write the model for serving (onnx, saved_model, litert), raw inputs in, and verify it: ``mlrun export``."""
        from mlrun.export import export_run

        return export_run(self.dir, format, Path(output) if output is not None else None)

    def __repr__(self) -> str:
        name, value = _headline(self.info)
        shown = f", test {name} {value:.4f}" if isinstance(value, (int, float)) else ""
        return f"<mlrun.Run {self.id}: {self.status}{shown}>"

    def _repr_html_(self) -> str:
        from mlrun.notebook import run_html

        return run_html(self.data)


class RunList(list[Run]):
    """Runs as a list; in Jupyter, a table of their ids, statuses and headline metrics."""

    def _repr_html_(self) -> str:
        from mlrun.notebook import runs_html

        return runs_html([run.data for run in self])


class Sweep:
    """A finished sweep: ``dir``, ``status``, ``results`` (results.csv rows, best first), ``best``, ``refit``."""

    def __init__(self, result: SweepResult) -> None:
        self.result = result
        self.dir = result.sweep_dir
        self.status = result.status

    @property
    def results(self) -> list[dict[str, str]]:
        """The leaderboard: one results.csv row per grid point, best rank first."""
        from mlrun.report.sweeps import read_sweep_results

        return read_sweep_results(self.dir).rows

    @property
    def best(self) -> dict[str, Any] | None:
        """The best grid point: its ``params``, the ranking ``metric`` with its ``mean`` and ``std``, and ``config``."""
        table = self.result.table
        point = table.best
        if point is None:
            return None
        score = point.tracked[table.metric]
        return {
            "params": dict(point.params),
            "metric": table.metric,
            "mean": score["mean"],
            "std": score["std"],
            "config": self.dir / "best_config.yaml",
        }

    @property
    def refit(self) -> Run | None:
        """The best point trained on all the training data and tested (``sweep.refit``), if there is one."""
        from mlrun.sweep.files import REFIT_DIR

        path = self.dir / REFIT_DIR
        return Run(path) if (path / store.RUN_FILE).is_file() else None

    def __repr__(self) -> str:
        return f"<mlrun.Sweep {self.dir.name}: {self.status}, {len(self.result.table.points)} points>"

    def _repr_html_(self) -> str:
        from mlrun.notebook import sweep_html

        return sweep_html(self.dir.name, self.status, self.results, self.best)


def _runs_dir(value: str | Path | None) -> Path:
    return Path(value) if value is not None else store.default_runs_dir()


def _overrides(values: Mapping[str, Any] | None) -> list[str]:
    """``{"a.b": 0.01}`` as ``--set`` strings (``a.b=0.01``): JSON values, which YAML reads back unchanged."""
    return [f"{key}={json.dumps(value, default=str)}" for key, value in (values or {}).items()]


def _headline(info: Mapping[str, Any]) -> tuple[str | None, Any]:
    headline = info.get("headline")
    if isinstance(headline, Mapping):
        return headline.get("metric"), headline.get("value")
    return None, None


def _console() -> Any:
    from mlrun.progress import notebook_console

    return notebook_console()


@contextlib.contextmanager
def _located(config: Path, overrides: list[str]) -> Iterator[None]:
    """A ConfigError found against the data or the model, pointed at the config's file and lines, as the CLI does."""
    try:
        yield
    except ConfigError as exc:
        from mlrun.config.loading import locate_keys

        msg = str(exc)
        located = locate_keys(msg if msg.startswith("error:") else f"error: {msg}", config, overrides)
        if located == msg:
            raise
        raise ConfigError(located) from None
