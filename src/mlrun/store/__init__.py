"""The runs directory: create run directories, write files atomically, read and list runs.

A run directory is a plain folder a person can read::

    runs/<run_id>/
      config.yaml           fully resolved config
      run.json              identity, status, times, versions, dataset fingerprint
      history.csv           one row per finished epoch, appended and flushed
      metrics.json          test-set metrics
      confusion_matrix.csv  classification only
      roc_curve.csv, pr_curve.csv
      predictions.csv
      model.keras, summary.txt, preprocessing.json
      calibration.csv       binary and multiclass: reliability bins behind metrics.json's ece
      weights.json          single-layer models (perceptron, linear): learned weights and bias
      packages.txt          the installed distributions, name==version, as pip freeze prints them

Nothing here imports Keras: listing and reporting runs must stay fast.
"""

from mlrun.store.files import (
    CALIBRATION_FILE,
    CONFIG_FILE,
    CONFUSION_FILE,
    DATA_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PACKAGES_FILE,
    PR_FILE,
    PREDICTIONS_FILE,
    PREPROCESSING_FILE,
    ROC_FILE,
    RUN_FILE,
    SAMPLES_FILE,
    SUMMARY_FILE,
    WEIGHTS_FILE,
    HistoryWriter,
    default_runs_dir,
    disk_full_as_error,
    is_disk_full,
    now_iso,
    read_csv,
    read_json,
    write_atomic,
    write_csv,
    write_json,
    write_yaml,
)
from mlrun.store.refs import (
    glob_escape,
    is_sweep_dir,
    resolve_run,
)
from mlrun.store.runs import (
    STATUSES,
    RunInfo,
    RunScan,
    SkippedDir,
    create_run_dir,
    effective_status,
    host_info,
    iter_runs,
    list_runs,
    pid_alive,
    process_start,
    read_run_info,
    read_whole_run_info,
    scan_runs,
    slugify,
)

__all__ = [
    "CALIBRATION_FILE",
    "CONFIG_FILE",
    "CONFUSION_FILE",
    "DATA_FILE",
    "HISTORY_FILE",
    "HistoryWriter",
    "METRICS_FILE",
    "MODEL_FILE",
    "PACKAGES_FILE",
    "PREDICTIONS_FILE",
    "PREPROCESSING_FILE",
    "PR_FILE",
    "ROC_FILE",
    "RUN_FILE",
    "RunInfo",
    "RunScan",
    "SAMPLES_FILE",
    "STATUSES",
    "SUMMARY_FILE",
    "SkippedDir",
    "WEIGHTS_FILE",
    "create_run_dir",
    "default_runs_dir",
    "disk_full_as_error",
    "effective_status",
    "glob_escape",
    "host_info",
    "is_sweep_dir",
    "is_disk_full",
    "iter_runs",
    "list_runs",
    "now_iso",
    "pid_alive",
    "process_start",
    "read_csv",
    "read_json",
    "read_run_info",
    "read_whole_run_info",
    "resolve_run",
    "scan_runs",
    "slugify",
    "write_atomic",
    "write_csv",
    "write_json",
    "write_yaml",
]
