"""A random or TPE search in the terminal: configurations by state, the best trial, how the best improved, importances.

Compact on purpose: the HTML page has the plots (:mod:`mlrun.report.searchplots`).
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlrun.report import summary
from mlrun.report.studydata import SearchData, milestones


def print_search(console: Console, data: SearchData) -> None:
    """Print what the study says: counts by state and the best trial, best so far at milestones, importances."""
    for problem in data.problems:
        console.print(Text("warning: ", style="bold yellow") + Text(problem))
    if not data.history:
        return
    console.print(search_line(data))
    steps = milestones(data.history)
    if steps:
        text = "  ".join(f"{n}: {summary.fmt(v)}" for n, v in steps)
        console.print(Text(f"best {data.metric} after N configurations  ", style="dim") + Text(text))
    if data.importances is None:
        console.print(Text("importances: ", style="dim") + Text(data.importance_note or "not computed"))
        return
    console.print(importance_table(data.importances))


def search_line(data: SearchData) -> Text:
    """``tpe search: 8 of 8 configurations: 5 completed, 2 pruned, 1 failed; best trial 3: val_accuracy 0.9512``."""
    counts = ", ".join(
        f"{data.count(s)} {s}" for s in ("completed", "pruned", "failed", "running") if s != "running" or data.count(s)
    )
    asked = f" of {data.n_trials}" if data.n_trials else ""
    line = Text.assemble(
        Text(f"{data.search} search: ", style="bold"), f"{len(data.history)}{asked} configurations: {counts}"
    )
    best = data.best
    if best is not None:
        line.append(f"; best trial {best.number}: {data.metric} {summary.fmt(best.value)}")
    return line


def importance_table(importances: dict[str, float]) -> Table:
    """The fANOVA importances, most important first."""
    table = Table(title="Parameter importances (fANOVA)", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column(Text("param"), justify="left")
    table.add_column(Text("importance"), justify="right")
    for param, value in sorted(importances.items(), key=lambda kv: -kv[1]):
        table.add_row(Text(param), Text(f"{value:.3f}"))
    return table
