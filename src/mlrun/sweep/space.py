"""The search space of a random or TPE search (``sweep.space``): ranges and categorical choices.

A space maps dotted config keys (as ``sweep.grid`` does) to either a range
``{low, high, log, step}`` (integers when ``low``, ``high`` and ``step`` are
integers) or a list of choices (any values, whole blocks included). Pure
functions over plain data; Optuna is imported only to sample.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlrun.metrics.registry import did_you_mean
from mlrun.sweep.grid import format_value, grid_problems

#: The keys a range may have.
RANGE_KEYS = ("low", "high", "log", "step")
_EXAMPLE = "e.g. optimizer.learning_rate: {low: 1.0e-4, high: 0.1, log: true}, or a list of choices: [0.01, 0.001]"


@dataclass(frozen=True)
class Range:
    """A numeric range, sampled uniformly (or log-uniformly), on a grid of ``step`` when given."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    @property
    def integer(self) -> bool:
        """True when low, high and step (if any) are all integers: the sampled values are integers."""
        return all(isinstance(v, int) for v in (self.low, self.high, self.step) if v is not None)


@dataclass(frozen=True)
class Choice:
    """A categorical choice among ``values``; Optuna sees each by its ``label`` (values that are not plain scalars)."""

    values: tuple[Any, ...]
    labels: tuple[Any, ...]

    def value_of(self, label: Any) -> Any:
        return self.values[self.labels.index(label)]


Dimension = Range | Choice


def space_problems(space: Any) -> list[tuple[str, str]]:
    """Return ``(key, message)`` for every problem of a ``sweep.space`` mapping (key ``""``: the whole space).

    A problem key may go one level into a range (``model.dropout.low`` reads as ``KEY`` then ``low``):
    it is returned as ``(KEY, "low: ...")``, the caller points at the line.

    >>> space_problems({"model.dropout": {"low": 0.5, "high": 0.1}})
    [('model.dropout', 'low must be below high (got low 0.5, high 0.1)')]
    """
    if not isinstance(space, Mapping) or not space:
        return [("", f"needs at least one dotted key with a range or a list of choices, {_EXAMPLE}")]
    problems: list[tuple[str, str]] = []
    as_grid: dict[str, Any] = {}
    for key, entry in space.items():
        if isinstance(entry, Mapping):
            problems += [(key, msg) for msg in range_problems(entry)]
            as_grid[key] = [dict(entry)]
        elif isinstance(entry, (list, tuple)):
            as_grid[key] = entry
        else:
            problems.append(
                (key, f"needs a range {{low: ..., high: ...}} or a list of choices, got {entry!r}; {_EXAMPLE}")
            )
            as_grid[key] = [entry]
    # key paths, per-worker keys, empty or repeated choices, overlapping keys: the grid's rules
    problems += grid_problems(as_grid)
    return problems


def range_problems(entry: Mapping[str, Any]) -> list[str]:
    """What is wrong with one range ``{low, high, log, step}`` (empty when nothing is)."""
    unknown = [k for k in entry if k not in RANGE_KEYS]
    if unknown:
        k = str(unknown[0])
        hint = did_you_mean(k, list(RANGE_KEYS)) or f"; allowed: {', '.join(RANGE_KEYS)}"
        return [f"{k}: unknown key in a range{hint} (a list of values is a categorical choice)"]
    missing = [k for k in ("low", "high") if k not in entry]
    if missing:
        return [f"a range needs low and high ({' and '.join(missing)} missing), {_EXAMPLE}"]
    low, high, log, step = entry["low"], entry["high"], entry.get("log", False), entry.get("step")
    for name, value in (("low", low), ("high", high), ("step", step)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return [f"{name}: must be a number (got {value!r})"]
    if not isinstance(log, bool):
        return [f"log: must be true or false (got {log!r})"]
    if low >= high:
        return [f"low must be below high (got low {low}, high {high})"]
    if log and low <= 0:
        return [f"a log range needs positive bounds (got low {low}); use low > 0, or log: false"]
    if step is None:
        return []
    if log:
        return ["step and log: true cannot be combined (Optuna samples either on a grid or log-uniformly); remove one"]
    if step <= 0:
        return [f"step: must be greater than 0 (got {step})"]
    n = (high - low) / step
    if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
        fitted = low + math.floor(n) * step
        return [
            f"step {step} does not divide the range: high - low = {high - low:g} is not a multiple of it; "
            f"use high: {fitted:g} (or a step that divides {high - low:g})"
        ]
    return []


def parse_space(space: Mapping[str, Any]) -> dict[str, Dimension]:
    """The space as dimensions, by key in sorted order (the order they are sampled in). Assumes no problems."""
    out: dict[str, Dimension] = {}
    for key in sorted(space):
        entry = space[key]
        if isinstance(entry, Mapping):
            out[key] = Range(entry["low"], entry["high"], bool(entry.get("log", False)), entry.get("step"))
        else:
            out[key] = Choice(tuple(entry), _labels(list(entry)))
    return out


def _labels(values: list[Any]) -> tuple[Any, ...]:
    """How Optuna sees each choice: the value itself when it is a plain scalar, else its text (as results.csv shows it)."""
    if all(v is None or isinstance(v, (bool, int, float, str)) for v in values):
        return tuple(values)
    texts = [format_value(v) for v in values]
    if len(set(texts)) < len(texts):
        texts = [json.dumps(v, sort_keys=True) for v in values]
    return tuple(texts)


def sample(trial: Any, space: Mapping[str, Dimension]) -> dict[str, Any]:
    """Ask an Optuna trial for a value of every dimension; return the config values by dotted key."""
    params: dict[str, Any] = {}
    for key, dim in space.items():
        if isinstance(dim, Choice):
            params[key] = dim.value_of(trial.suggest_categorical(key, list(dim.labels)))
        elif dim.integer:
            params[key] = trial.suggest_int(key, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log)
        else:
            params[key] = trial.suggest_float(key, float(dim.low), float(dim.high), step=dim.step, log=dim.log)
    return params


def decode(stored: Mapping[str, Any], space: Mapping[str, Dimension]) -> dict[str, Any]:
    """The config values of an Optuna trial's stored params (choice labels back to their values)."""
    out = {}
    for key, dim in space.items():
        if key in stored:
            out[key] = dim.value_of(stored[key]) if isinstance(dim, Choice) else stored[key]
    return out
