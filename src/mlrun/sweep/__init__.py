"""Grid search with k-fold cross-validation: ``mlrun sweep``.

- :mod:`.config`: the ``sweep:`` block and :func:`load_sweep` (every grid point validated up front).
- :mod:`.grid`: grid expansion in scikit-learn's ``ParameterGrid`` order.
- :mod:`.plan`: checks against the data, trial keys, the sweep id.
- :mod:`.trials`: one trial in a worker; a trial's state on disk.
- :mod:`.executors`: local worker processes or Ray tasks.
- :mod:`.results`: results.csv / results.json, like ``GridSearchCV.cv_results_``.
- :mod:`.run`: :func:`run_sweep`, which ties them together and resumes.

Nothing here imports Keras at import time.
"""

from mlrun.sweep.config import SWEEP_METRICS, CVConfig, Point, SweepBlock, SweepSpec, load_sweep
from mlrun.sweep.grid import expand_grid, parse_grid_option
from mlrun.sweep.plan import SweepPlan, Trial, plan_sweep
from mlrun.sweep.results import RESULTS_CSV, RESULTS_JSON, SweepTable
from mlrun.sweep.run import SWEEP_FILE, SWEEP_YAML, SweepProgress, SweepResult, run_sweep

__all__ = [
    "RESULTS_CSV",
    "RESULTS_JSON",
    "SWEEP_FILE",
    "SWEEP_METRICS",
    "SWEEP_YAML",
    "CVConfig",
    "Point",
    "SweepBlock",
    "SweepPlan",
    "SweepProgress",
    "SweepResult",
    "SweepSpec",
    "SweepTable",
    "Trial",
    "expand_grid",
    "load_sweep",
    "parse_grid_option",
    "plan_sweep",
    "run_sweep",
]
