"""Grid expansion: every combination of the swept values, in scikit-learn's ``ParameterGrid`` order.

Pure functions over plain data: no config validation, no files, no Keras.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from mlrun.config import get_path, parse_path, set_path
from mlrun.errors import ConfigError

#: Runtime settings mlrun sweep chooses per worker (from --workers); they cannot be swept.
PER_WORKER_KEYS = ("runtime.intra_op_threads", "runtime.inter_op_threads")


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Return every combination of the grid's values as ``{dotted key: value}`` dicts.

    The order is scikit-learn's ``ParameterGrid``: keys sorted, the last key
    varying fastest. The size is the product of the lists' lengths.
    """
    from sklearn.model_selection import ParameterGrid

    check_grid(grid)
    return [
        {key: point[key] for key in sorted(point)} for point in ParameterGrid({k: list(v) for k, v in grid.items()})
    ]


def check_grid(grid: Mapping[str, Any]) -> None:
    """Raise ConfigError unless every key is a dotted key path and every value a non-empty list of distinct values."""
    problems = grid_problems(grid)
    if problems:
        raise ConfigError(
            "error: " + "\n  ".join(f"sweep.grid{'.' + key if key else ''}: {msg}" for key, msg in problems)
        )


def grid_problems(grid: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return ``(key, message)`` for every problem of a grid (key ``""`` for the grid as a whole)."""
    if not grid:
        return [
            ("", "is empty: give at least one key with a list of values, e.g. optimizer.learning_rate: [0.01, 0.001]")
        ]
    problems: list[tuple[str, str]] = []
    for key, values in grid.items():
        try:
            parse_path(key)
        except ConfigError:
            problems.append((key, "is not a dotted key path like optimizer.learning_rate or model.layers.0.filters"))
            continue
        if key in PER_WORKER_KEYS:
            problems.append(
                (
                    key,
                    "thread counts are set per worker by mlrun sweep (from --workers) and cannot be swept; remove it from the grid",
                )
            )
        elif key == "runtime.backend":
            problems.append(
                (
                    key,
                    "a worker process imports Keras once, on one backend, so the backend cannot be swept; "
                    "run one sweep per backend (--set runtime.backend=jax)",
                )
            )
        elif isinstance(values, dict):
            problems.append(
                (
                    key,
                    (
                        f"needs a list of values, got a mapping {values!r}: a grid key is one dotted key path, "
                        f"e.g. `{key}.{next(iter(values), 'name')}: [...]` (on the command line: --grid KEY=V1,V2)"
                    ),
                )
            )
        elif not isinstance(values, (list, tuple)):
            problems.append(
                (
                    key,
                    (
                        f"needs a list of values, got {values!r} (a {type(values).__name__}). "
                        f"Single values need to be wrapped in a list with one element: [{format_value(values)}]"
                    ),
                )
            )
        elif not values:
            problems.append((key, "the list of values is empty; give at least one value"))
        else:
            texts = [_canonical(v) for v in values]
            twice = next((v for i, v in enumerate(values) if texts[i] in texts[:i]), None)
            if len(set(texts)) < len(texts):
                problems.append((key, f"the value {format_value(twice)} is listed twice; list each value once"))
    for a, b in itertools.product(sorted(grid), repeat=2):
        if b.startswith(a + "."):
            problems.append(("", f"{a!r} and {b!r} overlap ({b!r} is inside {a!r}); sweep one of them"))
    return problems


def apply_point(raw: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of the raw config mapping with each ``{dotted key: value}`` of a grid point set."""
    data = copy.deepcopy(dict(raw))
    for key, value in params.items():
        parts = parse_path(key)
        for i in range(len(parts) - 1):
            # A list item can be swept only where the config has that list; set_path would
            # otherwise invent a mapping with an integer key.
            if isinstance(parts[i + 1], int):
                where = ".".join(map(str, parts[: i + 1]))
                try:
                    node = get_path(data, where)
                except KeyError:
                    node = None
                if not isinstance(node, list):
                    raise ConfigError(
                        f"error: sweep.grid.{key}: the config has no list {where} to index into; "
                        f"write the list in the config (e.g. {where}: [...]) or sweep the whole list"
                    )
        set_path(data, key, copy.deepcopy(value), what=f"sweep.grid.{key}")
    return data


def parse_grid_option(text: str) -> tuple[str, list[Any]]:
    """Parse ``--grid KEY=V1,V2`` into ``(KEY, [V1, V2])``; values are YAML (lists in brackets: ``[128],[256,64]``)."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ConfigError(
            f"error: --grid {text!r}: expected KEY=VALUE1,VALUE2,..., e.g. --grid optimizer.learning_rate=0.01,0.001"
        )
    try:
        parsed = yaml.safe_load(f"[{values}]")
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"error: --grid {text!r}: the values are not valid YAML ({getattr(exc, 'problem', exc)}); lists go in brackets: [128],[256,64]"
        ) from None
    parse_path(key, what=f"--grid {text!r}")
    return key, parsed


def format_value(value: Any) -> str:
    """A grid value as it is shown and written to results.csv: strings bare, a mapping as
    ``tag key=value ...`` (``sgd momentum=0.9 nesterov=true``), everything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        tag = next((k for k in ("name", "type", "architecture") if isinstance(value.get(k), str)), None)
        parts = [value[tag]] if tag else []
        parts += [f"{k}={_nested(v)}" for k, v in value.items() if k != tag]
        return " ".join(parts) if parts else "{}"
    return json.dumps(value)


def _nested(value: Any) -> str:
    return f"({format_value(value)})" if isinstance(value, Mapping) else format_value(value)


def describe_point(params: Mapping[str, Any]) -> str:
    """``key=value, key=value``: a grid point in one line."""
    return ", ".join(f"{k}={format_value(v)}" for k, v in params.items())


def _canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except TypeError:  # keys of mixed types ({1: .., a: ..}) do not sort; the schema refuses them
        return repr(value)
