"""The bad-input corpus: every malformed config, data file and argument in tests/corpus/bad_inputs.yaml,
run through the real CLI, must fail with its exit code and one clear message, and leave nothing behind."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mlrun.cli import app

CORPUS = Path(__file__).parent / "corpus" / "bad_inputs.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))

#: The kinds of mistake the reliability issue lists; the corpus must have a case of each.
CATEGORIES = {
    "yaml_syntax",
    "top_level_not_mapping",
    "unknown_key",
    "wrong_type",
    "out_of_range",
    "unknown_name",
    "contradiction",
    "layer_shape",
    "data_file",
    "labels",
    "folds",
    "sweep_grid",
    "set_override",
    "usage",
}


def test_the_corpus_covers_every_kind_of_mistake() -> None:
    assert len(CASES) >= 40
    ids = [case["id"] for case in CASES]
    assert len(set(ids)) == len(ids), [i for i, n in collections.Counter(ids).items() if n > 1]
    assert {case["category"] for case in CASES} == CATEGORIES
    for case in CASES:
        assert case["command"] in ("train", "validate", "sweep"), case["id"]
        assert case["exit"] in (1, 2), case["id"]
        assert case["expect"] and all(isinstance(f, str) and f for f in case["expect"]), case["id"]
    # unknown keys are caught at every level of the config
    unknown = " ".join(f for case in CASES if case["category"] == "unknown_key" for f in case["expect"])
    for key in (
        "  epochs:",
        "dataset.",
        "model.",
        "model.layers.",
        "optimizer.",
        "optimizer.schedule.",
        "training.early_stopping.",
        "runtime.",
        "sweep.",
        "sweep.cv.",
    ):
        assert key in unknown, key


def _write_files(directory: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = directory / name
        if isinstance(content, dict):
            np.savez(path, **{k: np.asarray(v) for k, v in content["npz"].items()})
            if path.suffix != ".npz":
                path.with_name(path.name + ".npz").rename(path)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input_fails_with_one_clear_message(
    case: dict[str, Any], cli, tmp_path: Path, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    config = case_dir / "config.yaml"
    if case["config"] is not None:
        config.write_text(case["config"], encoding="utf-8")
    _write_files(case_dir, case.get("files") or {})
    cwd = tmp_path / "cwd"  # relative data paths must be found beside the config, not in the working directory
    cwd.mkdir()
    monkeypatch.chdir(cwd)

    result = cli.invoke(
        app,
        [case["command"], str(config), *case.get("args", []), *(["--quiet"] if case["command"] != "validate" else [])],
        env={"COLUMNS": "250"},
    )

    output = result.output
    assert result.exit_code == case["exit"], output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    assert output.lstrip().startswith("error: ") and output.count("error:") == 1, output
    missing = [fragment for fragment in case["expect"] if fragment not in output]
    assert not missing, f"missing {missing} in:\n{output}"
    assert not runs_dir.exists() or not any(runs_dir.iterdir()), sorted(runs_dir.rglob("*"))
    assert not any(cwd.iterdir())
