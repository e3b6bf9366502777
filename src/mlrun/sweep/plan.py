"""Plan a sweep before anything trains: check every grid point against the data, name every trial.

A trial is one grid point trained on one fold (or once, on the validation
split). Its key is a hash of its resolved config, its fold and the dataset
fingerprint, so the same trial always lands in the same directory and a
changed config, fold or dataset never reuses (or overwrites) an earlier one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlrun.config import ExperimentConfig, check_task, config_to_dict, evolve, tracked_metrics
from mlrun.data import Dataset, Fold, fold_indices, load_dataset
from mlrun.errors import ConfigError, DataError
from mlrun.metrics.registry import direction, headline, scored_metrics
from mlrun.preflight import class_weight_problem, positive_label_problem
from mlrun.store import slugify
from mlrun.sweep.block import CVConfig, SweepBlock
from mlrun.sweep.config import Point, SweepSpec
from mlrun.sweep.files import TRIALS_DIR
from mlrun.sweep.grid import describe_point

#: The metrics results.csv tracks besides the ranking one (which comes first).
_TRACKED = {
    "classification": ("val_accuracy", "val_roc_auc", "val_loss"),
    "regression": ("val_r2", "val_mae", "val_loss"),
}


@dataclass(frozen=True)
class Trial:
    """One training run of a sweep: a grid point on one cross-validation fold, or on the validation split."""

    point: int
    fold: Fold | None
    key: str
    """Hash of the resolved config (without per-worker thread counts), the fold and the dataset fingerprint."""

    @property
    def name(self) -> str:
        """The trial's directory name: point, fold and key, e.g. ``p003-f1-3fa9c2d4e1b0`` (``p003-r2f1-...`` repeated)."""
        fold = f"-{self.fold.label}" if self.fold is not None else ""
        return f"p{self.point:03d}{fold}-{self.key}"


@dataclass
class SweepPlan:
    """A checked sweep: its id and directory, the resolved sweep block, and every trial in order."""

    spec: SweepSpec
    sweep_id: str
    sweep_dir: Path
    block: SweepBlock
    """The sweep block with metric, mode and cv.stratified resolved for the task."""
    task: str
    classes: list[str]
    fingerprints: dict[int, str]
    """Dataset fingerprint per grid point."""
    trials: list[Trial] = field(default_factory=list)

    @property
    def trials_dir(self) -> Path:
        return self.sweep_dir / TRIALS_DIR

    @property
    def metric(self) -> str:
        """The metric that ranks the grid points (resolved for the task)."""
        assert self.block.metric is not None, "plan_sweep resolves sweep.metric"
        return self.block.metric

    @property
    def mode(self) -> str:
        """``max`` or ``min``: the direction of :attr:`metric`."""
        assert self.block.mode is not None, "plan_sweep resolves sweep.mode"
        return self.block.mode

    @property
    def n_splits(self) -> int | None:
        return self.block.cv.n_splits if self.block.cv is not None else None

    @property
    def n_repeats(self) -> int | None:
        return self.block.cv.n_repeats if self.block.cv is not None else None

    @property
    def n_folds(self) -> int:
        """Trials per grid point: ``n_splits * n_repeats`` with cross-validation, else 1."""
        cv = self.block.cv
        return cv.n_splits * cv.n_repeats if cv is not None else 1

    @property
    def tracked(self) -> list[str]:
        """The metrics results.csv reports per grid point: the ranking metric first."""
        family = "regression" if self.task == "regression" else "classification"
        return list(dict.fromkeys([self.metric, *_TRACKED[family]]))

    def trial_dir(self, trial: Trial) -> Path:
        return self.trials_dir / trial.name

    def point_trials(self, point: int) -> list[Trial]:
        return [t for t in self.trials if t.point == point]


def plan_sweep(
    spec: SweepSpec, runs_dir: Path, *, check_models: bool = True, model_checker: ModelChecker | None = None
) -> SweepPlan:
    """Load the data once per distinct dataset block and check every grid point against it.

    Args:
        spec: the sweep, as read by :func:`mlrun.sweep.config.read_sweep_config`.
        runs_dir: the sweep's directory is created under it (not here).
        check_models: build every point's model (imports Keras) to catch layers
            that do not fit the data before anything trains.
        model_checker: where to build them (default: in this process).

    Raises:
        ConfigError: a grid point does not fit the data (task, metric, folds, layers).
        DataError: the data cannot be loaded or split into the folds.
    """
    point_data = load_point_data(spec)
    first = point_data[spec.points[0].index]
    block = resolve_block(spec.block, first.task)
    problems = _fit_problems(spec, block, point_data)
    if problems:
        raise ConfigError(
            f"error: {spec.source}: the sweep does not fit the data; nothing was trained\n"
            + "\n".join(dict.fromkeys(problems))
        )
    cv = block.cv
    if cv is not None:
        for data in {id(d): d for d in point_data.values()}.values():
            check_folds(cv, data, spec)
    if check_models:
        _check_models(spec, point_data, model_checker)

    fingerprints = {i: d.fingerprint() for i, d in point_data.items()}
    identity = {
        "base": identity_dict(spec.base),
        "sweep": block_identity(block),
        "data": sorted(set(fingerprints.values())),
    }
    sweep_id = f"{slugify(spec.base.name)}-sweep-{sweep_hash(identity)[:8]}"
    plan = SweepPlan(spec, sweep_id, Path(runs_dir) / sweep_id, block, first.task, first.classes, fingerprints)
    folds = plan_folds(cv)
    for p in spec.points:
        for fold in folds:
            plan.trials.append(Trial(p.index, fold, trial_key(p.config, fold, fingerprints[p.index])))
    return plan


