"""``mlrun validate SWEEP_CONFIG``: check a sweep the way ``mlrun sweep`` would, and say what it would train.

Nothing trains and nothing is written: the grid goes through the sweep's own
planning (:func:`mlrun.sweep.plan.plan_sweep`: every point against its data,
every model built), which names the trials without creating the sweep directory.

A random or TPE search samples its points as it runs, so there is no grid to
check. Its space's definition is checked when the config is read; then
:data:`SAMPLED` configurations are drawn from it (Optuna's ``RandomSampler``
seeded by the config's ``seed``) and each is checked as the search would
check it: its config, its fit to the data, its model built. One that does not
fit is an error here (exit 2), although a search would only fail that trial
and go on: a space that can yield invalid configurations wastes trials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlrun.errors import ConfigError
from mlrun.sweep.config import Point, SweepSpec
from mlrun.sweep.grid import describe_point

#: Configurations a dry run of a random or TPE search draws from its space and checks.
SAMPLED = 5


@dataclass
class SweepCheck:
    """What a sweep would train: points x folds x repeats, the epochs, and the points checked."""

    source: Path
    search: str
    points: int
    """Grid points, or the configurations a random or TPE search tries (``n_trials``)."""
    n_splits: int
    """Folds per repeat (1 without cross-validation: each point trains once, on the validation split)."""
    n_repeats: int
    epochs: int
    """Epochs of every training together, each at its config's ``training.epochs``."""
    early_stopping: bool
    refit: bool
    refit_epochs: int
    checked: list[Point] = field(default_factory=list)
    """The points checked: every grid point, or a random or TPE search's sampled configurations."""
    sweep_dir: Path | None = None
    """Where the sweep would write (None with --schema-only: the sweep id needs the data's fingerprint)."""
    done: int = 0
    """Trials already finished there by an earlier run of the same sweep."""
    schema_only: bool = False

    @property
    def trainings(self) -> int:
        return self.points * self.n_splits * self.n_repeats

    def lines(self) -> list[str]:
        """The plan, for people: what was checked, the size of the sweep and where it would write."""
        if self.search == "grid":
            checks = "config" if self.schema_only else "config, data, model"
            what = f"grid search, {self.points} points, each checked ({checks})"
            trainings = f"{self.trainings} trainings"
            at_most = "at most " if self.early_stopping else ""
            why = " (early stopping may end trainings sooner)" if self.early_stopping else ""
        else:
            what = f"{self.search} search of {self.points} configurations, {len(self.checked)} sampled and checked"
            trainings, at_most = f"at most {self.trainings} trainings", "at most "
            why = " (fewer when configurations fail, are pruned or stop early)"
        lines = [f"{self.source}: valid sweep: {what}"]
        lines += [f"  point {p.index}: {describe_point(p.params)}" for p in self.checked]
        lines.append(
            f"plan: {_n(self.points, 'point')} x {_n(self.n_splits, 'fold')} x {_n(self.n_repeats, 'repeat')} = {trainings}, "
            f"{at_most}{self.epochs} epochs{why}"
        )
        if self.refit:
            lines.append(f"then the refit of the best point: 1 training, at most {self.refit_epochs} epochs")
        if self.sweep_dir is not None:
            done = f"; {self.done} of its trials already done" if self.done else ""
            lines.append(f"sweep directory: {self.sweep_dir} (not created){done}; nothing was trained")
        return lines


def check_sweep(spec: SweepSpec, runs_dir: Path, *, schema_only: bool = False) -> SweepCheck:
    """Check a sweep as ``mlrun sweep`` would before training, without training or writing anything.

    Args:
        spec: the sweep, from :func:`mlrun.sweep.read_sweep_config` (every grid point's config validated).
        runs_dir: where the sweep would write; only read, to count trials already done.
        schema_only: stop after the configs (no data, no model, no TensorFlow).

    Raises:
        ConfigError: a point does not fit its data, its model does not build, or a sampled configuration is invalid.
        DataError: the data cannot be loaded or split into the folds.
    """
    checked = spec.points if not spec.is_search else _sampled_points(spec)
    if schema_only:
        result = _summary(spec, checked)
        result.schema_only = True
        return result
    if spec.is_search:
        return _check_search(spec, runs_dir, checked)
    from mlrun.sweep.plan import plan_sweep
    from mlrun.sweep.trials import is_done

    plan = plan_sweep(spec, runs_dir)  # checks every point against its data and builds every model; writes nothing
    result = _summary(spec, checked, sweep_dir=plan.sweep_dir)
    result.done = sum(is_done(plan.trial_dir(t)) for t in plan.trials)
    return result


