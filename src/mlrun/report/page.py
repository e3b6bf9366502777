"""The self-contained HTML pages of a run, a comparison and a sweep: plots embedded as data URIs, every data string escaped."""

from __future__ import annotations

import json

from mlrun import store
from mlrun.report import classplots, datapage, markup, plots, searchplots, searchview, summary, uqplots
from mlrun.report.compare import MISSING, Comparison
from mlrun.report.rundata import RunData
from mlrun.report.studydata import SearchData
from mlrun.report.sweeps import TIE_CAPTION, TIE_MARK, SweepData, indistinguishable_from_best, sweep_columns
from mlrun.report.theme import document, e

# --------------------------------------------------------------------------- one run


def run_page(run: RunData) -> str:
    """Return the HTML report of one run."""
    sections: list[tuple[str, str, str]] = [("overview", "Overview", _overview(run))]
    sections.append(("training", "Training", _training(run)))
    if run.task == "regression":
        sections.append(("test", "Test set", _test_results(run)))
        if run.predictions:
            sections.append(("predictions", "Predictions", markup.figures(plots.regression_plots(run.predictions))))
        if run.calibration:
            sections.append(("calibration", "Calibration", _regression_calibration(run)))
    else:
        sections.append(("test", "Test set", _test_results(run) + _per_class(run)))
        if run.confusion is not None or run.label_confusion:
            sections.append(("confusion", "Confusion matrix", _confusion(run)))
        if run.roc or run.pr:
            sections.append(("curves", "ROC and precision-recall", _curves(run)))
        if run.calibration:
            sections.append(("calibration", "Calibration", _calibration(run)))
    weights = summary.weight_rows(run)
    if weights is not None:
        sections.append(
            ("weights", "Learned weights", markup.table(weights[0], [[e(c) for c in row] for row in weights[1]]))
        )
    if run.data is not None:
        sections.append(("data", "Data", datapage.data_section(run.data, run.samples)))
    sections.append(("model", "Model", markup.pre(run.summary, f"{store.SUMMARY_FILE} was not written.")))
    sections.append(("config", "Config", markup.pre(run.config_text, f"{store.CONFIG_FILE} was not written.")))
    sections.append(("metadata", "Run metadata", markup.kv_table(summary.metadata(run))))

    notices = "".join(f'<div class="notice {e(n.level)}">{e(n.text)}</div>' for n in summary.notices(run))
    body = notices + "".join(markup.section(anchor, title, content) for anchor, title, content in sections)
    sub = [
        run.run_id,
        run.task or "task unknown",
        f"started {run.info.get('started_at') or '—'}",
        f"took {summary.fmt_duration(run.duration_s)}",
    ]
    return document(
        title=f"{run.name} · mlrun report",
        kicker="mlrun run report",
        heading=run.name,
        badge=run.status,
        sub=sub,
        nav=[(a, t) for a, t, _ in sections],
        body=body,
    )


def _overview(run: RunData) -> str:
    cells = "".join(
        f'<div><div class="k">{e(label)}</div><div class="v">{e(value)}</div></div>'
        for label, value in summary.key_values(run)
    )
    return f'<div class="kv">{cells}</div>'


def _training(run: RunData) -> str:
    rows = summary.training_rows(run)
    if not rows:
        return f'<p class="empty">No epoch finished: {e(store.HISTORY_FILE)} has no rows.</p>'
    best = run.best_epoch
    lead = f"{run.epochs_completed} epoch(s) run; best epoch {best if best is not None else '—'} (dotted line)."
    table = markup.table(
        [
            "metric",
            "train (final)",
            "validation (final)",
            f"validation (epoch {best})" if best else "validation (best)",
        ],
        [[e(m), *(e(summary.fmt(v)) for v in values)] for m, *values in rows],
    )
    members = uqplots.member_curves(run.path)
    overlay = f"<h3>Ensemble members</h3>{markup.figures(members)}" if members else ""
    return f'<p class="lead">{e(lead)}</p>{table}<h3>Learning curves</h3>{markup.figures(plots.learning_curves(run))}{overlay}'


def _test_results(run: RunData) -> str:
    items = summary.evaluation_metrics(run)
    if not items:
        return f'<p class="empty">No test-set results: {e(store.METRICS_FILE)} was not written.</p>'
    headline = (run.info.get("headline") or {}).get("metric") if isinstance(run.info.get("headline"), dict) else None
    tiles = "".join(
        f'<div class="tile{" headline" if key == headline else ""}"><div class="v">{e(summary.fmt(value))}</div>'
        f'<div class="k">{e(summary.metric_label(key))}</div></div>'
        for key, value in items
    )
    n_test = (run.metrics or {}).get("n_test")
    return f'<p class="lead">{e(summary.fmt(n_test))} test samples.</p><div class="tiles">{tiles}</div>'


