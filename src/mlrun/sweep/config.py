"""Reading a sweep: the base config and every grid point, validated.

Everything here is static: a grid point's config is built and validated
before any data is loaded or model trained (:mod:`mlrun.sweep.plan` checks the
points against the data). The ``sweep:`` block itself is :mod:`mlrun.sweep.block`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun.config import ExperimentConfig, apply_overrides, evolve, read_yaml, smoke_config, validate_config
from mlrun.config.loading import yaml_line
from mlrun.errors import ConfigError
from mlrun.sweep.block import OPTIONS, SMOKE_TRIALS, SweepBlock, load_block
from mlrun.sweep.grid import apply_point, describe_point, expand_grid


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
    origins = {k: f"--set {k}" for k in set_keys if k.startswith("sweep.")}
    origins.update({f"sweep.{k}": OPTIONS[k] for k in options})
    block = load_block(block_raw or {}, grid, folds, path, text, origins)
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