def _check_search(spec: SweepSpec, runs_dir: Path, checked: list[Point]) -> SweepCheck:
    """The base config against its data (as the search plans it), then each sampled point and its model."""
    from mlrun.sweep.plan import load_point_data, model_check, model_problems, point_problems
    from mlrun.sweep.search import plan_search

    plan = plan_search(spec, runs_dir)
    data = load_point_data(spec, checked)
    problems = [line for p in checked for line in point_problems(p, plan.block, data[p.index])]
    problems += model_problems([model_check(p, data[p.index]) for p in checked])
    if problems:
        raise ConfigError(
            f"error: {spec.source}: {spec.block.search} search: configurations sampled from sweep.space do not fit "
            "the data (the search would fail them and go on); narrow the space\n" + "\n".join(dict.fromkeys(problems))
        )
    return _summary(spec, checked, sweep_dir=plan.sweep_dir)


def _sampled_points(spec: SweepSpec) -> list[Point]:
    """:data:`SAMPLED` configurations drawn from the space (seeded by the config's seed), each config validated."""
    import optuna

    from mlrun.sweep.space import parse_space, sample

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = parse_space(spec.block.space or {})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=spec.base.seed))  # in memory
    points, problems = [], []
    for number in range(min(SAMPLED, spec.block.n_trials or SAMPLED)):
        params = sample(study.ask(), space)
        point, problem = spec.sampled_point(number, params)
        if point is None:
            problems.append(f"  point {number} ({describe_point(params)}): {problem}")
        else:
            points.append(point)
    if problems:
        raise ConfigError(
            f"error: {spec.source}: {spec.block.search} search: configurations sampled from sweep.space are not "
            "valid configs (the search would fail them and go on); narrow the space\n" + "\n".join(problems)
        )
    return points


def _summary(spec: SweepSpec, checked: list[Point], *, sweep_dir: Path | None = None) -> SweepCheck:
    """Count the trainings and epochs: each grid point at its own epochs; a search's points at the most its space allows."""
    cv = spec.block.cv
    n_splits, n_repeats = (cv.n_splits, cv.n_repeats) if cv is not None else (1, 1)
    if spec.is_search:
        n_points = spec.block.n_trials or 0
        per_point = [_most_epochs(spec)] * n_points
        stops_early = [
            spec.base.training.early_stopping is not None,
            *(p.config.training.early_stopping is not None for p in checked),
        ]
    else:
        n_points = len(spec.points)
        per_point = [p.config.training.epochs for p in spec.points]
        stops_early = [p.config.training.early_stopping is not None for p in spec.points]
    return SweepCheck(
        source=spec.source,
        search=spec.block.search,
        points=n_points,
        n_splits=n_splits,
        n_repeats=n_repeats,
        epochs=sum(per_point) * n_splits * n_repeats,
        early_stopping=any(stops_early),
        refit=spec.block.refit,
        refit_epochs=max(per_point, default=spec.base.training.epochs),
        checked=list(checked),
        sweep_dir=sweep_dir,
    )


def _most_epochs(spec: SweepSpec) -> int:
    """The most epochs a sampled configuration can train: the base config's, or the largest the space offers."""
    from mlrun.sweep.space import Choice, parse_space

    dim = parse_space(spec.block.space or {}).get("training.epochs")
    if dim is None:
        return spec.base.training.epochs
    values = dim.values if isinstance(dim, Choice) else (dim.high,)
    return int(max(v for v in values if isinstance(v, (int, float))))


def is_sweep_config(path: Path, overrides: list[str]) -> bool:
    """True when the config (with its overrides) has a ``sweep:`` block; False too when it cannot be read
    (loading it again then says why)."""
    from mlrun.config.loading import apply_overrides, read_yaml

    try:
        raw, _ = read_yaml(path)
        return "sweep" in apply_overrides(raw, overrides, source=path)
    except ConfigError:
        return False


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
