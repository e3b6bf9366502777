"""Render reports in the terminal with rich, on a Console the caller passes in.

Every string that comes from a run's files is wrapped in :class:`rich.text.Text`,
so a run named ``[red]x`` prints those characters instead of being read as markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlrun.report import summary
from mlrun.report.compare import MISSING, Comparison
from mlrun.report.datapage import cleaning_lines
from mlrun.report.listing import ListedRun
from mlrun.report.rundata import RunData, to_float
from mlrun.report.sweepcompare import SweepComparison
from mlrun.report.sweeps import (
    TIE_CAPTION,
    TIE_MARK,
    SweepData,
    indistinguishable_from_best,
    is_comparison_column,
    is_fold_column,
)

STATUS_STYLES = {
    "completed": "bold green",
    "running": "bold cyan",
    "interrupted": "bold yellow",
    "failed": "bold red",
    "crashed": "bold red",
    "diverged": "bold magenta",
}
_NOTICE_STYLES = {"error": "red", "warning": "yellow", "info": "cyan"}
#: Larger confusion matrices do not fit a terminal; the HTML page shows them.
MAX_MATRIX_CLASSES = 20
MAX_CLASS_ROWS = 50


def status_text(status: str) -> Text:
    """Return ``status`` styled by its meaning (green completed, red failed, ...)."""
    return Text(status, style=STATUS_STYLES.get(status, "bold"))


def print_report(console: Console, run: RunData) -> None:
    """Print a run: identity, key config values, training and test results, per class, confusion matrix."""
    console.print(_header(run, console.width))
    for notice in summary.notices(run):
        console.print(Text(f"{notice.level}: ", style=f"bold {_NOTICE_STYLES[notice.level]}") + Text(notice.text))
    found = run.info.get("dataset")
    dataset: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    for line in cleaning_lines(dataset.get("cleaning") if isinstance(dataset.get("cleaning"), Mapping) else None):
        console.print(Text("cleaning: ", style="bold cyan") + Text(line))
    tables = [t for t in (_training_table(run), _test_table(run)) if t is not None]
    if tables:
        console.print(Columns(tables, padding=(0, 2)))
    for table in (_per_class_table(run), _confusion_table(run), _label_confusion_table(run), _weights_table(run)):
        if table is not None:
            console.print(table)


def _weights_table(run: RunData) -> Table | None:
    """The learned weights and bias of a single-layer model (perceptron, linear), from weights.json."""
    found = summary.weight_rows(run)
    if found is None:
        return None
    header, rows = found
    table = Table(title="Learned weights", title_justify="left", box=box.SIMPLE_HEAD)
    for i, heading in enumerate(header):
        table.add_column(Text(heading), justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _header(run: RunData, width: int) -> Panel:
    """Identity and key config values in a panel: two label/value pairs per row when the console is wide."""
    identity = [item for item in summary.identity(run) if item[0] not in ("name", "status")]
    config = summary.key_values(run)
    grid = Table.grid(padding=(0, 2))
    if width >= 110:
        split = len(identity) + 2  # identity, dataset and samples on the left; the model and training on the right
        left, right = (identity + config)[:split], (identity + config)[split:]
        for _ in range(2):
            grid.add_column(style="dim", no_wrap=True)
            grid.add_column()
        for i in range(max(len(left), len(right))):
            cells: list[str | Text] = []
            for column in (left, right):
                label, value = column[i] if i < len(column) else ("", "")
                cells += [label, Text(value)]
            grid.add_row(*cells)
    else:
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        for label, value in identity + config:
            grid.add_row(label, Text(value))
    title = Text.assemble(Text(run.name, style="bold"), "  ", status_text(run.status))
    return Panel(grid, title=title, title_align="left", box=box.ROUNDED, expand=False)


def _training_table(run: RunData) -> Table | None:
    rows = summary.training_rows(run)
    if not rows:
        return None
    best = run.best_epoch
    title = f"Training: {run.epochs_completed} epoch(s), best epoch {best if best is not None else '—'}"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("metric")
    for heading in ("train (final)", "val (final)", f"val (epoch {best})" if best else "val (best)"):
        table.add_column(heading, justify="right")
    for metric, train, val, at_best in rows:
        table.add_row(Text(metric), summary.fmt(train), summary.fmt(val), summary.fmt(at_best))
    last = run.history[-1]
    for key in summary.LEARNING_RATE_KEYS:
        if last.get(key) is not None:
            table.add_row("learning rate", summary.fmt(last[key]), "", "")
    return table


def _test_table(run: RunData) -> Table | None:
    items = summary.evaluation_metrics(run)
    if not items:
        return None
    n_test = (run.metrics or {}).get("n_test")
    table = Table(title=f"Test set (n = {summary.fmt(n_test)})", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in items:
        table.add_row(Text(summary.metric_label(key)), summary.fmt(value))
    return table


def _per_class_table(run: RunData) -> Table | None:
    rows = summary.per_class_rows(run)
    if not rows:
        return None
    table = Table(title="Per class (test set)", title_justify="left", box=box.SIMPLE_HEAD, show_footer=len(rows) > 1)
    metrics = run.metrics or {}
    supports = [r[4] for r in rows if r[4] is not None]
    footers = [
        None,  # the label column's footer: "macro avg"
        metrics.get("precision_macro"),
        metrics.get("recall_macro"),
        metrics.get("f1_macro"),
        sum(supports) if supports else None,
        metrics.get("roc_auc"),
    ]
    for i, heading in enumerate(("class", "precision", "recall", "F1", "support", "AUC")):
        footer = "macro avg" if i == 0 else summary.fmt(footers[i])
        table.add_column(heading, justify="left" if i == 0 else "right", footer=footer)
    for label, precision, recall, f1, support, auc in rows[:MAX_CLASS_ROWS]:
        table.add_row(Text(label), *(summary.fmt(v) for v in (precision, recall, f1, support, auc)))
    if len(rows) > MAX_CLASS_ROWS:
        table.add_row(Text(f"… {len(rows) - MAX_CLASS_ROWS} more in report.html", style="dim"))
    return table


def _confusion_table(run: RunData) -> Table | Text | None:
    matrix = run.confusion
    if matrix is None:
        return None
    n = len(matrix.labels)
    if n > MAX_MATRIX_CLASSES:
        return Text(f"Confusion matrix: {n}x{n}, too large for the terminal; see report.html.", style="dim")
    table = Table(
        title="Confusion matrix",
        caption="rows: true class, columns: predicted class",
        title_justify="left",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column(Text("true \\ pred"), style="bold")
    for label in matrix.labels:
        table.add_column(Text(summary.short_label(label, 10)), justify="right")
    for i, (label, row) in enumerate(zip(matrix.labels, matrix.counts)):
        cells = []
        for j, count in enumerate(row):
            style = "bold green" if i == j else ("red" if count else "dim")
            cells.append(Text(f"{count:,}", style=style))
        table.add_row(Text(summary.short_label(label, 16)), *cells)
    return table


def _label_confusion_table(run: RunData) -> Table | None:
    if not run.label_confusion:
        return None
    table = Table(title="Per label counts (test set)", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("label")
    for heading in ("TN", "FP", "FN", "TP"):
        table.add_column(heading, justify="right")
    for entry in run.label_confusion:
        table.add_row(Text(entry.label), *(f"{v:,}" for v in (entry.tn, entry.fp, entry.fn, entry.tp)))
    return table


# --------------------------------------------------------------------------- compare and sweeps


def print_comparison(console: Console, comparison: Comparison) -> None:
    """Print runs side by side: which is which, the config keys that differ, the metrics with the best in bold."""
    legend = Table(box=box.SIMPLE_HEAD, title="Runs", title_justify="left")
    for heading in ("#", "run id", "status", "task"):
        legend.add_column(heading)
    for i, run in enumerate(comparison.runs, 1):
        legend.add_row(str(i), Text(run.run_id), status_text(run.status), Text(run.task or "—"))
    console.print(legend)
    for i, run in enumerate(comparison.runs, 1):
        for notice in summary.notices(run):
            style = f"bold {_NOTICE_STYLES[notice.level]}"
            console.print(Text(f"#{i} {notice.level}: ", style=style) + Text(notice.text))

    if comparison.config_diff:
        diff = Table(box=box.SIMPLE_HEAD, title="Config differences", title_justify="left")
        diff.add_column("key", style="bold")
        for label in comparison.labels:
            diff.add_column(Text(label))
        for key, values in comparison.config_diff:
            diff.add_row(Text(key), *(_config_cell(v) for v in values))
        console.print(diff)
    else:
        console.print(Text("The configs are identical.", style="dim"))

    metrics = Table(box=box.SIMPLE_HEAD, title="Metrics (best in bold green)", title_justify="left")
    metrics.add_column("metric")
    for label in comparison.labels:
        metrics.add_column(Text(label), justify="right")
    for row in comparison.metrics:
        cells = [Text(row.text(i), style="bold green" if i in row.best else "") for i in range(len(row.values))]
        metrics.add_row(Text(row.label), *cells)
    console.print(metrics)


def print_sweep_comparison(console: Console, comparison: SweepComparison) -> None:
    """Print two grid points' fold scores and the tests of the first against the second."""
    a, b = comparison.a, comparison.b
    points = Table(box=box.SIMPLE_HEAD, title=f"Grid points compared on {a.metric}", title_justify="left")
    for heading in ("", "point", "params", f"{a.metric} mean", "folds"):
        points.add_column(heading)
    for tag, p in (("A", a), ("B", b)):
        scores = [v for v in p.folds if v is not None]
        mean = summary.fmt(sum(scores) / len(scores)) if scores else "—"
        points.add_row(tag, p.label, summary.plain(p.params), mean, str(len(p.folds)))
    console.print(points)
    tests = Table(box=box.SIMPLE_HEAD, title="A against B on paired folds", title_justify="left")
    tests.add_column("statistic")
    tests.add_column("value", justify="right")
    tests.add_column("meaning")
    rows = (
        ("p_value", comparison.p_value, "corrected resampled t-test, two-sided: A and B score the same on average"),
        ("prob_worse", comparison.prob_worse, f"P(A is worse than B by more than rope {a.rope})"),
        ("prob_equivalent", comparison.prob_equivalent, f"P(A and B differ by at most rope {a.rope})"),
        ("prob_better", comparison.prob_better, f"P(A is better than B by more than rope {a.rope})"),
    )
    for name, value, meaning in rows:
        tests.add_row(name, f"{value:.4g}", Text(meaning, style="dim"))
    console.print(tests)


