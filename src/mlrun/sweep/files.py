"""The names of the files and folders in a sweep directory: the one place that decides them.

Imports nothing, so the report can find and read a sweep without loading the sweep machinery::

    <runs>/<sweep_id>/
      sweep.yaml          SWEEP_YAML    the base config with the resolved sweep: block
      sweep.json          SWEEP_FILE    status, progress, backend, versions, best point
      results.csv         RESULTS_CSV   one row per grid point: mean, std, per-fold scores, rank, p_value, prob_*
      results.json        RESULTS_JSON  the same, with per-fold metrics, pooled confusion matrices, trials
      best_config.yaml    BEST_CONFIG   the best point's full config
      trials/<trial>/     TRIALS_DIR    one run directory per grid point and fold, with
        trial.json        TRIAL_FILE    what the trial is (point, fold, key), written before it runs
        traceback.txt     TRACEBACK_FILE  when a trial failed on a bug
      refit/              REFIT_DIR     the best point retrained on all training data (with ``refit``)
"""

SWEEP_YAML = "sweep.yaml"
SWEEP_FILE = "sweep.json"
RESULTS_CSV = "results.csv"
RESULTS_JSON = "results.json"
BEST_CONFIG = "best_config.yaml"
TRIALS_DIR = "trials"
TRIAL_FILE = "trial.json"
TRACEBACK_FILE = "traceback.txt"
REFIT_DIR = "refit"

#: The columns results.csv has after ``rank``: each grid point against the rank-1 point (see mlrun.sweep.results).
COMPARISON_COLUMNS = ("p_value", "prob_worse", "prob_equivalent", "prob_better")
