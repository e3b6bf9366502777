"""Property-based fuzzing of configs: mutated shipped configs, truncated YAML, ``--set`` values and sweep blocks.

The property, for every input: ``mlrun`` exits 0, 1 or 2; no exception escapes (no traceback); a
non-zero exit prints an ``error:`` line that names a key (dotted path) or a YAML line; a config
error writes nothing to the runs directory, and ``validate`` writes nothing at all.

Profiles (tests/conftest.py): ``ci`` (default, derandomized, fast) and ``long``
(``pytest tests/test_fuzz.py --hypothesis-profile=long``).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mlrun.cli import app
from mlrun.config import load_config
from mlrun.errors import ConfigError, DataError
from mlrun.sweep import read_sweep_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = {path.name: yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(CONFIGS.glob("*.yaml"))}
TEXTS = {path.name: path.read_text(encoding="utf-8") for path in sorted(CONFIGS.glob("*.yaml"))}
PLAIN = sorted(name for name, cfg in SHIPPED.items() if "sweep" not in cfg)
SWEEPS = sorted(name for name, cfg in SHIPPED.items() if "sweep" in cfg)
#: Configs whose data is small and offline (sklearn datasets, synthetic): full validate and train --smoke run on them.
OFFLINE = sorted(name for name in PLAIN if SHIPPED[name]["dataset"].get("name") != "mnist")
TOP_KEYS = ("name", "seed", "task", "dataset", "model", "loss", "optimizer", "training", "metrics", "runtime")
TOP_KEYS += ("evaluation", "sweep")  # the top-level keys an error may name

# ----------------------------------------------------------------------------- strategies

HUGE_INTS = st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63), 10**30, 10**400])
EXTREME_FLOATS = st.sampled_from([0.0, -0.0, 1e-320, 1e308, -1e308, math.nan, math.inf, -math.inf])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    EXTREME_FLOATS,
    st.text(max_size=12),
    st.sampled_from(["", "x" * 10_000, "relu", "adam", "mse", "val_loss", "synthetic", "digits", ".nan", "1e999"]),
)
#: Any YAML value: scalars, lists and mappings (nested), including non-string keys.
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none()), inner, max_size=4),
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a node of a config (the root is ``()``)."""
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _typo(key: Any, draw: Any) -> Any:
    """A misspelt or otherwise wrong key: a character dropped, doubled or changed, another case, another type."""
    text = str(key)
    i = draw(st.integers(0, max(len(text) - 1, 0)))
    return draw(
        st.sampled_from(
            [
                text[:i] + text[i + 1 :],
                text[:i] + text[i : i + 1] * 2 + text[i + 1 :],
                text[:i] + "x" + text[i + 1 :],
                text.upper(),
                text + " ",
                f"{text}.{text}",
                1,
                True,
                None,
                3.5,
            ]
        )
    )


@st.composite
def mutated(draw: Any, names: list[str]) -> tuple[str, dict[str, Any]]:
    """A shipped config with 1 to 3 mutations: a key dropped, renamed or added, a value replaced."""
    name = draw(st.sampled_from(names))
    cfg = yaml.safe_load(yaml.safe_dump(SHIPPED[name]))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(cfg))))
        parent, key = (_get(cfg, path[:-1]), path[-1]) if path else (None, None)
        action = draw(st.sampled_from(["drop", "rename", "replace", "replace", "add", "wrap", "extreme"]))
        if parent is None or (action in ("drop", "rename") and isinstance(parent, list)):
            action = "add"
        if action == "add":
            target = _get(cfg, path)
            if isinstance(target, dict):
                new_key = draw(st.one_of(st.text(max_size=8), st.sampled_from(["seed", "gate", "n_splits"])))
                target[new_key] = draw(VALUES)
            elif isinstance(target, list):
                target.append(draw(VALUES))
        elif action == "drop":
            del parent[key]
        elif action == "rename":
            parent[_typo(key, draw)] = parent.pop(key)
        elif action == "extreme":  # a number where a number belongs, so the config may get past the schema
            parent[key] = draw(st.one_of(HUGE_INTS, EXTREME_FLOATS, st.integers(-3, 3), st.floats(-2, 2)))
        elif action == "wrap":  # nested lists and mappings where a scalar belongs
            parent[key] = draw(st.sampled_from([[parent[key]], [[parent[key]]], {"value": parent[key]}]))
        else:
            parent[key] = draw(VALUES)
    return name, cfg


