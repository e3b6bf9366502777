"""The runs directory: atomic writes, unique ids, history, run resolution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlrun import store
from mlrun.errors import RunNotFound


def make_run(runs_dir: Path, name: str = "r", **info) -> Path:
    path = store.create_run_dir(runs_dir, name)
    store.write_json(
        path / store.RUN_FILE,
        {"id": path.name, "name": name, "status": "completed", "started_at": store.now_iso(), **info},
    )
    return path


def test_run_ids_are_unique_even_in_the_same_second(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda i: store.create_run_dir(tmp_path, "same"), range(64)))
    assert len({p.name for p in paths}) == 64


def test_write_atomic_leaves_no_temporary_files(tmp_path: Path) -> None:
    store.write_json(tmp_path / "a.json", {"x": float("nan"), "y": [1, float("inf")]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": None, "y": [1, None]}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_history_is_appended_row_by_row(tmp_path: Path) -> None:
    w = store.HistoryWriter(tmp_path / "h.csv")
    w.append(1, {"loss": 1.0, "accuracy": 0.5})
    w.append(2, {"loss": 0.5, "accuracy": 0.75})
    rows = store.read_csv(tmp_path / "h.csv")
    assert list(rows[0]) == ["epoch", "accuracy", "loss"] and [r["epoch"] for r in rows] == ["1", "2"]


def test_slugify_keeps_ids_safe() -> None:
    assert store.slugify("<script>alert(1)</script>") == "script-alert-1-script"
    assert store.slugify("../../etc") == "etc"


def test_resolve_by_id_prefix_latest_and_path(tmp_path: Path) -> None:
    a = make_run(tmp_path, "alpha")
    b = make_run(tmp_path, "beta")
    assert store.resolve_run(a.name, tmp_path) == a
    assert store.resolve_run(b.name[:-2], tmp_path) == b
    assert store.resolve_run("latest", tmp_path) in (a, b)
    assert store.resolve_run(str(a), tmp_path) == a.resolve()


@pytest.mark.parametrize(
    "ref, match",
    [("nope", "no run matches 'nope'"), ("../..", "is not a run directory"), ("/etc", "is not a run directory")],
)
def test_bad_references_are_refused(tmp_path: Path, ref: str, match: str) -> None:
    make_run(tmp_path)
    with pytest.raises(RunNotFound, match=match) as info:
        store.resolve_run(ref, tmp_path)
    assert info.value.exit_code == 2


def test_ambiguous_prefix_lists_candidates(tmp_path: Path) -> None:
    a, b = make_run(tmp_path, "x"), make_run(tmp_path, "x")
    common = os.path.commonprefix([a.name, b.name])
    with pytest.raises(RunNotFound, match=rf"matches 2 runs(?s:.*){a.name}"):
        store.resolve_run(common, tmp_path)


def test_dead_running_run_shows_as_crashed(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead = int(proc.stdout)
    run = make_run(tmp_path, status="running", **{**store.host_info(), "pid": dead})
    assert store.list_runs(tmp_path)[0].status == "crashed"
    alive = make_run(tmp_path, status="running", **store.host_info())
    assert {r.path: r.status for r in store.list_runs(tmp_path)}[alive] == "running"
    assert run.exists()


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    store.write_json(tmp_path / "p.json", {})
    mode = (tmp_path / "p.json").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
