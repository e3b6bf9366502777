"""mlrun report, compare and runs: terminal tables, the self-contained HTML page, listing filters.

Runs are fabricated by tests/runfactory.py (no TensorFlow): every test here is fast.
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console
from sklearn import metrics as skm
from typer.testing import CliRunner

from mlrun import store
from mlrun.cli import app
from mlrun.errors import ConfigError
from mlrun.report import MISSING, compare_runs, curves, diff_configs, flatten, load_run, summary
from mlrun.report.listing import select_runs
from mlrun.report.page import run_page
from mlrun.report.terminal import print_report
from tests.runfactory import make_run

COMPLETED = ("multiclass", "binary", "multilabel", "regression")


@pytest.fixture
def runs(runs_dir: Path) -> dict[str, Path]:
    """One fabricated run of every kind, started a minute apart (the regression run is the latest)."""
    order = ("multiclass", "binary", "multilabel", "failed", "interrupted", "crashed", "regression")
    return {
        kind: make_run(runs_dir, kind, seed=i, started_at=f"2026-01-02T10:{i:02d}:00+00:00")
        for i, kind in enumerate(order)
    }


def invoke(cli: CliRunner, *args: str | Path):
    return cli.invoke(app, [str(a) for a in args])


class _Resources(HTMLParser):
    """Collect tags, every URL-valued attribute, and the <img> sources of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action") and value is not None:
                self.urls.append(value)
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")


def parse_page(text: str) -> _Resources:
    parser = _Resources()
    parser.feed(text)
    return parser


def png_size(data_uri: str) -> tuple[int, int]:
    prefix = "data:image/png;base64,"
    assert data_uri.startswith(prefix), data_uri[:40]
    png = base64.b64decode(data_uri[len(prefix) :])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


# --------------------------------------------------------------------------- reading runs


@pytest.mark.parametrize("kind", COMPLETED)
def test_completed_runs_read_whole_and_consistent(runs: dict[str, Path], kind: str) -> None:
    run = load_run(runs[kind])
    assert run.missing == [] and run.problems == []
    assert run.status == "completed" and run.task == kind
    assert len(run.history) == run.epochs_completed == 8
    n_test = run.metrics["n_test"]
    if run.confusion is not None:
        assert sum(map(sum, run.confusion.counts)) == n_test
        assert [row[4] for row in summary.per_class_rows(run)] == [sum(r) for r in run.confusion.counts]
    if run.label_confusion:
        assert {c.tn + c.fp + c.fn + c.tp for c in run.label_confusion} == {n_test}
    if kind != "regression":
        micro = {"multiclass": True, "multilabel": True, "binary": False}[kind]
        assert ("micro" in run.roc) is micro and set(run.roc) == set(run.pr)


def test_curve_areas_match_the_recorded_metrics(runs: dict[str, Path]) -> None:
    run = load_run(runs["multiclass"])
    for label, entry in run.metrics["per_class"].items():
        assert curves.trapezoid_area(run.roc[label].x, run.roc[label].y) == pytest.approx(entry["auc"])
    assert curves.trapezoid_area(run.roc["micro"].x, run.roc["micro"].y) == pytest.approx(run.metrics["roc_auc_micro"])
    preds = store.read_csv(runs["multiclass"] / store.PREDICTIONS_FILE)
    truth = [r["y_true"] == "2" for r in preds]
    assert curves.average_precision(run.pr["2"]) == pytest.approx(
        skm.average_precision_score(truth, [float(r["p_2"]) for r in preds])
    )


@pytest.mark.parametrize("kind, done", [("failed", 2), ("interrupted", 3), ("crashed", 4)])
def test_unfinished_runs_list_what_is_missing(runs: dict[str, Path], kind: str, done: int) -> None:
    run = load_run(runs[kind])
    assert run.status == kind and len(run.history) == done and run.metrics is None
    assert {store.METRICS_FILE, store.CONFUSION_FILE, store.MODEL_FILE} <= set(run.missing)
    assert store.HISTORY_FILE not in run.missing and run.problems == []