def _numbers(node: Any) -> list[tuple[Any, ...]]:
    return [p for p in _paths(node) if p and type(_get(node, p)) in (int, float)]


@st.composite
def renumbered(draw: Any, names: list[str]) -> tuple[str, dict[str, Any]]:
    """A shipped config with one or two of its numbers replaced by edge values of the same kind: often still valid,
    so the config gets past the schema to the data and the model."""
    name = draw(st.sampled_from(names))
    cfg = yaml.safe_load(yaml.safe_dump(SHIPPED[name]))
    for path in draw(st.lists(st.sampled_from(_numbers(cfg)), min_size=1, max_size=2, unique=True)):
        edges = [0, 1, 2, 3, 4, -1, 7, 10_000] if type(_get(cfg, path)) is int else [0.0, 1e-12, 0.5, 0.99, 1.0, 1e6]
        _get(cfg, path[:-1])[path[-1]] = draw(st.sampled_from(edges))
    return name, cfg


@st.composite
def truncated(draw: Any, names: list[str]) -> str:
    """A shipped config's YAML text cut at a random point (maybe with junk appended)."""
    text = TEXTS[draw(st.sampled_from(names))]
    cut = text[: draw(st.integers(0, len(text)))]
    return cut + draw(st.sampled_from(["", "\n", ":", " [", "{", "- ", "\t", "'", '"', "&a", "*b", "!!python/none"]))


def _dotted_keys(node: Any, prefix: str = "") -> Iterator[str]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        here = f"{prefix}{key}"
        yield here
        if not (isinstance(node, dict) and key == "grid"):
            yield from _dotted_keys(value, here + ".")


SET_VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "[", "{a: ", ".nan", "-.inf", "1e308", "1e999", "-1", "0", "null", "[[1]]", "{}", "x" * 5000]),
    VALUES.map(lambda v: yaml.safe_dump(v, default_flow_style=True, width=10**9).strip().removesuffix("\n...")),
)


@st.composite
def overrides(draw: Any, names: list[str]) -> tuple[str, list[str]]:
    """A shipped config and 1 to 3 ``--set KEY=VALUE`` options: keys from the config (maybe misspelt)."""
    name = draw(st.sampled_from(names))
    keys = [*_dotted_keys(SHIPPED[name]), "optimizer.schedule.type", "model.layers.7.units", "a..b", ".x", "seed.x"]
    sets = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(keys))
        key = draw(st.sampled_from([key, str(_typo(key, draw)), f" {key}", ""]))
        sets.append(f"{key}{draw(st.sampled_from(['=', '=', '==', ':', '']))}{draw(SET_VALUES)}")
    return name, sets


# ----------------------------------------------------------------------------- the property

