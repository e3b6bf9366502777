"""How runs and sweeps show themselves in Jupyter (``_repr_html_``): the report's key figures, inline.

Built from the report's own pieces (:mod:`mlrun.report.summary`, :mod:`mlrun.report.plots`,
:mod:`mlrun.report.markup`), so a notebook shows the numbers ``mlrun report`` shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlrun.report import markup, plots, summary
from mlrun.report.rundata import RunData
from mlrun.report.theme import e

#: Plain styles: a notebook has its own stylesheet, the report's would leak into it.
_TABLE = 'style="border-collapse:collapse;font-size:90%"'


def run_html(run: RunData) -> str:
    """A run's identity, key config values, test metrics and learning curves."""
    head = f"<h4>{e(run.name)} <small>{e(run.run_id)} · {e(run.status)}</small></h4>"
    metrics = summary.evaluation_metrics(run)
    parts = [head, _pairs(summary.key_values(run))]
    if metrics:
        parts.append("<b>test set</b>" + _pairs([(summary.metric_label(k), summary.fmt(v)) for k, v in metrics]))
    if run.history:
        parts.append(markup.figures(plots.learning_curves(run)))
    notices = "".join(f"<p><i>{e(n.text)}</i></p>" for n in summary.notices(run))
    return f"<div>{''.join(parts)}{notices}</div>"


def runs_html(runs: Sequence[RunData]) -> str:
    """A table of runs: id, name, status, epochs and the headline test metric."""
    rows = []
    for run in runs:
        headline = run.info.get("headline")
        metric, value = (headline.get("metric"), headline.get("value")) if isinstance(headline, Mapping) else ("", None)
        cells = [run.run_id, run.name, run.status, str(run.epochs_completed), f"{metric} {summary.fmt(value)}"]
        rows.append(cells)
    return _table(["run", "name", "status", "epochs", "test headline"], rows)


def sweep_html(name: str, status: str, results: Sequence[Mapping[str, str]], best: Mapping[str, Any] | None) -> str:
    """A sweep's status, its best point and its leaderboard (the first ten rows)."""
    lead = f"<h4>{e(name)} <small>{e(status)}</small></h4>"
    if best is not None:
        lead += f"<p>best: {e(best['params'])}, {e(best['metric'])} {best['mean']:.4f} ± {best['std']:.4f}</p>"
    if not results:
        return lead
    columns = [c for c in results[0] if not c.startswith("compare_") and "_fold" not in c]
    return lead + _table(columns, [[row.get(c, "") for c in columns] for row in results[:10]])


def _pairs(items: Sequence[tuple[str, str]]) -> str:
    return _table(["", ""], [[k, v] for k, v in items], head=False)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, head: bool = True) -> str:
    cell = 'style="padding:2px 8px;text-align:left"'
    top = "<tr>" + "".join(f"<th {cell}>{e(h)}</th>" for h in header) + "</tr>" if head else ""
    body = "".join("<tr>" + "".join(f"<td {cell}>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table {_TABLE}>{top}{body}</table>"