def test_damaged_files_become_problems_not_tracebacks(runs: dict[str, Path]) -> None:
    path = runs["multiclass"]
    (path / store.METRICS_FILE).write_text('{"accuracy": 0.9', encoding="utf-8")
    (path / store.CONFUSION_FILE).write_text("true\\pred,a,b\na,1\n", encoding="utf-8")
    with open(path / store.HISTORY_FILE, "a", encoding="utf-8") as f:
        f.write("9,0.5")  # a row cut short by a kill
    (path / store.CONFIG_FILE).write_text("name: [unclosed", encoding="utf-8")
    run = load_run(path)
    problems = "\n".join(run.problems)
    for name in (store.METRICS_FILE, store.CONFUSION_FILE, store.CONFIG_FILE):
        assert name in problems
    assert run.metrics is None and run.confusion is None and run.config is None
    assert [row["epoch"] for row in run.history][-1] == 9  # the cut row keeps what it has
    page = run_page(run)
    assert "could not be read" in page and "not valid YAML" in page


def test_a_diverged_run_says_why_and_marks_the_epoch(runs_dir: Path) -> None:
    path = make_run(runs_dir, "failed", name="boom")
    info = store.read_json(path / store.RUN_FILE)
    store.write_json(path / store.RUN_FILE, {**info, "status": "diverged", "error": "loss is nan at epoch 3"})
    with open(path / store.HISTORY_FILE, "a", encoding="utf-8") as f:
        f.write("3,nan,0.0008,nan,nan,nan\n")
    run = load_run(path)
    assert [n.text for n in summary.notices(run) if n.level == "error"] == [
        "This run diverged after 2 epoch(s): loss is nan at epoch 3"
    ]
    assert summary.training_rows(run)[0][:3] == (
        "loss",
        pytest.approx(float("nan"), nan_ok=True),
        pytest.approx(float("nan"), nan_ok=True),
    )
    assert len(parse_page(run_page(run)).images) == 3


def test_multi_output_regression_gets_plots_per_output(runs_dir: Path) -> None:
    path = make_run(runs_dir, "regression")
    store.write_csv(
        path / store.PREDICTIONS_FILE,
        ["y_true_0", "y_true_1", "y_pred_0", "y_pred_1"],
        [[i, -i, i + 0.5, -i + 0.1] for i in range(30)],
    )
    page = run_page(load_run(path))
    for alt in (
        "predicted vs true (output 0)",
        "residuals (output 0)",
        "predicted vs true (output 1)",
        "residuals (output 1)",
    ):
        assert f'alt="{alt}"' in page


# --------------------------------------------------------------------------- mlrun report


def test_report_prints_identity_config_results_and_writes_the_page(
    cli: CliRunner, runs: dict[str, Path], runs_dir: Path
) -> None:
    result = invoke(cli, "report", runs["multiclass"].name, "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "multiclass_mlp",
        "completed",
        "digits",
        "mlp: dense 64 → 32",
        "categorical_crossentropy",
        "adam",
        "0.001",
        "batch size",
        "Training: 8 epoch(s), best epoch",
        "Test set (n = 120)",
        "F1 (macro)",
        "Per class",
        "macro avg",
        "Confusion matrix",
        "true \\ pred",
    ):
        assert text in out, text
    page = runs["multiclass"] / "report.html"
    assert f"report: {page}" in out and page.is_file()