def _config_cell(value: object) -> Text:
    if value is MISSING:
        return Text("—", style="dim")
    return Text(summary.plain(value))


def print_sweep(console: Console, sweep: SweepData, *, top: int = 10) -> None:
    """Print a sweep's leaderboard: its best ``top`` rows by rank."""
    console.print(Text.assemble(Text("sweep ", style="dim"), Text(sweep.name, style="bold"), f"  {sweep.path}"))
    for problem in sweep.problems:
        console.print(Text("warning: ", style="bold yellow") + Text(problem))
    if not sweep.rows:
        console.print(Text("results.csv has no rows yet.", style="dim"))
        return
    console.print(leaderboard_table(sweep, top=top, width=console.width))


def leaderboard_table(sweep: SweepData, *, top: int, width: int) -> Table:
    """The leaderboard as a table that fits ``width``: rank, the grid values, then ``mean ± std`` per metric.

    Grid keys are shown by their last part (``learning_rate`` for
    ``optimizer.learning_rate``) unless two would read the same; the sweep's
    ranking metric comes first and is always shown, the others only while
    they fit. Per-fold values are in results.csv and the HTML page.
    """
    columns = sweep.columns
    metrics = [c.removesuffix("_mean") for c in columns if c.endswith("_mean")]
    grid = [
        c
        for c in columns
        if c != "rank" and not is_fold_column(c) and not is_comparison_column(c) and not re.search(r"_(mean|std)$", c)
    ]
    ranked_by = str((sweep.info.get("sweep") or {}).get("metric") or "")
    if ranked_by in metrics:
        metrics.remove(ranked_by)
        metrics.insert(0, ranked_by)
    short = [c.rsplit(".", 1)[-1] for c in grid]
    headers = [s if short.count(s) == 1 else c for s, c in zip(short, grid)]
    rows = sweep.rows[:top]

    def mean_std(row: dict[str, str], metric: str) -> str:
        mean, std = _short_number(row.get(f"{metric}_mean")), _short_number(row.get(f"{metric}_std"))
        return f"{mean} ± {std}" if mean and std else mean

    def needed(header: str, values: list[str]) -> int:
        return max([len(header), *(len(v) for v in values)]) + 2

    used = needed("rank", [_rank_cell(r) for r in rows]) + sum(
        needed(h, [_short_number(r.get(c)) for r in rows]) for h, c in zip(headers, grid)
    )
    shown = []
    for i, metric in enumerate(metrics):
        w = needed(metric, [mean_std(r, metric) for r in rows])
        if i == 0 or used + w <= width:
            shown.append(metric)
            used += w
    table = Table(
        box=box.SIMPLE_HEAD, title=f"Leaderboard (top {len(rows)} of {len(sweep.rows)})", title_justify="left"
    )
    table.add_column(Text("rank"), justify="left", no_wrap=True)
    for header in headers:
        table.add_column(Text(header), justify="right", overflow="fold")
    for metric in shown:
        table.add_column(Text(metric, style="bold" if metric == ranked_by else ""), justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            Text(_rank_cell(row)),
            *(Text(_short_number(row.get(c))) for c in grid),
            *(Text(mean_std(row, m)) for m in shown),
        )
    captions = [TIE_CAPTION] if any(indistinguishable_from_best(r) for r in rows) else []
    if len(shown) < len(metrics):
        left = ", ".join(m for m in metrics if m not in shown)
        captions.append(f"not shown for lack of width: {left} (see results.csv)")
    table.caption = "\n".join(captions) or None
    return table