def plan_folds(cv: CVConfig | None) -> list[Fold | None]:
    """Every fold of the cross-validation, repeat-major (as sklearn's RepeatedKFold), or ``[None]`` without it.

    >>> [f.label for f in plan_folds(CVConfig(n_splits=2, n_repeats=2))]
    ['r0f0', 'r0f1', 'r1f0', 'r1f1']
    """
    if cv is None:
        return [None]
    return [
        Fold(i, cv.n_splits, bool(cv.stratified), cv.shuffle, repeat=r, n_repeats=cv.n_repeats)
        for r in range(cv.n_repeats)
        for i in range(cv.n_splits)
    ]


def load_point_data(
    spec: SweepSpec, points: list[Point] | None = None, *, cache: dict[str, Dataset] | None = None
) -> dict[int, Dataset]:
    """Each point's data (default: every grid point), loaded once per distinct dataset block (and seed and task).

    ``cache`` keeps the datasets loaded so far across calls (a search loads its sampled points' data as they come).
    """
    datasets: dict[str, Dataset] = {} if cache is None else cache
    point_data: dict[int, Dataset] = {}
    for p in spec.points if points is None else points:
        ident = json.dumps(
            [p.config.dataset.model_dump(mode="json"), p.config.seed, p.config.task, p.config.loss], sort_keys=True
        )
        if ident not in datasets:
            datasets[ident] = load_dataset(
                p.config.dataset, seed=p.config.seed, task=p.config.task, loss=p.config.loss, base_dir=spec.base_dir
            )
        point_data[p.index] = datasets[ident]
    return point_data


def _fit_problems(spec: SweepSpec, block: SweepBlock, point_data: dict[int, Dataset]) -> list[str]:
    """A line per grid point whose config does not fit its data (task, class weights, positive label), or whose metric is not reported."""
    problems: list[str] = []
    for p in spec.points:
        problems += point_problems(p, block, point_data[p.index])
    return problems


def point_problems(p: Point, block: SweepBlock, data: Dataset) -> list[str]:
    """A line per way a point's config does not fit its data (task, class weights, positive label, metric)."""
    metric = block.metric
    assert metric is not None, "resolve_block resolves it"
    problems: list[str] = []
    try:
        check_task(p.config, data.task)
    except ValueError as exc:
        problems.append(f"  point {p.index} ({describe_point(p.params)}): {exc}")
    for problem in (class_weight_problem(p.config, data), positive_label_problem(p.config, data)):
        if problem:
            problems.append(f"  point {p.index} ({describe_point(p.params)}): {problem}")
    if metric.removeprefix("val_") not in scored_metrics(data.task):
        allowed = ", ".join(f"val_{m}" for m in scored_metrics(data.task))
        problems.append(
            f"  sweep.metric: {metric!r} is not reported for a {data.task} task ({data.source}); use one of {allowed}"
        )
    if block.pruner != "none" and metric.removeprefix("val_") not in ("loss", *tracked_metrics(p.config, data.task)):
        problems.append(
            f"  sweep.pruner: {block.pruner!r} reads {metric} after every epoch, but Keras logs only val_loss and "
            f"the config's metrics {tracked_metrics(p.config, data.task)}: add {metric.removeprefix('val_')} to metrics, or use pruner: none"
        )
    return problems


def block_identity(block: SweepBlock) -> dict[str, Any]:
    """The sweep block as it determines the sweep id: what trains, not how it is compared.

    ``rope`` only changes the comparison columns (recomputed on every run), and
    ``cv.n_repeats: 1`` is left out so sweeps planned before repeats existed keep their id;
    ``n_trials`` is left out so that a rerun with more trials continues the same study.
    """
    data = block.model_dump(mode="json", exclude={"rope"})
    if data.get("cv") and data["cv"].get("n_repeats") == 1:
        del data["cv"]["n_repeats"]
    if block.search == "grid":  # grid sweeps planned before random and TPE search existed keep their id
        for key in ("search", "space", "n_trials", "pruner"):
            data.pop(key, None)
    else:  # a larger n_trials extends the same study
        data.pop("n_trials", None)
        data.pop("grid", None)
    return data


