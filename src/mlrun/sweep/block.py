"""The ``sweep:`` block of a config: its schema, and reading it with messages that say where each problem is.

A problem names the dotted key, where it came from (the YAML line, a ``--set``
override, or an option such as ``--pruner``) and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from mlrun.config import Strict
from mlrun.config.loading import yaml_line
from mlrun.errors import ConfigError
from mlrun.metrics.registry import did_you_mean, direction, held_out_metrics
from mlrun.sweep.grid import grid_problems, parse_grid_option
from mlrun.sweep.space import RANGE_KEYS, space_problems

#: The command-line options that replace a key of the block, as a message names them.
OPTIONS = {"search": "--search", "n_trials": "--n-trials", "pruner": "--pruner"}
#: ``--smoke`` tries at most this many configurations of a random or TPE search.
SMOKE_TRIALS = 4
#: Every metric name ``sweep.metric`` accepts: a metric a trial reports on its held-out data, ``val_`` prefixed.
SWEEP_METRICS = held_out_metrics()


class CVConfig(Strict):
    """k-fold cross-validation over the training set (scikit-learn's KFold / StratifiedKFold)."""

    n_splits: int = Field(5, ge=2)
    """Number of folds; each grid point trains once per fold, validated on the held-out fold."""
    stratified: bool | None = None
    """Keep each class's share in every fold; default true for binary and multiclass tasks, false otherwise."""
    shuffle: bool = True
    """Shuffle before splitting into folds (seeded by the config's seed)."""
    inner_validation: float = Field(0.1, gt=0, lt=1)
    """When early stopping or a reduce_on_plateau schedule monitors a ``val_*`` quantity: the fraction
    of each fold's training part (stratified for classification) they watch, so the held-out fold is
    only scored. Unused otherwise."""
    n_repeats: int = Field(1, ge=1)
    """Repeat the k-fold split this many times, reshuffled each time (scikit-learn's RepeatedKFold /
    RepeatedStratifiedKFold, seeded by the config's seed): n_splits * n_repeats trials per grid point,
    and more paired fold scores for the comparison with the best point (see sweep.rope)."""

    @model_validator(mode="after")
    def _repeats_shuffle(self) -> CVConfig:
        if self.n_repeats > 1 and not self.shuffle:
            raise ValueError(
                f"n_repeats: {self.n_repeats} needs shuffle: true (every repeat reshuffles the data); "
                "use shuffle: true, or n_repeats: 1"
            )
        return self


class SweepBlock(Strict):
    """A grid, random or TPE search, optionally cross-validated: the ``sweep:`` block of a config."""

    search: Literal["grid", "random", "tpe"] = "grid"
    """grid: every combination of sweep.grid; random or tpe: n_trials configurations sampled from sweep.space
    by Optuna's RandomSampler or TPESampler (seeded by the config's seed)."""
    grid: dict[str, Any] | None = None
    """Grid search: dotted config keys (list items by index: model.layers.0.filters) mapped to lists of values."""
    space: dict[str, Any] | None = None
    """Random and TPE search: dotted config keys mapped to a range {low, high, log, step} (integers when low,
    high and step are integers) or a list of choices (a categorical choice; whole blocks too)."""
    n_trials: int | None = Field(None, ge=1)
    """Random and TPE search: how many configurations to try in all (a rerun with a larger number extends the study)."""
    pruner: Literal["none", "median", "successive_halving", "hyperband"] = "none"
    """Random and TPE search: stop unpromising configurations early (Optuna's MedianPruner,
    SuccessiveHalvingPruner, HyperbandPruner) on the metric's running value after each epoch."""
    cv: CVConfig | None = None
    """Cross-validate each grid point; without it each point trains once and is scored on dataset.validation_split."""
    metric: str | None = None
    """What ranks the grid points, scored on held-out data: val_accuracy (default for classification),
    val_r2 (default for regression), val_loss, val_roc_auc, val_f1_macro, ... (see SWEEP_METRICS)."""
    mode: Literal["max", "min"] | None = None
    """max: higher metric is better; min: lower is better. Default: from the metric."""
    refit: bool = True
    """Retrain the best grid point on all training data and evaluate it on the test set."""
    rope: float = Field(0.01, ge=0)
    """Region of practical equivalence, in the metric's units (0.01: one point of accuracy): two grid points whose
    mean scores differ by at most this much count as equivalent in results.csv's prob_equivalent."""

    @field_validator("metric")
    @classmethod
    def _check_metric(cls, metric: str | None) -> str | None:
        if metric is None or metric in SWEEP_METRICS:
            return metric
        if f"val_{metric}" in SWEEP_METRICS:
            raise ValueError(
                f"grid points are ranked on held-out data, so the metric is 'val_{metric}', not {metric!r}"
            )
        did = did_you_mean(metric, SWEEP_METRICS)
        raise ValueError(f"unknown metric {metric!r}{did}; allowed: {', '.join(SWEEP_METRICS)}")

    @model_validator(mode="after")
    def _search_keys(self) -> SweepBlock:
        if self.search == "grid":
            if self.space is not None:
                raise ValueError(
                    "space: is for search: random or tpe; a grid search takes grid: (lists of values), "
                    "or set search: tpe (or random) to sample from the space"
                )
            if self.grid is None:
                raise ValueError(
                    "grid: required key is missing: give the keys and values to sweep, e.g. grid: {optimizer.learning_rate: [0.01, 0.001]}"
                )
            if self.pruner != "none":
                raise ValueError(
                    f"pruner: {self.pruner!r} needs search: random or tpe (a grid search trains every point in full)"
                )
            return self
        if self.grid is not None:
            raise ValueError(
                f"grid: is for search: grid; with search: {self.search}, write the values under space: instead "
                "(a list is a categorical choice: space: {optimizer.learning_rate: [0.01, 0.001]}, "
                "a range is {low: 1.0e-4, high: 0.1, log: true})"
            )
        if self.space is None:
            raise ValueError(
                f"space: required key is missing: search: {self.search} samples from it, e.g. "
                "space: {optimizer.learning_rate: {low: 1.0e-4, high: 0.1, log: true}}"
            )
        if self.n_trials is None:
            raise ValueError(
                f"n_trials: required key is missing: search: {self.search} tries n_trials configurations, e.g. n_trials: 40"
            )
        return self

    @model_validator(mode="after")
    def _mode_fits_metric(self) -> SweepBlock:
        if self.metric is not None and self.mode is not None:
            natural = direction(self.metric)
            if self.mode != natural:
                raise ValueError(
                    f"mode: {self.mode!r} would rank the worst {self.metric} first; use mode: {natural!r} (or leave mode out)"
                )
        return self


def load_block(
    block_raw: Any, grid: Sequence[str], folds: int | None, path: Path, text: str, origins: Mapping[str, str]
) -> SweepBlock:
    """Validate the ``sweep:`` block (with ``--grid`` and ``--folds`` applied) and its grid or space.

    Args:
        origins: dotted ``sweep.*`` keys set on the command line -> how (``--set sweep.cv``, ``--pruner``),
            so that a problem names the option instead of a YAML line.

    Raises:
        ConfigError: every problem, each with its key, origin and what to do.
    """
    if not isinstance(block_raw, Mapping):
        raise ConfigError(
            f"error: {path}: sweep: must be a mapping with grid:, and optionally cv:, metric:, mode:, refit: (got a {type(block_raw).__name__})"
        )
    data = dict(block_raw)
    if grid:
        given = data.get("grid") or {}
        if not isinstance(given, Mapping):
            raise ConfigError(
                f"error: {path}: sweep.grid: must be a mapping of dotted keys to lists of values, got {given!r}; "
                "--grid adds keys to it"
            )
        data["grid"] = dict(given)
        for option in grid:
            key, values = parse_grid_option(option)
            data["grid"][key] = values
    if folds is not None:
        if folds < 2:
            raise ConfigError(
                f"error: --folds {folds}: k-fold cross-validation needs at least 2 folds; "
                "to train each grid point once on the validation split, leave --folds out and remove sweep.cv"
            )
        cv = data.get("cv")
        data["cv"] = {**(cv if isinstance(cv, Mapping) else {}), "n_splits": folds}
    where = _Where(text, origins, bool(grid) or folds is not None)
    try:
        block = SweepBlock.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(err, where) for err in exc.errors(include_url=False)]
        raise ConfigError(f"error: {path}: the sweep: block is not valid\n" + "\n".join(dict.fromkeys(lines))) from None
    name = "grid" if block.search == "grid" else "space"
    problems = grid_problems(block.grid or {}) if block.search == "grid" else space_problems(block.space)
    if problems:
        lines = [where.line(_problem_loc(name, key, msg), _problem_msg(msg)) for key, msg in problems]
        raise ConfigError(f"error: {path}: the sweep: block is not valid\n" + "\n".join(lines))
    return block


