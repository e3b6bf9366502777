"""Show a data summary (``mlrun data``, a run's ``data.json``): terminal tables and HTML.

Works on the plain data :func:`mlrun.datasummary.summarize_data` produces and
on the sample images of ``samples.npz``; it never loads a dataset or Keras.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlrun.report import markup, plots
from mlrun.report.summary import fmt
from mlrun.report.theme import document, e

#: Classes shown as rows of the terminal's class-balance table; the HTML page shows all.
MAX_CLASS_ROWS = 30


def cleaning_lines(record: Mapping[str, Any] | None) -> list[str]:
    """What cleaning did, one sentence per step (empty without a cleaning record)."""
    if not record:
        return []
    from mlrun.data.cleaning import describe

    return describe(dict(record))


# --------------------------------------------------------------------------- terminal


def print_data(console: Console, summary: Mapping[str, Any]) -> None:
    """Print a data summary: what the data is, its splits, class balance, features, cleaning, notes."""
    shape = "x".join(str(d) for d in summary.get("input_shape") or []) or "?"
    head = Text()
    head.append(str(summary.get("source") or "?"), style="bold")
    head.append(
        f"  {summary.get('task')} task, inputs {shape} {summary.get('dtype')}, scaling {summary.get('scaling')}"
    )
    console.print(head)
    console.print(_splits_table(summary))
    balance = _balance_table(summary)
    if balance is not None:
        console.print(balance)
    features = _features_table(summary)
    if features is not None:
        console.print(features)
    for line in cleaning_lines(summary.get("cleaning")):
        console.print(Text("cleaning: ", style="bold cyan") + Text(line))
    for note in summary.get("notes") or []:
        console.print(Text("note: ", style="bold") + Text(str(note)))


def _splits_table(summary: Mapping[str, Any]) -> Table:
    regression = summary.get("task") == "regression"
    table = Table(title="splits (inputs as the model sees them)", box=box.SIMPLE_HEAD, title_justify="left")
    for col in (
        "split",
        "samples",
        "min",
        "max",
        "mean",
        "std",
        *(("target min", "target max", "target mean") if regression else ()),
    ):
        table.add_column(col, justify="left" if col == "split" else "right")
    for s in summary.get("splits") or []:
        row = [s.get("split"), fmt(s.get("n")), *(fmt(s.get(k)) for k in ("min", "max", "mean", "std"))]
        if regression:
            t = s.get("targets") or {}
            row += [fmt(t.get(k)) for k in ("min", "max", "mean")]
        table.add_row(*(Text(str(c)) for c in row))
    return table


def _balance_table(summary: Mapping[str, Any]) -> Table | None:
    splits = [s for s in summary.get("splits") or [] if isinstance(s.get("classes"), Mapping)]
    if not splits:
        return None
    classes = list(splits[0]["classes"])
    shown = classes[:MAX_CLASS_ROWS]
    what = "positives per label" if summary.get("task") == "multilabel" else "samples per class (share)"
    more = f"; {len(classes) - len(shown)} more classes in the HTML page (--html)" if len(classes) > len(shown) else ""
    table = Table(title=f"class balance: {what}{more}", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("class")
    for s in splits:
        table.add_column(Text(str(s.get("split"))), justify="right")
    for c in shown:
        cells = [Text(str(c))]
        for s in splits:
            n, count = s.get("n") or 0, s["classes"].get(c, 0)
            cells.append(Text(f"{count:,} ({count / n:.0%})" if n else f"{count:,}"))
        table.add_row(*cells)
    return table


def _features_table(summary: Mapping[str, Any]) -> Table | None:
    features = summary.get("features")
    if not features:
        return None
    total = summary.get("features_total") or len(features)
    more = f" (first {len(features)} of {total})" if total > len(features) else ""
    table = Table(title=f"features, training inputs{more}", box=box.SIMPLE_HEAD, title_justify="left")
    for col in ("feature", "min", "max", "mean", "std"):
        table.add_column(col, justify="left" if col == "feature" else "right")
    for f in features:
        table.add_row(Text(str(f.get("name"))), *(Text(fmt(f.get(k))) for k in ("min", "max", "mean", "std")))
    return table


# --------------------------------------------------------------------------- HTML


def data_section(summary: Mapping[str, Any], samples: Mapping[str, Any] | None) -> str:
    """The HTML of a data summary: splits, class balance, cleaning, notes, sample images, features."""
    shape = "x".join(str(d) for d in summary.get("input_shape") or []) or "?"
    lead = (
        f"{summary.get('source')}: a {summary.get('task')} task, inputs {shape} ({summary.get('dtype')}), "
        f"scaling {summary.get('scaling')}."
    )
    parts = [
        f'<p class="lead">{e(lead)}</p><div class="two"><div>{_splits_html(summary)}</div><div>{_balance_html(summary)}</div></div>'
    ]
    lines = cleaning_lines(summary.get("cleaning"))
    if lines:
        parts.append("<h3>Cleaning</h3><ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>")
    notes = summary.get("notes") or []
    if notes:
        parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    if samples is not None and len(samples.get("y", [])):
        grid = plots.sample_grid(samples["x"], list(samples["y"]), [str(c) for c in summary.get("classes") or []])
        parts.append(f"<h3>Training samples per class</h3>{markup.figure(grid)}")
    parts.append(_features_html(summary))
    return "".join(parts)


def data_page(summary: Mapping[str, Any], samples: Mapping[str, Any] | None, *, config: str) -> str:
    """A whole HTML page for ``mlrun data --html``."""
    body = markup.section("data", "Data", data_section(summary, samples))
    return document(
        title=f"{summary.get('name') or config} · mlrun data",
        kicker="mlrun data",
        heading=str(summary.get("name") or config),
        badge=None,
        sub=[config, str(summary.get("source")), f"fingerprint {summary.get('fingerprint')}"],
        nav=[("data", "Data")],
        body=body,
    )


def _text_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """A table of plain values: every cell escaped."""
    return markup.table([str(h) for h in header], [[e(c) for c in row] for row in rows])


def _splits_html(summary: Mapping[str, Any]) -> str:
    regression = summary.get("task") == "regression"
    header = ["split", "samples", "input min", "input max", "input mean", "input std"]
    if regression:
        header += ["target min", "target max", "target mean", "target std"]
    rows = []
    for s in summary.get("splits") or []:
        row = [s.get("split"), fmt(s.get("n")), *(fmt(s.get(k)) for k in ("min", "max", "mean", "std"))]
        if regression:
            row += [fmt((s.get("targets") or {}).get(k)) for k in ("min", "max", "mean", "std")]
        rows.append(row)
    return _text_table(header, rows)


def _balance_html(summary: Mapping[str, Any]) -> str:
    splits = [s for s in summary.get("splits") or [] if isinstance(s.get("classes"), Mapping)]
    if not splits:
        return ""
    classes = list(splits[0]["classes"])
    rows = []
    for c in classes:
        row = [c]
        for s in splits:
            n, count = s.get("n") or 0, s["classes"].get(c, 0)
            row.append(f"{count:,} ({count / n:.1%})" if n else f"{count:,}")
        rows.append(row)
    what = "Positives per label" if summary.get("task") == "multilabel" else "Class balance"
    return _text_table([what.lower().replace("class balance", "class"), *(s.get("split") for s in splits)], rows)


def _features_html(summary: Mapping[str, Any]) -> str:
    features = summary.get("features")
    if not features:
        return ""
    rows = [[f.get("name"), *(fmt(f.get(k)) for k in ("min", "max", "mean", "std"))] for f in features]
    total = summary.get("features_total") or len(features)
    more = f" (first {len(features)} of {total})" if total > len(features) else ""
    return f"<h3>Features, training inputs{e(more)}</h3>" + _text_table(["feature", "min", "max", "mean", "std"], rows)