def _rank_cell(row: dict[str, str]) -> str:
    """The rank, with the mark of a point that cannot be told apart from the best one."""
    rank = row.get("rank") or ""
    return f"{rank} {TIE_MARK}" if indistinguishable_from_best(row) else rank


def _short_number(value: str | None) -> str:
    """A results.csv cell as written, unless it is a long float (0.9512345678 -> 0.9512)."""
    number = to_float(value)
    if number is None or value is None or len(value) <= 8:
        return value or ""
    return summary.fmt(number)


def runs_table(listed: Sequence[ListedRun], *, width: int, sort: str | None = None) -> Table:
    """Return the ``mlrun runs`` table; ``sort`` adds a column with the metric the runs are sorted by.

    The run id holds the start time and the name, so they get columns of their
    own only when ``width`` leaves room.
    """
    wide = width >= 120
    headline = wide or not sort  # in a narrow terminal the sort column stands in for the headline
    columns = ["run id", *(["name", "status", "started"] if wide else ["status"]), "duration"]
    columns += [*(["headline"] if headline else []), *([sort] if sort else [])]
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    longest_id = max((len(item.run.run_id) for item in listed), default=6)
    for column in columns:
        table.add_column(
            Text(column),
            no_wrap=column in ("run id", "status"),
            min_width=longest_id if column == "run id" else None,  # ids are copied: never cut them
            justify="right" if column in (sort, "duration") else "left",
        )
    for item in listed:
        info = item.run.info
        cells: dict[str, Text | str] = {
            "run id": Text(item.run.run_id),
            "name": Text(str(info.get("name") or "")),
            "status": status_text(item.run.status),
            "started": Text(str(info.get("started_at") or "")[:16].replace("T", " ")),
            "duration": summary.fmt_duration(info.get("duration_s")) if info.get("duration_s") is not None else "",
            "headline": Text(_headline(info)),
        }
        if sort:
            cells[sort] = "" if item.sort_value is None else summary.fmt(item.sort_value)
        table.add_row(*(cells[column] for column in columns))
    return table


def _headline(info: Mapping[str, Any]) -> str:
    headline = info.get("headline")
    if not isinstance(headline, Mapping) or not isinstance(headline.get("value"), (int, float)):
        return ""
    return f"{headline.get('metric')} {summary.fmt(float(headline['value']))}"
