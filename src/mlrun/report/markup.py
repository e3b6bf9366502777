"""The HTML building blocks every page shares: sections, tables, figures, preformatted text, and the page writer.

Cells passed to :func:`table` are HTML already escaped by the caller (with
:func:`mlrun.report.theme.e`); headers, titles and texts are plain and escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlrun import store
from mlrun.report.canvas import Plot
from mlrun.report.rundata import REPORT_FILE
from mlrun.report.theme import e


def write_page(path: Path, page: str, *, name: str = REPORT_FILE) -> Path:
    """Write ``page`` to ``path`` atomically, creating its directory; return where it went.

    A ``path`` that is an existing directory gets the page as ``path/name``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    store.write_atomic(path, page)
    return path


def section(anchor: str, title: str, content: str) -> str:
    """A card with a heading; ``content`` is HTML."""
    return f'<section class="card" id="{e(anchor)}"><h2>{e(title)}</h2>{content}</section>'


def figure(image: Plot) -> str:
    """One image in a ``<figure>``."""
    return (
        f'<figure><img src="{image.uri}" width="{image.width}" height="{image.height}" alt="{e(image.alt)}"></figure>'
    )


def figures(images: Sequence[Plot], *, wide: bool = False) -> str:
    """Images in a grid (one per row when ``wide``), or a note that there is nothing to plot."""
    if not images:
        return '<p class="empty">Nothing to plot.</p>'
    return f'<div class="plots{" wide" if wide else ""}">{"".join(figure(p) for p in images)}</div>'


def pre(text: str | None, empty: str) -> str:
    """``text`` as preformatted text, or ``empty`` as a note when there is none."""
    return f"<pre>{e(text)}</pre>" if text else f'<p class="empty">{e(empty)}</p>'


def kv_table(items: Sequence[tuple[str, str]]) -> str:
    """A two-column table of plain-text labels and values, without a header."""
    return table(["", ""], [[e(k), e(v)] for k, v in items], text=True, head=False)


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    foot: Sequence[str] | None = None,
    best: Sequence[frozenset[int]] | None = None,
    text: bool = False,
    head: bool = True,
) -> str:
    """Return a table. ``header`` is plain text; cells are HTML, already escaped by the caller.

    Args:
        header: column headings.
        rows: the cells of each row.
        foot: cells of a footer row.
        best: per row, the indexes (among the cells after the first) to highlight.
        text: left-aligned, wrapping cells (for text rather than numbers).
        head: False to leave out the header row.
    """
    cls = ' class="text"' if text else ""
    thead = "<thead><tr>" + "".join(f"<th{cls}>{e(h)}</th>" for h in header) + "</tr></thead>" if head else ""
    body = []
    for r, row in enumerate(rows):
        cells = []
        for c, cell in enumerate(row):
            classes = ["text"] if text else []
            if best is not None and c > 0 and (c - 1) in best[r]:
                classes.append("best")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    tfoot = "<tfoot><tr>" + "".join(f"<td>{cell}</td>" for cell in foot) + "</tr></tfoot>" if foot else ""
    return f'<div class="scroll"><table>{thead}<tbody>{"".join(body)}</tbody>{tfoot}</table></div>'
