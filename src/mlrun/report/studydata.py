"""What a random or TPE search's Optuna study says, for people: the optimization history, parameter importances, slices.

Only a sweep whose sweep.json says ``search: random`` or ``tpe`` is read through
Optuna (imported inside the functions), so the report of a run or a grid sweep
never loads it. :func:`search_data` works on any Optuna study, the one in a
sweep's ``study.db`` or one built in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlrun.report.rundata import first_line
from mlrun.report.sweeps import SweepData
from mlrun.sweep.study import STUDY_FILE, resumed_numbers, storage_url

#: The seed of Optuna's fANOVA evaluator (its random forest): the same study always gets the same importances.
IMPORTANCE_SEED = 0
#: At least this many completed configurations for fANOVA (it fits a forest to their scores).
MIN_IMPORTANCE_TRIALS = 2
_STATES = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}


@dataclass(frozen=True)
class HistoryPoint:
    """One configuration (Optuna trial) in trial order, and the best score after it."""

    number: int
    state: str
    """completed, pruned, failed or running."""
    value: float | None
    """completed: its mean held-out score; pruned: the running value it was stopped at; else None."""
    best: float | None
    """The best completed score up to and including this trial."""


@dataclass(frozen=True)
class Slice:
    """One sampled parameter's values against the completed configurations' scores."""

    param: str
    values: list[Any]
    scores: list[float]
    log: bool = False
    categories: list[str] | None = None
    """A categorical choice: every choice's label, in the space's order; ``values`` are labels too."""


@dataclass
class SearchData:
    """A search's study, summarised: history, importances (or why there are none), slices."""

    search: str
    metric: str
    mode: str
    n_trials: int | None = None
    history: list[HistoryPoint] = field(default_factory=list)
    importances: dict[str, float] | None = None
    importance_note: str | None = None
    """Why ``importances`` is None: too few completed configurations, no parameter varies, ..."""
    slices: list[Slice] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for h in self.history if h.state == state)

    @property
    def best(self) -> HistoryPoint | None:
        """The best completed configuration (the first of equals)."""
        done = [(h.value, h) for h in self.history if h.state == "completed" and h.value is not None]
        if not done:
            return None
        pick = max if self.mode == "max" else min
        return pick(done, key=lambda pair: pair[0])[1]


def is_search(info: dict[str, Any]) -> bool:
    """Return True when a sweep.json describes a random or TPE search (its study is worth reading)."""
    block = info.get("sweep")
    return isinstance(block, dict) and block.get("search") in ("random", "tpe")


def read_search(sweep: SweepData) -> SearchData | None:
    """Read a random or TPE sweep's study.db through Optuna; None for a grid sweep (Optuna is not imported)."""
    if not is_search(sweep.info):
        return None
    block = sweep.info["sweep"]
    empty = SearchData(str(block["search"]), str(block.get("metric") or "score"), str(block.get("mode") or "max"))
    if not (sweep.path / STUDY_FILE).is_file():
        empty.problems.append(f"{STUDY_FILE}: not found; the search has not asked for a configuration yet")
        return empty
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(
            study_name=str(sweep.info.get("id") or sweep.path.name), storage=storage_url(sweep.path)
        )
    except (KeyError, SQLAlchemyError) as exc:  # no such study in the file, or not an SQLite file
        empty.problems.append(f"{STUDY_FILE}: could not be read ({first_line(exc)})")
        return empty
    n_trials = sweep.info.get("n_trials", block.get("n_trials"))
    return search_data(study, search=empty.search, metric=empty.metric, n_trials=n_trials)


def search_data(study: Any, *, search: str, metric: str, n_trials: int | None = None) -> SearchData:
    """Summarise an Optuna study: history in trial order, fANOVA importances, slices of the completed trials.

    Trials a killed sweep interrupted and a later one enqueued again (see :mod:`mlrun.sweep.study`) are left
    out: the configuration's later trial stands for it, as in results.csv.
    """
    from optuna.study import StudyDirection

    mode = "max" if study.direction == StudyDirection.MAXIMIZE else "min"
    trials = study.get_trials(deepcopy=False)
    resumed = resumed_numbers(trials)
    trials = [t for t in trials if t.number not in resumed and t.state.name != "WAITING"]
    data = SearchData(search, metric, mode, n_trials, history=optimization_history(trials, mode))
    data.importances, data.importance_note = param_importances(study, trials)
    data.slices = slices(trials)
    return data


def optimization_history(trials: list[Any], mode: str) -> list[HistoryPoint]:
    """Each trial's state and value, and the best completed value so far, in trial order."""
    better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
    best: float | None = None
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        state = _STATES.get(t.state.name, t.state.name.lower())
        value = _finite(t.value) if state == "completed" else None
        if state == "pruned" and t.intermediate_values:
            value = _finite(t.intermediate_values[max(t.intermediate_values)])
        if state == "completed" and value is not None and (best is None or better(value, best)):
            best = value
        out.append(HistoryPoint(t.number, state, value, best))
    return out


def param_importances(study: Any, trials: list[Any]) -> tuple[dict[str, float] | None, str | None]:
    """fANOVA importances of the sampled parameters (summing to 1), or None and why they cannot be computed."""
    done = [t for t in trials if t.state.name == "COMPLETE" and _finite(t.value) is not None]
    if len(done) < MIN_IMPORTANCE_TRIALS:
        return None, (
            f"parameter importances need at least {MIN_IMPORTANCE_TRIALS} completed configurations "
            f"(this search has {len(done)})"
        )
    params = sorted(set.intersection(*(set(t.params) for t in done)))
    if not any(len({repr(t.params[p]) for t in done}) > 1 for p in params):
        return (
            None,
            "parameter importances need a parameter that varies: every completed configuration has the same values",
        )
    if len({t.value for t in done}) < 2:
        return (
            None,
            f"parameter importances need different scores: every completed configuration scored {done[0].value:g}",
        )
    import optuna

    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator, params=params)
    return {k: float(v) for k, v in found.items()}, None


def slices(trials: list[Any]) -> list[Slice]:
    """Each sampled parameter's values against the completed configurations' scores, by parameter name."""
    from optuna.distributions import CategoricalDistribution

    done = [t for t in trials if t.state.name == "COMPLETE" and _finite(t.value) is not None]
    out = []
    for param in sorted({p for t in done for p in t.params}):
        having = [t for t in done if param in t.params]
        dist = having[0].distributions[param]
        if isinstance(dist, CategoricalDistribution):
            labels = [str(c) for c in dist.choices]
            out.append(
                Slice(param, [str(t.params[param]) for t in having], [t.value for t in having], categories=labels)
            )
        else:
            values = [t.params[param] for t in having]
            out.append(Slice(param, values, [t.value for t in having], log=bool(getattr(dist, "log", False))))
    return out


def milestones(history: list[HistoryPoint]) -> list[tuple[int, float]]:
    """The best score after 1, 2, 4, 8, ... configurations and after the last: how the search improved."""
    counts = [n for n in (2**i for i in range(32)) if n < len(history)] + [len(history)] if history else []
    return [(n, best) for n in counts if (best := history[n - 1].best) is not None]


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