def test_report_of_a_regression_run_shows_errors_not_classes(
    cli: CliRunner, runs: dict[str, Path], runs_dir: Path
) -> None:
    result = invoke(cli, "report", "latest", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert "regression_mlp" in result.stdout
    assert all(k in result.stdout for k in ("MSE", "MAE", "RMSE", "R²"))
    assert "Per class" not in result.stdout and "Confusion" not in result.stdout
    page = (runs["regression"] / "report.html").read_text(encoding="utf-8")
    assert 'alt="predicted vs true"' in page and 'alt="residuals"' in page


@pytest.mark.parametrize(
    "kind, says",
    [
        ("failed", "failed after 2 epoch(s): ValueError: Input contains NaN"),
        ("interrupted", "interrupted after 3 epoch(s)"),
        ("crashed", "is gone without recording an end"),
    ],
)
def test_report_of_an_unfinished_run_shows_what_exists(
    cli: CliRunner, runs: dict[str, Path], runs_dir: Path, kind: str, says: str
) -> None:
    result = invoke(cli, "report", runs[kind].name, "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    out = " ".join(result.stdout.split())  # undo rich's line wrapping
    assert says in out and "Not written" in out and "metrics.json" in out
    assert "Training:" in out and "Test set" not in out
    page = (runs[kind] / "report.html").read_text(encoding="utf-8")
    assert f'<span class="badge {kind}">{kind}</span>' in page
    assert "No test-set results: metrics.json was not written." in page
    assert len(parse_page(page).images) >= 2  # loss and accuracy curves of the epochs it did


def test_report_no_html_writes_nothing_and_html_path_goes_where_asked(
    cli: CliRunner, runs: dict[str, Path], runs_dir: Path, tmp_path: Path
) -> None:
    result = invoke(cli, "report", runs["binary"].name, "--runs-dir", runs_dir, "--no-html")
    assert result.exit_code == 0, result.output
    assert not (runs["binary"] / "report.html").exists() and "report:" not in result.stdout
    target = tmp_path / "pages" / "binary.html"
    result = invoke(cli, "report", runs["binary"].name, "--runs-dir", runs_dir, "--html", target)
    assert result.exit_code == 0, result.output
    assert target.is_file() and not (runs["binary"] / "report.html").exists()


@pytest.mark.parametrize(
    "ref, match",
    [
        ("nope", "no run matches 'nope'"),
        ("2026", "matches 7 runs; give more of the id"),
        ("../..", "is not a run directory"),
        ("/etc", "is not a run directory"),
    ],
)
def test_report_refuses_unknown_ambiguous_and_outside_references(
    cli: CliRunner, runs: dict[str, Path], runs_dir: Path, ref: str, match: str
) -> None:
    result = invoke(cli, "report", ref, "--runs-dir", runs_dir)
    assert result.exit_code == 2, result.output
    assert match in result.stderr and "Traceback" not in result.output


def test_report_accepts_a_run_directory_path(cli: CliRunner, runs: dict[str, Path], runs_dir: Path) -> None:
    result = invoke(cli, "report", runs["binary"], "--runs-dir", runs_dir / "elsewhere", "--no-html")
    assert result.exit_code == 0, result.output
    assert "binary_mlp" in result.stdout


def test_report_html_and_no_html_together_is_an_error(
    cli: CliRunner, runs: dict[str, Path], runs_dir: Path, tmp_path: Path
) -> None:
    result = invoke(cli, "report", "latest", "--runs-dir", runs_dir, "--no-html", "--html", tmp_path / "x.html")
    assert result.exit_code == 2 and "give --html PATH or --no-html, not both" in result.stderr


# --------------------------------------------------------------------------- the HTML page


@pytest.mark.parametrize(
    "kind, images",
    [
        ("multiclass", 6),
        ("binary", 6),
        ("multilabel", 5),
        ("regression", 5),
        ("failed", 3),
        ("interrupted", 3),
    ],
)
def test_page_is_self_contained_and_every_image_is_a_real_png(runs: dict[str, Path], kind: str, images: int) -> None:
    page = run_page(load_run(runs[kind]))
    resources = parse_page(page)
    assert "http://" not in page and "https://" not in page
    assert not {"script", "link", "iframe", "object", "embed"} & set(resources.tags)
    assert "@import" not in page and "url(" not in page
    assert all(url.startswith(("data:", "#")) for url in resources.urls), resources.urls
    assert len(resources.images) == images
    for src in resources.images:
        width, height = png_size(src)
        assert width > 100 and height > 100


def test_page_sections_cover_the_issue(runs: dict[str, Path]) -> None:
    page = run_page(load_run(runs["multiclass"]))
    for anchor in ("overview", "training", "test", "confusion", "curves", "model", "config", "metadata"):
        assert f'id="{anchor}"' in page
    for alt in (
        'alt="loss per epoch"',
        'alt="accuracy per epoch"',
        'alt="learning rate per epoch"',
        'alt="confusion matrix"',
        'alt="ROC curves"',
        'alt="precision-recall curves"',
    ):
        assert alt in page
    for text in (
        "Total params",
        "categorical_crossentropy",
        "tensorflow",
        "2.21.0",
        "Linux",
        "42.5 s",
        "macro average",
    ):
        assert text in page, text


def test_strings_from_config_and_data_are_escaped(runs_dir: Path) -> None:
    evil = '<script>alert("x")</script>'
    path = make_run(
        runs_dir,
        "multiclass",
        name=evil,
        classes=["<b>cat</b>", "dog & co", "$x$", "[red]r[/red]"],
        config={"optimizer": {"name": "<img src=x onerror=alert(1)>", "learning_rate": 0.01}},
    )
    page = run_page(load_run(path))
    assert "<script" not in page.lower() and "<img src=x" not in page and "<b>cat" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;b&gt;cat&lt;/b&gt;" in page and "dog &amp; co" in page
    console = Console(record=True, width=200)
    print_report(console, load_run(path))
    text = console.export_text()
    assert evil in text and "[red]r[/red]" in text  # printed as is, not read as rich markup


# --------------------------------------------------------------------------- mlrun compare


def test_flatten_uses_dotted_keys_and_indexes_layer_lists() -> None:
    cfg = {
        "model": {"hidden_units": [64, 32], "layers": [{"type": "dense", "units": 8}, {"type": "dropout"}]},
        "seed": 1,
    }
    assert flatten(cfg) == {
        "model.hidden_units": [64, 32],
        "model.layers.0.type": "dense",
        "model.layers.0.units": 8,
        "model.layers.1.type": "dropout",
        "seed": 1,
    }


def test_diff_configs_keeps_only_differing_keys() -> None:
    a = {"optimizer": {"name": "adam", "learning_rate": 0.001}, "seed": 1, "training": {"epochs": 10}}
    b = {"optimizer": {"name": "adam", "learning_rate": 0.01}, "seed": 1.0, "training": {"epochs": 10, "shuffle": True}}
    assert diff_configs([a, b]) == [("optimizer.learning_rate", [0.001, 0.01]), ("training.shuffle", [MISSING, True])]
    assert diff_configs([a, a]) == []


def test_metric_rows_mark_the_best_value_in_the_right_direction(runs_dir: Path) -> None:
    a = load_run(make_run(runs_dir, "multiclass", name="a", seed=1))
    b = load_run(make_run(runs_dir, "multiclass", name="b", seed=2))
    rows = {row.key: row for row in compare_runs([a, b]).metrics}
    acc, loss = rows["test.accuracy"], rows["test.loss"]
    assert acc.best == {acc.values.index(max(acc.values))}
    assert loss.best == {loss.values.index(min(loss.values))}
    assert rows["epochs"].best == frozenset()  # a fact, not a score
    with pytest.raises(ConfigError, match="compare needs at least two runs"):
        compare_runs([a])


def test_compare_shows_differing_keys_and_writes_overlaid_curves(
    cli: CliRunner, runs_dir: Path, tmp_path: Path
) -> None:
    a = make_run(runs_dir, "multiclass", name="small", seed=1)
    b = make_run(
        runs_dir,
        "multiclass",
        name="big",
        seed=2,
        config={
            "model": {"architecture": "mlp", "hidden_units": [256, 128], "activation": "relu", "dropout": 0.1},
            "optimizer": {"name": "adam", "learning_rate": 0.01},
        },
    )
    target = tmp_path / "cmp.html"
    result = cli.invoke(
        app, ["compare", a.name, b.name, "--runs-dir", str(runs_dir), "--html", str(target)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        "Config differences",
        "name",
        "seed",
        "model.hidden_units",
        "[64, 32]",
        "[256, 128]",
        "optimizer.learning_rate",
        "test accuracy",
        "val accuracy (final)",
    ):
        assert text in out, text
    assert "training.batch_size" not in out and "optimizer.name" not in out
    page = target.read_text(encoding="utf-8")
    assert 'class="best"' in page and "model.hidden_units" in page
    assert len(parse_page(page).images) == 2 and "http" not in page  # loss and accuracy, all runs overlaid


@pytest.mark.parametrize(
    "args, match", [(["latest"], "compare needs at least two runs"), (["latest", "zzz"], "no run matches 'zzz'")]
)
def test_compare_refuses_bad_input(
    cli: CliRunner, runs: dict[str, Path], runs_dir: Path, args: list[str], match: str
) -> None:
    result = cli.invoke(app, ["compare", *args, "--runs-dir", str(runs_dir)])
    assert result.exit_code == 2, result.output
    assert match in result.stderr


# --------------------------------------------------------------------------- mlrun runs


def test_runs_filter_by_name_and_status(runs: dict[str, Path], runs_dir: Path) -> None:
    listed = store.list_runs(runs_dir)
    assert [r.run.info["name"] for r in select_runs(listed, name="LABEL")] == ["multilabel_mlp"]
    assert [r.run.info["name"] for r in select_runs(listed, name="*ary_mlp")] == ["binary_mlp"]
    assert {r.run.status for r in select_runs(listed, statuses=["failed", "crashed"])} == {"failed", "crashed"}
    with pytest.raises(ConfigError, match="unknown status 'complete' \\(did you mean 'completed'\\?\\)"):
        select_runs(listed, statuses=["complete"])


def test_runs_sort_best_first_and_runs_without_the_metric_last(runs_dir: Path) -> None:
    for seed in range(4):
        make_run(runs_dir, "multiclass", name=f"m{seed}", seed=seed)
    make_run(runs_dir, "failed", name="f")
    listed = store.list_runs(runs_dir)
    by_acc = select_runs(listed, sort="accuracy")
    values = [r.sort_value for r in by_acc]
    assert values[:4] == sorted(values[:4], reverse=True) and values[4] is None
    by_loss = [r.sort_value for r in select_runs(listed, sort="loss")][:4]
    assert by_loss == sorted(by_loss)
    with pytest.raises(ConfigError, match="no listed run has a metric 'acuracy' \\(did you mean 'accuracy'\\?\\)"):
        select_runs(listed, sort="acuracy")


def test_runs_cli_json_filters_and_sorts(cli: CliRunner, runs: dict[str, Path], runs_dir: Path) -> None:
    result = invoke(cli, "runs", "--runs-dir", runs_dir, "--json", "--status", "completed", "--sort", "accuracy")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["status"] for r in records] == ["completed"] * 4
    accuracies = [r["metrics"].get("accuracy") for r in records]
    assert accuracies[:3] == sorted(accuracies[:3], reverse=True) and accuracies[3] is None  # regression last
    assert set(records[0]) >= {
        "id",
        "name",
        "status",
        "task",
        "started_at",
        "duration_s",
        "headline",
        "metrics",
        "path",
    }


def test_runs_cli_table_shows_the_sort_column_and_refuses_unknown_status(
    cli: CliRunner, runs: dict[str, Path], runs_dir: Path
) -> None:
    result = cli.invoke(app, ["runs", "--runs-dir", str(runs_dir), "--sort", "r2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "r2" in result.stdout and "regression_mlp" in result.stdout
    result = invoke(cli, "runs", "--runs-dir", runs_dir, "--status", "done")
    assert result.exit_code == 2 and "unknown status 'done'" in result.stderr
    result = invoke(cli, "runs", "--runs-dir", runs_dir, "--name", "nothing-like-this")
    assert result.exit_code == 0 and "no matching runs" in result.stdout


# --------------------------------------------------------------------------- sweeps


def test_report_of_a_sweep_shows_its_leaderboard_by_rank(cli: CliRunner, runs_dir: Path) -> None:
    sweep = runs_dir / "sweep-20260102-lr"
    sweep.mkdir(parents=True)
    store.write_json(
        sweep / "sweep.json", {"name": "lr sweep", "grid": {"optimizer.learning_rate": [0.1, 0.01, 0.001]}}
    )
    store.write_csv(
        sweep / "results.csv",
        [
            "optimizer.learning_rate",
            "val_accuracy_mean",
            "val_accuracy_std",
            "val_accuracy_fold0",
            "val_accuracy_fold1",
            "rank",
        ],
        [[0.1, 0.81, 0.02, 0.79, 0.83, 3], [0.01, 0.95, 0.01, 0.94, 0.96, 1], [0.001, 0.90, 0.01, 0.89, 0.91, 2]],
    )
    result = cli.invoke(app, ["report", "sweep-2026", "--runs-dir", str(runs_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if line.split()[:1] in (["1"], ["2"], ["3"])]
    assert [row[:2] for row in rows] == [["1", "0.01"], ["2", "0.001"], ["3", "0.1"]]
    assert "val_accuracy" in result.stdout and "fold0" not in result.stdout  # mean ± std stand for the folds
    assert "0.95 ± 0.01" in result.stdout and "learning_rate" in result.stdout
    page = (sweep / "report.html").read_text(encoding="utf-8")
    assert "lr sweep" in page and "val_accuracy_fold0" in page
    assert page.index("<td>0.01</td>") < page.index("<td>0.001</td>") < page.index("<td>0.1</td>")


def test_sweep_leaderboard_fits_a_narrow_terminal_and_keeps_the_ranking_metric() -> None:
    from rich.console import Console

    from mlrun.report.sweeps import SweepData
    from mlrun.report.terminal import leaderboard_table

    metrics = ["val_loss", "val_accuracy", "val_roc_auc", "val_precision"]
    columns = ["model.hidden_units", "optimizer.learning_rate", "training.learning_rate"]
    columns += [f"{m}_{s}" for m in metrics for s in ("mean", "std", "fold0")] + ["rank"]
    rows = [
        dict.fromkeys(columns, "0.123456789") | {"rank": str(i + 1), "model.hidden_units": "[256, 64, 32]"}
        for i in range(3)
    ]
    sweep = SweepData(Path("x"), {"sweep": {"metric": "val_accuracy"}}, columns, rows)
    console = Console(width=80, record=True)
    console.print(leaderboard_table(sweep, top=10, width=80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    header = next(line for line in text.splitlines() if "rank" in line)
    assert header.split()[:2] == ["rank", "hidden_units"]  # a grid key by its last part ...
    assert "optimizer.learni" in text and "training.learnin" in text  # ... unless two keys end alike
    assert header.split()[-1] == "val_accuracy" and "0.1235 ± 0.1235" in text  # the ranking metric, as mean ± std
    assert "not shown for lack of width" in text


# --------------------------------------------------------------------------- speed: no TensorFlow


@pytest.mark.slow  # a subprocess or a few training steps: the full suite runs it
def test_report_never_imports_tensorflow_and_terminal_only_skips_matplotlib(
    runs: dict[str, Path], runs_dir: Path
) -> None:
    code = f"""
import sys
import mlrun.report, mlrun.report.page, mlrun.report.plots, mlrun.report.show, mlrun.report.listing
from mlrun.cli import app
app(["report", "latest", "--runs-dir", {str(runs_dir)!r}, "--no-html"], standalone_mode=False)
assert "matplotlib" not in sys.modules, "terminal report loaded matplotlib"
app(["report", "latest", "--runs-dir", {str(runs_dir)!r}], standalone_mode=False)
app(["compare", {runs["multiclass"].name!r}, {runs["binary"].name!r}, "--runs-dir", {str(runs_dir)!r}], standalone_mode=False)
app(["runs", "--runs-dir", {str(runs_dir)!r}, "--sort", "accuracy"], standalone_mode=False)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "torch", "jax"))
assert not heavy, heavy
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (runs["regression"] / "report.html").is_file()


@pytest.mark.slow  # a subprocess or a few training steps: the full suite runs it
def test_report_of_runs_and_grid_sweeps_never_imports_optuna(runs: dict[str, Path], runs_dir: Path) -> None:
    sweep = runs_dir / "grid-sweep-1234abcd"
    sweep.mkdir(parents=True)
    store.write_json(sweep / "sweep.json", {"id": sweep.name, "sweep": {"search": "grid", "metric": "val_accuracy"}})
    store.write_csv(sweep / "results.csv", ["optimizer.learning_rate", "val_accuracy_mean", "rank"], [[0.1, 0.9, 1]])
    code = f"""
import sys
from mlrun.cli import app
app(["--help"], standalone_mode=False)
app(["report", "latest", "--runs-dir", {str(runs_dir)!r}], standalone_mode=False)
app(["report", {sweep.name!r}, "--runs-dir", {str(runs_dir)!r}], standalone_mode=False)
app(["runs", "--runs-dir", {str(runs_dir)!r}], standalone_mode=False)
assert "optuna" not in sys.modules, "the report of a run or a grid sweep imported optuna"
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep / "report.html").is_file() and "Optimization history" not in (sweep / "report.html").read_text()


@pytest.mark.parametrize("on_training_data", [True, False])
def test_test_metrics_on_training_data_get_a_warning_notice(
    cli: CliRunner, runs_dir: Path, on_training_data: bool
) -> None:
    path = make_run(runs_dir, "binary", name="fit")
    metrics = store.read_json(path / store.METRICS_FILE)
    if on_training_data:
        metrics.update(test_is_training_data=True, warning="test_size: 0: these test metrics are training metrics")
    store.write_json(path / store.METRICS_FILE, {**metrics, "positive_label": "malignant"})
    warnings = [n.text for n in summary.notices(load_run(path)) if n.level == "warning"]
    assert (summary.TRAINING_DATA_NOTICE in warnings) is on_training_data
    result = invoke(cli, "report", path.name, "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.output
    assert ("computed on its training data" in " ".join(result.stdout.split())) is on_training_data
    page = (path / "report.html").read_text(encoding="utf-8")
    assert ("computed on its training data" in page) is on_training_data
    assert "positive_label" not in result.stdout  # a setting, not a metric row
