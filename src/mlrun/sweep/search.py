"""Random and TPE search (``sweep.search``): Optuna proposes configurations, mlrun trains their folds.

Ask/tell: the sweep process asks the study (:mod:`mlrun.sweep.study`) for a
configuration, validates it as a grid point is validated (its config, its fit
to the data, its model built), then submits its folds one after another to the
executors; when the last fold finishes it tells the study the mean held-out
score. Several configurations run at once (``--workers``, ``--backend ray``).
A configuration that is not a valid config fails its Optuna trial with the
reason and the study goes on.

Folds are the grid's content-addressed trial directories: a fold whose key
(config, fold, data) already completed is read back, never trained again (a
configuration sampled twice, or one resumed after a kill -9).
"""

from __future__ import annotations

import contextlib
import statistics
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun import store
from mlrun.data import Dataset, load_dataset
from mlrun.errors import ConfigError
from mlrun.store import slugify
from mlrun.sweep.config import Point, SweepSpec
from mlrun.sweep.events import SweepProgress
from mlrun.sweep.files import TRIAL_FILE
from mlrun.sweep.plan import (
    ModelChecker,
    SweepPlan,
    Trial,
    block_identity,
    check_folds,
    identity_dict,
    load_point_data,
    model_check,
    model_problems,
    plan_folds,
    point_problems,
    resolve_block,
    sweep_hash,
    trial_key,
)
from mlrun.sweep.results import SweepTable
from mlrun.sweep.run import SweepRun
from mlrun.sweep.space import Dimension, decode, parse_space, sample
from mlrun.sweep.trials import is_done, prepare_dir, record_outcome, trial_info, trial_state, trial_task


def plan_search(spec: SweepSpec, runs_dir: Path) -> SweepPlan:
    """Check the base config against its data and name the search; its points and trials come as it runs.

    Raises:
        ConfigError: the base config does not fit the data, or the metric cannot be pruned on.
        DataError: the data cannot be loaded or split into the folds.
    """
    base = Point(-1, {}, spec.base)
    data = load_dataset(
        spec.base.dataset, seed=spec.base.seed, task=spec.base.task, loss=spec.base.loss, base_dir=spec.base_dir
    )
    block = resolve_block(spec.block, data.task)
    problems = point_problems(base, block, data)
    if problems:
        raise ConfigError(
            f"error: {spec.source}: the sweep does not fit the data; nothing was trained\n"
            + "\n".join(line.replace("point -1 ()", "the base config") for line in dict.fromkeys(problems))
        )
    if block.cv is not None:
        check_folds(block.cv, data, spec)
    fingerprint = data.fingerprint()
    identity = {"base": identity_dict(spec.base), "sweep": block_identity(block), "data": [fingerprint]}
    sweep_id = f"{slugify(spec.base.name)}-sweep-{sweep_hash(identity)[:8]}"
    return SweepPlan(spec, sweep_id, Path(runs_dir) / sweep_id, block, data.task, data.classes, {})


@dataclass
class _Configuration:
    """One Optuna trial being trained: its point, its fold trials in order, the held-out scores so far."""

    trial: Any  # optuna.trial.Trial
    point: Point
    folds: list[Trial]
    scores: list[float] = field(default_factory=list)

    @property
    def position(self) -> int:
        return len(self.scores)


