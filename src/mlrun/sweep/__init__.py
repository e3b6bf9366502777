"""Grid search with k-fold cross-validation: ``mlrun sweep``.

- :mod:`.files`: the names of the files in a sweep directory (imports nothing).
- :mod:`.block`: the ``sweep:`` block's schema, read with messages that say where each problem is.
- :mod:`.config`: :func:`read_sweep_config` (every grid point validated up front).
- :mod:`.grid`: grid expansion in scikit-learn's ``ParameterGrid`` order.
- :mod:`.plan`: checks against the data, trial keys, the sweep id.
- :mod:`.trials`: one trial in a worker; a trial's state on disk.
- :mod:`.executors`: local worker processes or Ray tasks.
- :mod:`.results`: results.csv / results.json, like ``GridSearchCV.cv_results_``.
- :mod:`.run`: :func:`run_sweep`, which ties them together and resumes.

Nothing here imports Keras at import time, and the names below are imported on first use, so
``import mlrun.sweep.files`` (the report does) loads none of the machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrun.sweep.block import SWEEP_METRICS, CVConfig, SweepBlock
    from mlrun.sweep.config import Point, SweepSpec, read_sweep_config
    from mlrun.sweep.events import SweepProgress
    from mlrun.sweep.files import RESULTS_CSV, RESULTS_JSON, SWEEP_FILE, SWEEP_YAML
    from mlrun.sweep.grid import expand_grid, parse_grid_option
    from mlrun.sweep.plan import SweepPlan, Trial, plan_sweep
    from mlrun.sweep.results import SweepTable
    from mlrun.sweep.run import SweepResult, run_sweep

_HOMES = {
    "block": ("SWEEP_METRICS", "CVConfig", "SweepBlock"),
    "config": ("Point", "SweepSpec", "read_sweep_config"),
    "files": ("RESULTS_CSV", "RESULTS_JSON", "SWEEP_FILE", "SWEEP_YAML"),
    "grid": ("expand_grid", "parse_grid_option"),
    "plan": ("SweepPlan", "Trial", "plan_sweep"),
    "results": ("SweepTable",),
    "events": ("SweepProgress",),
    "run": ("SweepResult", "run_sweep"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "CVConfig",
    "Point",
    "RESULTS_CSV",
    "RESULTS_JSON",
    "SWEEP_FILE",
    "SWEEP_METRICS",
    "SWEEP_YAML",
    "SweepBlock",
    "SweepPlan",
    "SweepProgress",
    "SweepResult",
    "SweepSpec",
    "SweepTable",
    "Trial",
    "expand_grid",
    "parse_grid_option",
    "plan_sweep",
    "read_sweep_config",
    "run_sweep",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'mlrun.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mlrun.sweep.{module}"), name)
