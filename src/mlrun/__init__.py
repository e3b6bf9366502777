"""mlrun: train, compare and tune Keras models from YAML config files.

In a notebook::

    import mlrun
    run = mlrun.train("configs/digits_mlp.yaml", set={"optimizer.learning_rate": 0.01})
    run.metrics["accuracy"], run.history, run.predict(x)
    mlrun.load("latest"), mlrun.runs(), mlrun.compare(run_a, run_b)
    sweep = mlrun.sweep("configs/digits_mlp_sweep.yaml", workers=2); sweep.results, sweep.best

Importing mlrun loads neither Keras, TensorFlow nor typer: the functions live in :mod:`mlrun.api`
and are imported on first use.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any

from mlrun import sweep as _sweep_package
from mlrun.errors import ConfigError, DataError, MlrunError, RunError, RunNotFound

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mlrun.api import Run, RunList, Sweep, compare, load, runs, train

_API = ("Run", "RunList", "Sweep", "compare", "load", "runs", "train")

__all__ = [
    "ConfigError",
    "DataError",
    "MlrunError",
    "Run",
    "RunError",
    "RunList",
    "RunNotFound",
    "Sweep",
    "__version__",
    "compare",
    "load",
    "runs",
    "sweep",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("mlrun.api"), name)
    raise AttributeError(f"module 'mlrun' has no attribute {name!r}")


class _SweepPackage(types.ModuleType):
    """``mlrun.sweep`` is the sweep package and, called, :func:`mlrun.api.sweep`: ``mlrun.sweep("x.yaml")``.

    A function named ``sweep`` here would be replaced by the package as soon as anything imports
    ``mlrun.sweep.<module>``; a callable package keeps both meanings.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from mlrun.api import sweep

        return sweep(*args, **kwargs)


_sweep_package.__class__ = _SweepPackage