def identity_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The config as it determines results: thread counts (chosen per worker) and tracking left out."""
    data = config_to_dict(cfg)
    data.pop("tracking", None)
    runtime = dict(data.get("runtime") or {})
    runtime.pop("intra_op_threads", None)
    runtime.pop("inter_op_threads", None)
    data["runtime"] = runtime
    return data


def trial_key(cfg: ExperimentConfig, fold: Fold | None, fingerprint: str, *, kind: str = "trial") -> str:
    """The hash naming a trial: its resolved config, fold and dataset fingerprint (12 hex digits)."""
    fold_data = fold.as_list() if fold is not None else None  # unchanged without repeats: old keys stay valid
    return sweep_hash({"kind": kind, "config": identity_dict(cfg), "fold": fold_data, "data": fingerprint})[:12]


def sweep_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def resolve_block(block: SweepBlock, task: str) -> SweepBlock:
    metric = block.metric or f"val_{headline(task)}"
    natural = direction(metric)
    if block.mode is not None and block.mode != natural:  # with an explicit metric the schema has said so already
        raise ConfigError(
            f"error: sweep.mode: {block.mode!r} would rank the worst {metric} (the default metric of a {task} task) first; "
            f"use mode: {natural!r}, or leave mode out"
        )
    mode = block.mode or natural
    update: dict[str, Any] = {"metric": metric, "mode": mode}
    if block.cv is not None:
        classify = task in ("binary", "multiclass")
        if block.cv.stratified and not classify:
            raise ConfigError(
                f"error: sweep.cv.stratified: true needs class labels, but this is a {task} task; "
                "use stratified: false (or leave it out)"
            )
        update["cv"] = evolve(block.cv, stratified=classify if block.cv.stratified is None else block.cv.stratified)
    return evolve(block, **update)


def check_folds(cv: CVConfig, data: Dataset, spec: SweepSpec) -> None:
    """Split the training set (its training, validation and calibration parts) into the folds now, so a bad split fails before training."""
    y = np.concatenate([part for part in (data.y_train, data.y_val, data.y_cal) if part is not None])
    try:
        fold_indices(
            y,
            cv.n_splits,
            stratified=bool(cv.stratified),
            shuffle=cv.shuffle,
            seed=spec.base.seed,
            n_repeats=cv.n_repeats,
        )
    except DataError as exc:
        raise DataError(f"{exc}\n  (sweep.cv.n_splits: {cv.n_splits}, dataset {data.source})") from None


ModelChecker = Callable[[list[dict[str, Any]]], list[str]]


def _check_models(spec: SweepSpec, point_data: dict[int, Dataset], checker: ModelChecker | None = None) -> None:
    """Build (not compile, not fit) every point's model; a layer that does not fit its input is a config error.

    ``checker`` runs :func:`model_problems` somewhere else (the local backend
    runs it in a process forked from its fork server, so this process never
    imports TensorFlow); by default it runs here.
    """
    checks = [model_check(p, point_data[p.index]) for p in spec.points]
    problems = (checker or model_problems)(checks)
    if problems:
        raise ConfigError(
            f"error: {spec.source}: {len(problems)} of {len(spec.points)} grid points build models that do not fit the data; "
            "nothing was trained\n" + "\n".join(problems)
        )


def model_check(p: Point, data: Dataset) -> dict[str, Any]:
    """What :func:`model_problems` needs to build one point's model, as plain data."""
    return {
        "point": p.index,
        "params": describe_point(p.params),
        "config": p.config.model_dump(mode="json"),
        "input_shape": list(data.input_shape),
        "task": data.task,
        "n_outputs": data.n_outputs,
    }


def model_problems(checks: list[dict[str, Any]]) -> list[str]:
    """Build the model of each check (plain data, see :func:`_check_models`); return a line per one that does not fit."""
    from mlrun.backend import keras_modules
    from mlrun.config import validate_config
    from mlrun.runtime_choice import choose_backend

    if not checks:
        return []
    km = keras_modules(choose_backend(validate_config(checks[0]["config"], source="the grid")).backend)
    problems = []
    try:
        for check in checks:
            cfg = evolve(validate_config(check["config"], source=f"point {check['point']}"), task=check["task"])
            try:
                km.model.build_model(cfg, tuple(check["input_shape"]), task=check["task"], n_outputs=check["n_outputs"])
            except ConfigError as exc:
                problems.append(f"  point {check['point']} ({check['params']}): {str(exc).removeprefix('error: ')}")
    finally:
        km.keras.backend.clear_session()
    return problems