def _problem_loc(name: str, key: str, msg: str) -> list[str]:
    """Where a grid or space problem is: ``sweep.space.KEY.low`` for a range's own key (``low: ...``)."""
    loc = ["sweep", name, *([key] if key else [])]
    inner = _range_key(msg)
    return [*loc, inner.group(1)] if key and inner else loc


def _problem_msg(msg: str) -> str:
    inner = _range_key(msg)
    return inner.group(2) if inner else msg


def _range_key(msg: str) -> re.Match[str] | None:
    """``low: must be a number`` or ``lo: unknown key in a range``: a problem of one key inside a range."""
    inner = re.match(r"^(\w+): (.*)$", msg, re.S)
    if inner and (inner.group(1) in RANGE_KEYS or inner.group(2).startswith("unknown key in a range")):
        return inner
    return None


def _describe(err: Mapping[str, Any], where: _Where) -> str:
    loc = ["sweep", *err["loc"]]
    kind = err["type"]
    if kind == "extra_forbidden":
        model = CVConfig if len(loc) == 3 and loc[1] == "cv" else SweepBlock
        allowed = list(model.model_fields)
        msg = "unknown key" + (did_you_mean(str(loc[-1]), allowed) or f"; allowed: {', '.join(allowed)}")
    elif kind == "missing":
        msg = "required key is missing" + (
            ": give the keys and values to sweep, e.g. grid: {optimizer.learning_rate: [0.01, 0.001]}"
            if loc[-1] == "grid"
            else ""
        )
    else:
        msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        if (
            kind not in ("value_error", "assertion_error")
            and "input" in err
            and not isinstance(err["input"], (dict, list))
        ):
            msg += f" (got {err['input']!r})"
    head = re.match(r"^(\w+): (.*)$", msg, re.S)
    if kind == "value_error" and err["loc"] == () and head and head.group(1) in SweepBlock.model_fields:
        loc, msg = ["sweep", head.group(1)], head.group(2)
    return where.line(loc, msg)


@dataclass
class _Where:
    """Says where a sweep-block key came from: a ``--set`` override, the YAML (with its line), or --grid/--folds."""

    text: str
    origins: Mapping[str, str]
    from_options: bool

    def line(self, loc: Sequence[Any], msg: str) -> str:
        key = ".".join(map(str, loc))
        origin = next(
            (o for k, o in self.origins.items() if key == k or key.startswith(k + ".") or k.startswith(key + ".")),
            None,
        )
        if origin is None:
            number = yaml_line(self.text, loc)
            origin = f"line {number}" if number else ("--grid/--folds" if self.from_options else "")
        return f"  {origin + '  ' if origin else ''}{key}: {msg}"
