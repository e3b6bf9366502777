"""The ``sweep:`` block of a config, and reading a sweep: the base config and every grid point, validated.

Everything here is static: a grid point's config is built and validated
before any data is loaded or model trained (:mod:`mlrun.sweep.plan` checks the
points against the data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from mlrun.config import ExperimentConfig, Strict, apply_overrides, evolve, read_yaml, smoke_config, validate_config
from mlrun.config.loading import yaml_line
from mlrun.errors import ConfigError
from mlrun.metrics.registry import did_you_mean, direction, held_out_metrics
from mlrun.sweep.grid import apply_point, describe_point, expand_grid, grid_problems, parse_grid_option
from mlrun.sweep.space import RANGE_KEYS, space_problems

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


@dataclass
class Point:
    """One grid point: its index in grid order, its values by dotted key, and its validated config."""

    index: int
    params: dict[str, Any]
    config: ExperimentConfig


@dataclass
class SweepSpec:
    """A sweep read from a config: the base experiment, the sweep block and every grid point."""

    source: Path
    base: ExperimentConfig
    block: SweepBlock
    points: list[Point]
    smoke: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    """The config mapping without its sweep: block (overrides applied): what a sampled point changes."""
    text: str = ""
    """The YAML text, for the lines of error messages."""

    @property
    def base_dir(self) -> Path:
        """Relative dataset paths are resolved against the config file's directory (as ``mlrun train`` does)."""
        return self.source.resolve().parent

    @property
    def is_search(self) -> bool:
        """True for a random or TPE search (points are sampled as it runs), False for a grid."""
        return self.block.search != "grid"

    def point(self, index: int) -> Point:
        """The point with this index (grid order, or the Optuna trial number that first sampled it)."""
        return next(p for p in self.points if p.index == index)

    def sampled_point(self, index: int, params: dict[str, Any]) -> tuple[Point | None, str | None]:
        """A sampled point's validated config, or None and why it is not a valid config (the same checks as a grid point's)."""
        try:
            points, problems = _build_points(
                self.raw, [params], self.block, path=self.source, text="", grid=(), smoke=self.smoke
            )
        except ConfigError as exc:  # a key that does not fit the config's structure
            return None, str(exc).removeprefix("error: ")
        if problems:
            return None, "\n".join(p.strip() for p in next(iter(problems)).splitlines())
        return Point(index, params, points[0].config), None


def read_sweep_config(
    path: Path | str,
    overrides: Sequence[str] = (),
    *,
    grid: Sequence[str] = (),
    folds: int | None = None,
    smoke: bool = False,
    search: str | None = None,
    n_trials: int | None = None,
    pruner: str | None = None,
) -> SweepSpec:
    """Read a sweep config and build and validate every grid point's config.

    Args:
        path: a YAML experiment config with a ``sweep:`` block.
        overrides: ``--set KEY=VALUE`` overrides of the base config.
        grid: ``--grid KEY=V1,V2`` options; each adds a key to the grid or replaces its values.
        folds: ``--folds K``: cross-validate with K folds (replaces ``sweep.cv.n_splits``).
        smoke: every point on a tiny subset for 1 epoch, with at most 2 folds (and at most
            :data:`SMOKE_TRIALS` configurations of a random or TPE search).
        search, n_trials, pruner: ``--search``, ``--n-trials``, ``--pruner``: replace ``sweep.search``, ...

    Raises:
        ConfigError: the base config, the sweep block or any grid point is invalid;
            the message names the point and every problem.
    """
    path = Path(path)
    raw, text = read_yaml(path)
    raw = apply_overrides(raw, overrides, source=path)
    block_raw = raw.pop("sweep", None)
    if block_raw is None and not grid:
        raise ConfigError(
            f"error: {path} has no sweep: block: add one, e.g.\n"
            "  sweep:\n    grid:\n      optimizer.learning_rate: [0.01, 0.001]\n"
            "or give the grid on the command line: --grid optimizer.learning_rate=0.01,0.001"
        )
    set_keys = [o.split("=", 1)[0].strip() for o in overrides]
    options = {k: v for k, v in (("search", search), ("n_trials", n_trials), ("pruner", pruner)) if v is not None}
    if options and isinstance(block_raw, Mapping):
        block_raw = {**block_raw, **options}
    sweep_keys = [k for k in set_keys if k.startswith("sweep.")] + [f"sweep.{k}" for k in options]
    block = _load_block(block_raw or {}, grid, folds, path, text, sweep_keys)
    base = validate_config(raw, source=path, text=text, overridden=set_keys)
    if smoke:
        base = smoke_config(base)
        if block.cv is not None and block.cv.n_splits > 2:
            block = evolve(block, cv=evolve(block.cv, n_splits=2))
        if block.n_trials is not None and block.n_trials > SMOKE_TRIALS:
            block = evolve(block, n_trials=SMOKE_TRIALS)
    if block.search != "grid":
        return SweepSpec(path, base, block, [], smoke, raw=raw, text=text)
    assert block.grid is not None, "SweepBlock requires a grid for search: grid"
    combos = expand_grid(block.grid)
    points, problems = _build_points(raw, combos, block, path=path, text=text, grid=grid, smoke=smoke)
    if problems:
        _refuse_points(problems, combos, path)
    _check_distinct(points, path)
    return SweepSpec(path, base, block, points, smoke)