#: What an error message points at: a YAML line, a --set or --grid, a dotted config key with its colon
#: (``  model.hidden_units: ...``, ``has a sweep: block``), or the file as a whole (empty, not a mapping).
_POINTS = re.compile(
    r"line \d+|--set \S|--grid|--folds|\(top level\)|is empty|must be a mapping|"
    rf"(?:^|\s)(?:{'|'.join(TOP_KEYS)})(?:\.[\w-]+)*:",
    re.M,
)


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    """A fresh, empty working directory for one example (hypothesis cannot use function-scoped tmp_path)."""
    old = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def _invoke(command: str, config: Path, *args: str) -> tuple[int, str]:
    """Run ``mlrun COMMAND CONFIG ARGS`` in-process and check the property; return the exit code and output."""
    work = config.parent
    runs = work / "runs"
    before = sorted(p.name for p in work.iterdir())
    result = CliRunner().invoke(app, [command, str(config), *args], env={"COLUMNS": "250", "MLRUN_RUNS_DIR": str(runs)})
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), _traceback(result)
    assert result.exit_code in (0, 1, 2), output
    assert "Traceback" not in output, output
    if result.exit_code != 0:
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert errors, output
        assert _POINTS.search(output), output
    if command == "validate" or result.exit_code == 2:
        assert sorted(p.name for p in work.iterdir()) == before, output
        assert not runs.exists(), output
    return result.exit_code, output


def _traceback(result: Any) -> str:
    import traceback

    exc = result.exception
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _write(work: Path, content: dict[str, Any] | str) -> Path:
    path = work / "config.yaml"
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


@given(case=mutated(PLAIN + SWEEPS))
def test_mutated_config_schema_only(case: tuple[str, dict[str, Any]]) -> None:
    with _workdir() as work:
        _invoke("validate", _write(work, case[1]), "--schema-only")


@given(text=truncated(PLAIN + SWEEPS))
def test_truncated_yaml_schema_only(text: str) -> None:
    with _workdir() as work:
        _invoke("validate", _write(work, text), "--schema-only")


@given(case=overrides(PLAIN))
def test_set_overrides_schema_only(case: tuple[str, list[str]]) -> None:
    name, sets = case
    with _workdir() as work:
        _invoke("validate", _write(work, SHIPPED[name]), "--schema-only", *(a for s in sets for a in ("--set", s)))


@given(case=mutated(SWEEPS))
def test_mutated_sweep_block_reads_or_refuses(case: tuple[str, dict[str, Any]]) -> None:
    """The sweep reader (schema and plan, no data) either succeeds or raises a ConfigError/DataError."""
    with _workdir() as work:
        path = _write(work, case[1])
        with contextlib.suppress(ConfigError, DataError):
            read_sweep_config(path, smoke=True)
        assert sorted(p.name for p in work.iterdir()) == ["config.yaml"]


@given(case=overrides(SWEEPS), folds=st.one_of(st.none(), st.integers(-2, 12)))
def test_sweep_overrides_read_or_refuse(case: tuple[str, list[str]], folds: int | None) -> None:
    name, sets = case
    with _workdir() as work:
        path = _write(work, SHIPPED[name])
        with contextlib.suppress(ConfigError, DataError):
            read_sweep_config(path, sets[1:], grid=sets[:1], folds=folds)