def _per_class(run: RunData) -> str:
    rows = summary.per_class_rows(run)
    if not rows:
        return ""
    body = [
        [e(label), _bar(precision), _bar(recall), _bar(f1), e(summary.fmt(support)), _bar(auc)]
        for label, precision, recall, f1, support, auc in rows
    ]
    metrics = run.metrics or {}
    supports = [r[4] for r in rows if r[4] is not None]
    foot = [
        "macro average",
        *(e(summary.fmt(metrics.get(k))) for k in ("precision_macro", "recall_macro", "f1_macro")),
        e(summary.fmt(sum(supports) if supports else None)),
        e(summary.fmt(metrics.get("roc_auc"))),
    ]
    return "<h3>Per class</h3>" + markup.table(
        ["class", "precision", "recall", "F1", "support", "AUC"], body, foot=foot
    )


def _bar(value: float | None) -> str:
    """A table cell value with a faint bar behind it, as long as the value (0 to 1)."""
    if value is None or not 0 <= value <= 1:
        return e(summary.fmt(value))
    pct = f"{value * 100:.1f}%"
    return (
        f'<span style="display:block;background:linear-gradient(90deg,#dbeafe {pct},transparent {pct});'
        f'padding:0 4px;border-radius:3px">{e(summary.fmt(value))}</span>'
    )


def _confusion(run: RunData) -> str:
    if run.label_confusion:
        rows = []
        for c in run.label_confusion:
            total = c.tn + c.fp + c.fn + c.tp
            rows.append([e(c.label), *(f"{v:,}" for v in (c.tn, c.fp, c.fn, c.tp)), e(summary.fmt(total))])
        return '<p class="lead">Each label is its own yes/no decision.</p>' + markup.table(
            ["label", "true neg.", "false pos.", "false neg.", "true pos.", "samples"], rows
        )
    if run.confusion is None:
        return ""
    n = len(run.confusion.labels)
    lead = f"{n} classes; rows are true classes, columns predicted ones."
    image = markup.figures([classplots.confusion_heatmaps(run.confusion)], wide=True)
    return f'<p class="lead">{e(lead)}</p>{image}'


def _curves(run: RunData) -> str:
    figures = []
    if run.roc:
        per_class = (run.metrics or {}).get("per_class") or {}
        aucs = {label: entry.get("auc") for label, entry in per_class.items() if isinstance(entry, dict)}
        figures.append(classplots.roc_curves(run.roc, aucs))
    if run.pr:
        figures.append(classplots.pr_curves(run.pr, positive_rate=_positive_rate(run)))
    return markup.figures(figures)


def _calibration(run: RunData) -> str:
    metrics = run.metrics or {}
    plot = classplots.reliability_diagram(run.calibration or [], ece=metrics.get("ece"))
    if plot is None:
        return ""
    lead = (
        "Test samples grouped by confidence (the highest class probability): a calibrated model's "
        "predictions made with 80 % confidence are right 80 % of the time, on the diagonal."
    )
    if metrics.get("mc_samples"):
        lead += f" Probabilities are the mean of {metrics['mc_samples']} Monte Carlo dropout predictions."
    return f'<p class="lead">{e(lead)}</p>{markup.figures([plot])}'


def _regression_calibration(run: RunData) -> str:
    metrics = run.metrics or {}
    figures = [uqplots.calibration_curve(run.calibration or [], coverage_68=metrics.get("coverage_68"))]
    figures.append(uqplots.error_bars(run.predictions or []))
    lead = (
        "Each prediction claims a Gaussian N(y_pred, y_std²). The curve is the fraction of test targets inside the "
        "central interval of each level: on the diagonal when the stds are right, below it when they are too small."
    )
    return f'<p class="lead">{e(lead)}</p>{markup.figures([f for f in figures if f is not None])}'


def _positive_rate(run: RunData) -> float | None:
    """The share of positives, the precision of a chance classifier: binary runs only."""
    if run.task != "binary" or not run.pr:
        return None
    label = next(iter(run.pr))
    entry = ((run.metrics or {}).get("per_class") or {}).get(label) or {}
    n_test = (run.metrics or {}).get("n_test")
    support = entry.get("support") if isinstance(entry, dict) else None
    return support / n_test if isinstance(support, (int, float)) and n_test else None


