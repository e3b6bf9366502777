"""Read a run from disk and show it: terminal tables (rich) and a self-contained HTML page.

Nothing here imports Keras or TensorFlow, and matplotlib only loads when a page
is drawn, so ``mlrun report`` stays fast::

    rundata.py   read a run directory, tolerating missing and damaged files
    sweeps.py    read a sweep directory's leaderboard
    studydata.py a random or TPE search's study (through Optuna, only for such a sweep): history, importances, slices
    summary.py   what to show: labelled values, rows, notices (no rendering)
    compare.py   config differences and metric table across runs
    listing.py   filter and sort runs for ``mlrun runs``
    terminal.py  rich tables on a Console passed in
    searchview.py  a search's study in the terminal
    canvas.py    the figure surface: size, style, colors, PNG data URIs
    plots.py     learning curves, regression fits, sample images
    classplots.py  confusion matrix, ROC and precision-recall curves, reliability
    searchplots.py a search's optimization history, parameter importances, slices
    curves.py    areas under ROC and precision-recall curves
    theme.py     the page's style sheet and skeleton
    markup.py    HTML building blocks and the page writer
    page.py      the pages of a run, a comparison, a sweep
    datapage.py  a data summary: terminal tables and HTML
    show.py      the report and compare commands as one call each
"""

from mlrun.report.compare import MISSING, Comparison, compare_runs, diff_configs, flatten
from mlrun.report.rundata import REPORT_FILE, RunData, load_run
from mlrun.report.sweeps import SweepData, read_sweep_results
from mlrun.store import is_sweep_dir

__all__ = [
    "MISSING",
    "REPORT_FILE",
    "Comparison",
    "RunData",
    "SweepData",
    "compare_runs",
    "diff_configs",
    "flatten",
    "is_sweep_dir",
    "load_run",
    "read_sweep_results",
]