def _build_points(
    raw: dict[str, Any],
    combos: list[dict[str, Any]],
    block: SweepBlock,
    *,
    path: Path,
    text: str,
    grid: Sequence[str],
    smoke: bool,
) -> tuple[list[Point], dict[str, list[int]]]:
    """Each grid point's validated config, and the problems of the others (their lines -> the points that have them)."""
    points: list[Point] = []
    problems: dict[str, list[int]] = {}
    for index, params in enumerate(combos):
        try:
            data = apply_point(raw, params)
        except ConfigError as exc:  # a grid key that does not fit the config's structure: the same for every point
            raise ConfigError(f"error: {path}: {str(exc).removeprefix('error: ')}") from None
        try:
            cfg = validate_config(data, source=path)
        except ConfigError as exc:
            from_options = {o.split("=", 1)[0].strip() for o in grid}
            swept = block.grid if block.grid is not None else block.space or {}
            body = [_grid_origin(line, swept, text, from_options, block.search) for line in str(exc).splitlines()[1:]]
            problems.setdefault("\n".join(body), []).append(index)
            continue
        if smoke:
            cfg = smoke_config(cfg)
        if block.cv is None and cfg.dataset.validation_split == 0:
            problems.setdefault(
                "  dataset.validation_split: is 0, but without sweep.cv each grid point is scored on the validation split: "
                "set it (e.g. 0.2), or cross-validate with sweep.cv (or --folds 5)",
                [],
            ).append(index)
            continue
        points.append(Point(index, params, cfg))
    return points, problems


def _refuse_points(problems: dict[str, list[int]], combos: list[dict[str, Any]], path: Path) -> None:
    """Raise the ConfigError that lists every problem once, with the first point that has it."""
    bad = sum(len(v) for v in problems.values())
    lines = []
    for problem, indices in problems.items():
        more = (
            f" and {len(indices) - 1} more point{'s' if len(indices) > 2 else ''} with the same problem"
            if len(indices) > 1
            else ""
        )
        lines.append(
            f"  point {indices[0]} ({describe_point(combos[indices[0]])}){more}:\n"
            + "\n".join("  " + line for line in problem.splitlines())
        )
    raise ConfigError(
        f"error: {path}: {bad} of {len(combos)} grid points are not valid experiment configs; nothing was trained\n"
        + "\n".join(lines)
    )


def _grid_origin(line: str, grid: Mapping[str, Any], text: str, from_options: set[str], search: str = "grid") -> str:
    """Point a grid point's problem at the grid key that caused it: ``  line N (sweep.grid.KEY)  KEY: ...``."""
    found = re.match(r"^  ([A-Za-z_][\w.]*): ", line)
    if not found:
        return line
    key = found.group(1)
    source = next((k for k in grid if key == k or key.startswith(k + ".") or k.startswith(key + ".")), None)
    if source is None:
        return line
    name = "grid" if search == "grid" else "space"
    number = yaml_line(text, ["sweep", name, source])
    where = f"line {number}" if number and source not in from_options else "--grid"
    return f"  {where} (sweep.{name}.{source})  {line.strip()}"


def _load_block(
    block_raw: Any, grid: Sequence[str], folds: int | None, path: Path, text: str, set_keys: Sequence[str]
) -> SweepBlock:
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
    where = _Where(text, set_keys, bool(grid) or folds is not None)
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
    set_keys: Sequence[str]
    from_options: bool

    def line(self, loc: Sequence[Any], msg: str) -> str:
        key = ".".join(map(str, loc))
        origin = next(
            (f"--set {k}" for k in self.set_keys if key == k or key.startswith(k + ".") or k.startswith(key + ".")),
            None,
        )
        if origin is None:
            number = yaml_line(self.text, loc)
            origin = f"line {number}" if number else ("--grid/--folds" if self.from_options else "")
        return f"  {origin + '  ' if origin else ''}{key}: {msg}"


def _check_distinct(points: list[Point], path: Path) -> None:
    """Two grid points that resolve to the same config would be the same trials: an error."""
    seen: dict[str, Point] = {}
    for p in points:
        key = p.config.model_dump_json()
        if key in seen:
            q = seen[key]
            raise ConfigError(
                f"error: {path}: grid points {q.index} ({describe_point(q.params)}) and {p.index} ({describe_point(p.params)}) "
                "give the same config; remove one of the values"
            )
        seen[key] = p