# --------------------------------------------------------------------------- comparison and sweeps


def comparison_page(comparison: Comparison) -> str:
    """Return the HTML page comparing runs: legend, config differences, metrics, overlaid curves."""
    runs, labels = comparison.runs, comparison.labels
    legend = markup.table(
        ["#", "run id", "name", "status", "task", "started"],
        [
            [
                str(i),
                e(r.run_id),
                e(r.name),
                f'<span class="badge {e(r.status)}">{e(r.status)}</span>',
                e(r.task or "—"),
                e(r.info.get("started_at") or "—"),
            ]
            for i, r in enumerate(runs, 1)
        ],
        text=True,
    )
    if comparison.config_diff:
        diff = markup.table(
            ["key", *labels],
            [
                [e(key), *(e(summary.plain(v)) if v is not MISSING else "—" for v in values)]
                for key, values in comparison.config_diff
            ],
            text=True,
        )
    else:
        diff = '<p class="empty">The configs are identical.</p>'
    metric_rows = [[e(row.label), *(e(row.text(i)) for i in range(len(row.values)))] for row in comparison.metrics]
    best = [row.best for row in comparison.metrics]
    metrics = markup.table(["metric", *labels], metric_rows, best=best)
    curves = (
        markup.figures(plots.overlaid_curves(runs, labels))
        if any(r.history for r in runs)
        else ('<p class="empty">No run has finished an epoch.</p>')
    )
    sections = [
        ("runs", "Runs", legend),
        ("config", "Config differences", diff),
        ("metrics", "Metrics", '<p class="lead">Best value per row highlighted.</p>' + metrics),
        ("curves", "Learning curves", '<p class="lead">Solid: validation; dashed: training.</p>' + curves),
    ]
    body = "".join(markup.section(a, t, c) for a, t, c in sections)
    return document(
        title=f"Comparison of {len(runs)} runs · mlrun",
        kicker="mlrun comparison",
        heading=f"{len(runs)} runs side by side",
        badge=None,
        sub=[r.run_id for r in runs],
        nav=[(a, t) for a, t, _ in sections],
        body=body,
    )


def sweep_page(sweep: SweepData, search: SearchData | None = None) -> str:
    """Return the HTML page of a sweep: its leaderboard, a search's study (history, importances, slices), its description."""
    columns = sweep_columns(sweep)
    notices = "".join(f'<div class="notice warning">{e(p)}</div>' for p in sweep.problems)

    def cell(row: dict[str, str], column: str) -> str:
        value = row.get(column) or ""
        marked = column == "rank" and indistinguishable_from_best(row)
        return e(f"{value} {TIE_MARK}" if marked else value)

    board = (
        markup.table(columns, [[cell(row, c) for c in columns] for row in sweep.rows])
        if sweep.rows
        else ('<p class="empty">results.csv has no rows yet.</p>')
    )
    if any(indistinguishable_from_best(r) for r in sweep.rows):
        board += f'<p class="caption">{e(TIE_CAPTION)}</p>'
    sections = [("leaderboard", "Leaderboard", board)]
    if search is not None:
        sections += _search_sections(search)
        notices += "".join(f'<div class="notice warning">{e(p)}</div>' for p in search.problems)
    sections.append(("sweep", "Sweep", markup.pre(json.dumps(sweep.info, indent=2), "sweep.json could not be read.")))
    body = notices + "".join(markup.section(a, t, c) for a, t, c in sections)
    return document(
        title=f"{sweep.name} · mlrun sweep",
        kicker="mlrun sweep",
        heading=sweep.name,
        badge=None,
        sub=[str(sweep.path), f"{len(sweep.rows)} trials"],
        nav=[(a, t) for a, t, _ in sections],
        body=body,
    )


def _search_sections(search: SearchData) -> list[tuple[str, str, str]]:
    """A random or TPE search's study: the optimization history, parameter importances, slices."""
    history = searchplots.optimization_history(search)
    lead = f'<p class="lead">{e(searchview.search_line(search).plain)}.</p>'
    importances = searchplots.importances(search)
    slices = searchplots.slices(search)
    return [
        ("history", "Optimization history", lead + markup.figures([history] if history else [])),
        (
            "importances",
            "Parameter importances",
            markup.figures([importances])
            if importances
            else f'<p class="empty">{e(search.importance_note or "No importances.")}</p>',
        ),
        (
            "slices",
            "Slices",
            '<p class="lead">Each sampled parameter against the score of the completed configurations.</p>'
            + markup.figures([slices] if slices else []),
        ),
    ]
