"""The Optuna study of a random or TPE search: ``study.db`` (SQLite, Optuna's RDB storage) in the sweep directory.

The sweep process creates or reopens the study (:func:`open_study`) and asks it
for configurations; each worker that trains a fold of a pruned search opens the
same study by name from the SQLite URL and reports the running value of the
metric after every epoch (:func:`pruning_hook`).

Intermediate values: fold ``f`` (0-based, in the configuration's fold order),
epoch ``e`` (1-based) is reported at step ``f * epochs + e``, as the mean of
the held-out scores of the folds already finished and this epoch's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun.errors import MlrunError

if TYPE_CHECKING:
    from mlrun.training import StopHook

#: The study's file in the sweep directory.
STUDY_FILE = "study.db"
#: A trial left RUNNING by a killed sweep is marked FAIL, and its configuration enqueued again with this
#: user attribute: the number of the trial it resumes.
RESUMES = "resumes"


def storage_url(sweep_dir: Path) -> str:
    """The SQLite URL of a sweep's study (absolute, so that workers anywhere on this machine open the same file)."""
    return f"sqlite:///{(Path(sweep_dir) / STUDY_FILE).resolve()}"


def startup_trials(n_trials: int) -> int:
    """How many random configurations TPE draws before it models the results: a third of the budget, 2 to 10.

    Optuna's default is 10, which makes TPE plain random search for the small budgets a sweep of
    cross-validated trainings can afford (``n_trials: 8`` would never reach its model).

    >>> startup_trials(8), startup_trials(40), startup_trials(3)
    (2, 10, 2)
    """
    return max(2, min(10, n_trials // 3))


def make_sampler(search: str, seed: int, n_trials: int) -> Any:
    """Optuna's RandomSampler or TPESampler, seeded by the config's seed.

    TPE uses the constant liar, so configurations asked while others still run are spread out, and
    :func:`startup_trials` random configurations before its model.
    """
    import optuna

    if search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=startup_trials(n_trials))


def make_pruner(name: str, max_resource: int) -> Any:
    """Optuna's pruner for ``sweep.pruner``; ``max_resource`` is the steps of a full configuration (folds x epochs)."""
    import optuna

    pruners = {
        "none": optuna.pruners.NopPruner,
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_resource, 1)),
    }
    return pruners[name]()


def open_study(
    sweep_dir: Path, name: str, *, search: str, pruner: str, seed: int, mode: str, max_resource: int, n_trials: int
) -> Any:
    """Create the study in ``sweep_dir/study.db``, or open it to continue.

    The sampler is seeded by ``seed`` plus the number of trials the study already has: a fresh study
    is reproducible, and a continued one draws new values instead of replaying the first run's.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(storage_url(sweep_dir))
    try:
        done = len(optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False))
    except KeyError:
        done = 0
    return optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=make_sampler(search, seed + done, n_trials),
        pruner=make_pruner(pruner, max_resource),
        direction="maximize" if mode == "max" else "minimize",
        load_if_exists=True,
    )


def recover_interrupted(study: Any) -> list[int]:
    """Mark the trials a killed sweep left RUNNING as FAIL (``interrupted``) and enqueue their configurations again.

    The enqueued configuration keeps its trial keys, so its folds that finished are read back, not retrained.
    Returns the numbers of the interrupted trials.
    """
    from optuna.trial import TrialState

    interrupted = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        # Its params as far as they were sampled: a kill between ask() and the last suggest leaves some (or none)
        # out, and the enqueued trial samples those afresh. It replaces the interrupted one in the count and table.
        study.enqueue_trial(trial.params, user_attrs={RESUMES: trial.number})
        interrupted.append(trial.number)
    return interrupted


def resumed_numbers(trials: list[Any]) -> set[int]:
    """The numbers of the trials a killed sweep interrupted and a later one enqueued again."""
    return {int(t.user_attrs[RESUMES]) for t in trials if RESUMES in t.user_attrs}


def counted_trials(study: Any) -> int:
    """The trials that count towards ``n_trials``: every one asked, except those interrupted (enqueued again)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    resumed = resumed_numbers(trials)
    return sum(1 for t in trials if t.state != TrialState.WAITING and t.number not in resumed)


def pruning_hook(spec: Mapping[str, Any]) -> StopHook:
    """In a worker: the ``should_stop`` hook of one fold of a configuration (see the module's docstring).

    ``spec`` is the task's ``prune`` entry: ``storage``, ``study``, ``trial`` (the Optuna trial's number),
    ``pruner``, ``max_resource``, ``metric``, ``fold`` (position in the configuration's folds), ``epochs``,
    ``prior`` (held-out scores of the folds already finished).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(spec["storage"])
    study = optuna.load_study(
        study_name=spec["study"], storage=storage, pruner=make_pruner(spec["pruner"], spec["max_resource"])
    )
    # the storage's public lookups: trial number -> the id a Trial is opened by
    study_id = storage.get_study_id_from_name(spec["study"])
    trial = optuna.trial.Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id, spec["trial"]))
    metric, prior = spec["metric"], list(spec["prior"])
    offset = spec["fold"] * spec["epochs"]

    def should_stop(epoch: int, logs: Mapping[str, float]) -> bool:
        value = logs.get(metric)
        if value is None:
            raise MlrunError(
                f"error: sweep.pruner needs {metric} after every epoch, but Keras logged only {sorted(logs)}; "
                f"add {metric.removeprefix('val_')} to the config's metrics, or use pruner: none"
            )
        trial.report((sum(prior) + value) / (len(prior) + 1), offset + epoch)
        return bool(trial.should_prune())

    return should_stop