class SearchRun(SweepRun):
    """One invocation of a random or TPE search: ask, validate, train the folds in order, tell; then refit."""

    def __init__(self, plan: SweepPlan, backend: Any, *, model_checker: ModelChecker | None, **options: Any) -> None:
        super().__init__(plan, backend, **options)
        self.checker = model_checker or model_problems
        self.space: dict[str, Dimension] = parse_space(plan.block.space or {})
        self.data_cache: dict[str, Dataset] = {}
        self.fingerprints: dict[str, str] = {}
        self.known = _known_points(plan.trials_dir)
        self.study: Any = None
        self.queue: deque[dict[str, Any]] = deque()
        self.running: dict[str, _Configuration] = {}
        self.waiting: dict[str, list[_Configuration]] = {}
        """Configurations whose next fold another configuration (the same config, sampled twice) is training."""
        self.asked = 0
        self.stop = False

    @property
    def n_trials(self) -> int:
        assert self.plan.block.n_trials is not None, "SweepBlock requires n_trials for a search"
        return self.plan.block.n_trials

    @property
    def epochs(self) -> int:
        return 1 if self.plan.spec.smoke else self.plan.spec.base.training.epochs

    def open_study(self) -> Any:
        """Create or reopen study.db; recover trials a killed sweep left running."""
        from mlrun.sweep.study import counted_trials, open_study, recover_interrupted

        if self.study is None:
            plan = self.plan
            self.study = open_study(
                plan.sweep_dir,
                plan.sweep_id,
                search=plan.block.search,
                pruner=plan.block.pruner,
                seed=plan.spec.base.seed,
                mode=plan.mode,
                max_resource=plan.n_folds * self.epochs,
                n_trials=self.n_trials,
            )
            recover_interrupted(self.study)
            self.asked = counted_trials(self.study)
        return self.study

    def run_trials(self, *, fail_fast: bool) -> bool:
        """Ask for configurations until ``n_trials`` have been tried; return True when stopped by ``fail_fast``."""
        self.open_study()
        todo = max(0, self.n_trials - self.asked)
        self.counts.update(total=todo * self.plan.n_folds, pending=todo * self.plan.n_folds, done=0)
        self.notify(SweepProgress("trials", todo * self.plan.n_folds, 0, 0, 0))
        if todo == 0:
            return False
        be = self.open()
        assert self.workers is not None, "open() sets it"
        with contextlib.closing(be.run(self.feed, workers=self.workers, threads=self.threads)) as finished:
            for task, outcome in finished:
                ok = self.finish_fold(task, outcome)
                self.write_info()
                progress = (self.counts["total"], self.ran, len(self.failures), self.skipped)
                self.notify(SweepProgress.after_trial(*progress, task, outcome))
                if not ok and fail_fast:
                    return True
        self.counts["pending"] = 0  # the rest of the pruned and failed configurations' folds never run
        return False

    def feed(self) -> dict[str, Any] | None:
        """The next fold to train: a running configuration's next fold, else a new configuration's first."""
        while not self.queue and not self.stop and self.asked < self.n_trials:
            self.start_configuration()
        return self.queue.popleft() if self.queue else None

    def start_configuration(self) -> None:
        """Ask the study for a configuration; validate it, then queue its first fold to train (or fail it)."""
        trial = self.study.ask()
        self.asked += 1
        params = sample(trial, self.space)
        point, problem = self.plan.spec.sampled_point(trial.number, params)
        if point is not None:
            data = load_point_data(self.plan.spec, [point], cache=self.data_cache)[point.index]
            problems = point_problems(point, self.plan.block, data) or self.checker([model_check(point, data)])
            problem = "\n".join(p.strip() for p in problems) or None
        if point is None or problem is not None:
            self.tell(trial, "failed", error=f"not a valid configuration: {problem}")
            return
        self.advance(self.configuration(trial, point, self.fingerprint(data)))

    def configuration(self, trial: Any, point: Point, fingerprint: str) -> _Configuration:
        """The configuration's fold trials, named by content: folds that exist keep their directory (and point)."""
        plan = self.plan
        folds = plan_folds(plan.block.cv)
        keys = [trial_key(point.config, fold, fingerprint) for fold in folds]
        index = next((self.known[k] for k in keys if k in self.known), trial.number)
        point = Point(index, point.params, point.config)
        if all(p.index != index for p in plan.spec.points):
            plan.spec.points.append(point)
        plan.fingerprints[index] = fingerprint
        trials = [Trial(index, fold, key) for fold, key in zip(folds, keys)]
        plan.trials += [t for t in trials if t not in plan.trials]
        self.known.update({t.key: index for t in trials})
        trial.set_user_attr("point", index)
        trial.set_user_attr("trials", [t.name for t in trials])
        return _Configuration(trial, point, trials)

    def advance(self, c: _Configuration) -> None:
        """Queue the configuration's next fold; folds already done are read back; tell the study when all are."""
        plan = self.plan
        while c.position < len(c.folds):
            t = c.folds[c.position]
            run_dir = plan.trial_dir(t)
            if t.name in self.running:  # the same fold of the same config: wait for it, then read it back
                self.waiting.setdefault(t.name, []).append(c)
                return
            if not is_done(run_dir):
                prepare_dir(run_dir, trial_info(plan, t))
                self.running[t.name] = c
                self.queue.append(self.fold_task(c, t))
                return
            c.scores.append(_score(run_dir, plan.metric))
            self.skipped += 1
            self.counts["done"] += 1
            self.counts["pending"] -= 1
            c.trial.report(statistics.fmean(c.scores), c.position * self.epochs)
            if plan.block.pruner != "none" and c.position < len(c.folds) and c.trial.should_prune():
                self.tell(c.trial, "pruned")
                return
        self.tell(c.trial, "completed", value=statistics.fmean(c.scores))

    def fold_task(self, c: _Configuration, t: Trial) -> dict[str, Any]:
        plan = self.plan
        from mlrun.sweep.study import storage_url

        prune = None
        if plan.block.pruner != "none":
            prune = {
                "storage": storage_url(plan.sweep_dir),
                "study": plan.sweep_id,
                "trial": c.trial.number,
                "pruner": plan.block.pruner,
                "max_resource": plan.n_folds * self.epochs,
                "metric": plan.metric,
                "fold": c.position,
                "epochs": self.epochs,
                "prior": list(c.scores),
            }
        return trial_task(
            plan,
            t.name,
            t.key,
            c.point.config,
            t.fold,
            plan.trial_dir(t),
            evaluate_on="validation",
            threads=self.threads,
            command=self.command,
            prune=prune,
        )

    def finish_fold(self, task: dict[str, Any], outcome: dict[str, Any]) -> bool:
        """Record a fold's outcome and move its configuration on; return False when the fold failed."""
        c = self.running.pop(task["name"])
        run_dir = Path(task["run_dir"])
        ok = record_outcome(run_dir, task, outcome)
        self.finish_configuration(c, task, outcome, ok=ok)
        for other in self.waiting.pop(task["name"], []):
            self.advance(other)  # read back if it completed, else trained again for this configuration
        return ok or trial_state(run_dir) == "pruned"

    def finish_configuration(
        self, c: _Configuration, task: dict[str, Any], outcome: dict[str, Any], *, ok: bool
    ) -> None:
        """Move a configuration on after one of its folds finished: its next fold, or tell the study."""
        run_dir = Path(task["run_dir"])
        self.ran += 1
        self.counts["pending"] -= 1
        state = trial_state(run_dir)
        if ok:
            self.counts["done"] += 1
            c.scores.append(_score(run_dir, self.plan.metric))
            self.advance(c)
        elif state == "pruned":
            self.counts["done"] += 1
            self.counts["pending"] -= len(c.folds) - c.position - 1  # its later folds never run
            self.tell(c.trial, "pruned")
        else:
            self.counts["failed"] += 1
            self.counts["pending"] -= len(c.folds) - c.position - 1
            self.failures.append((task["name"], outcome.get("error")))
            self.tell(c.trial, "failed", error=outcome.get("error"))

    def tell(self, trial: Any, state: str, *, value: float | None = None, error: str | None = None) -> None:
        from optuna.trial import TrialState

        if error is not None:
            trial.set_user_attr("error", error)
        states = {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
        self.study.tell(trial, value if state == "completed" else None, state=states[state])

    def write_info(self) -> None:
        """sweep.json, with the configurations tried so far (``n_points``, failed invalid ones included) and
        the ``n_trials`` asked for; after the search, ``configurations`` counts them by state."""
        self.info.update(n_points=self.asked, n_trials=self.n_trials)
        super().write_info()

    def aggregate(self) -> SweepTable:
        from mlrun.sweep.search_results import aggregate_search, search_summary

        trials = self.open_study().get_trials(deepcopy=False)
        for t in trials:
            self.restore(t)
        table = aggregate_search(self.plan, trials, self.space)
        self.info["configurations"] = search_summary(table)
        return table

    def restore(self, trial: Any) -> None:
        """Put the point and fold trials of a configuration trained by an earlier invocation into the plan."""
        index = trial.user_attrs.get("point")
        if index is None or any(p.index == index for p in self.plan.spec.points):
            return
        point, _ = self.plan.spec.sampled_point(index, decode(trial.params, self.space))
        if point is None:
            return
        data = load_point_data(self.plan.spec, [point], cache=self.data_cache)[point.index]
        fingerprint = self.fingerprint(data)
        self.plan.fingerprints[index] = fingerprint
        self.plan.spec.points.append(point)
        for fold in plan_folds(self.plan.block.cv):
            self.plan.trials.append(Trial(index, fold, trial_key(point.config, fold, fingerprint)))

    def fingerprint(self, data: Dataset) -> str:
        """The data's fingerprint, computed once per dataset."""
        key = str(id(data))
        if key not in self.fingerprints:
            self.fingerprints[key] = data.fingerprint()
        return self.fingerprints[key]


def _score(run_dir: Path, metric: str) -> float:
    """A finished fold's held-out score of the ranking metric."""
    return float(store.read_json(run_dir / store.METRICS_FILE)[metric.removeprefix("val_")])


def _known_points(trials_dir: Path) -> dict[str, int]:
    """The trial key -> point of every fold trial directory already in the sweep (from its trial.json)."""
    known: dict[str, int] = {}
    for info_file in sorted(trials_dir.glob(f"*/{TRIAL_FILE}")) if trials_dir.is_dir() else []:
        try:
            info = store.read_json(info_file)
        except (OSError, ValueError):
            continue
        if isinstance(info.get("key"), str) and isinstance(info.get("point"), int):
            known[info["key"]] = info["point"]
    return known