@settings(max_examples=max(15, settings.default.max_examples // 6))  # loads data and builds a model: ~0.1 s each
@given(case=st.one_of(mutated(OFFLINE), renumbered(OFFLINE)))
def test_mutated_config_full_validate(case: tuple[str, dict[str, Any]]) -> None:
    with _workdir() as work:
        _invoke("validate", _write(work, case[1]))


@pytest.mark.slow
@settings(max_examples=15)  # ~2 s each, in the long profile too
@given(case=st.one_of(renumbered(OFFLINE), mutated(OFFLINE)))
def test_mutated_config_train_smoke(case: tuple[str, dict[str, Any]]) -> None:
    with _workdir() as work:
        _invoke("train", _write(work, case[1]), "--smoke", "--quiet")


# ----------------------------------------------------------------------------- what the fuzzer found

_MODEL = "model: {architecture: mlp, hidden_units: [4]}\nloss: mse\n"

#: Inputs the fuzzer once turned into tracebacks (or into errors that pointed nowhere), and the message each gives now:
#: (config text, --set options, the exact line of the message).
FOUND: list[tuple[str, list[str], str]] = [
    (  # TypeError: unhashable type: 'dict' in DatasetConfig._generator_defaults
        "name: t\ndataset: {name: synthetic, generator: {}}\n" + _MODEL,
        [],
        "  line 2  dataset.generator: unknown value {}; allowed: classification, moons, circles, blobs, regression, "
        "multilabel, gate",
    ),
    (  # TypeError: unhashable type: 'list'
        "name: t\ndataset: {name: synthetic, generator: [[multilabel]]}\n" + _MODEL,
        [],
        "  line 2  dataset.generator: unknown value [['multilabel']]; allowed: classification, moons, circles, blobs, "
        "regression, multilabel, gate",
    ),
    (  # "  None: Keys should be strings (got None)": no line, a Python name
        "name: t\ndataset: {name: digits}\n" + _MODEL + "null: 42\n",
        [],
        "  line 5  null: is not a name: keys are text (name:, dataset:, ...); check the indentation and the key before the ':'",
    ),
    (  # pydantic reports `true:` as the key 1
        "name: t\ndataset: {name: digits, true: 2}\n" + _MODEL,
        [],
        "  line 2  dataset.true: is not a name: keys are text",
    ),
    (  # "  3: Keys should be strings (got 3)": --set 3.5=x made an integer key and the message lost the --set
        "name: t\ndataset: {name: digits}\n" + _MODEL,
        ["3.5=x"],
        "  --set 3.5  3: unknown key; allowed: name, seed, task, dataset, model, loss, optimizer, training",
    ),
    (  # accepted: every input divided by NaN
        "name: t\ndataset: {name: digits, scale: .nan}\n" + _MODEL,
        [],
        "  line 2  dataset.scale: must be a finite number to divide by (got nan)",
    ),
    (  # accepted: learning rate infinity
        "name: t\ndataset: {name: digits}\n" + _MODEL + "optimizer: {name: adam, learning_rate: .inf}\n",
        [],
        "  line 5  optimizer.learning_rate: must be a finite number (got inf)",
    ),
    (  # "  line 5  optimizer.learning_rate: must be greater than 0 (got nan)"
        "name: t\ndataset: {name: digits}\n" + _MODEL,
        ["optimizer.learning_rate=.nan"],
        "  --set optimizer.learning_rate  optimizer.learning_rate: must be a finite number (got nan)",
    ),
    (  # accepted, then ValueError in scikit-learn: Seed must be between 0 and 2**32 - 1
        "name: t\nseed: 100000000000000000000\ndataset: {name: digits}\n" + _MODEL,
        [],
        "  line 2  seed: must be less than or equal to 4294967295 (got 100000000000000000000)",
    ),
]


@pytest.mark.parametrize(("text", "sets", "expected"), FOUND)
def test_found_case_is_a_clear_config_error(text: str, sets: list[str], expected: str, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(path, sets)


def test_grid_option_on_a_sweep_grid_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    """TypeError: 'float' object is not iterable (merging --grid into `sweep.grid: .nan`)."""
    path = tmp_path / "config.yaml"
    path.write_text("name: t\ndataset: {name: digits}\n" + _MODEL + "sweep: {grid: .nan}\n", encoding="utf-8")
    expected = "sweep.grid: must be a mapping of dotted keys to lists of values, got nan; --grid adds keys to it"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        read_sweep_config(path, grid=["seed=1,2"])


def test_sweep_grid_value_with_keys_of_mixed_types_is_refused(tmp_path: Path) -> None:
    """TypeError: '<' not supported between instances of 'int' and 'str' (sorting the keys to compare grid values)."""
    path = tmp_path / "config.yaml"
    sweep = "sweep: {grid: {optimizer: [{name: sgd}, {name: adam, 1: x}]}}\n"
    path.write_text("name: t\ndataset: {name: digits}\n" + _MODEL + sweep, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape("optimizer.1: is not a name: keys are text")):
        read_sweep_config(path)
