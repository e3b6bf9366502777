"""Check a config against the data it loaded, before any model is built. No Keras here.

Shared by :func:`mlrun.runner.prepare` (one run) and :func:`mlrun.sweep.plan.plan_sweep`
(every grid point, in a process that must stay free of TensorFlow).
"""

from __future__ import annotations

from collections.abc import Mapping

from mlrun.config import ExperimentConfig, check_task
from mlrun.data import Dataset
from mlrun.errors import ConfigError


def check_fits_data(cfg: ExperimentConfig, data: Dataset) -> None:
    """Refuse a config whose loss, output or class weights do not fit the loaded data's task and labels.

    Raises:
        ConfigError: naming the key and what to change.
    """
    try:
        check_task(cfg, data.task)
    except ValueError as exc:
        raise ConfigError(
            f"error: the config does not fit the data ({data.source}, a {data.task} task)\n  {exc}"
        ) from None
    if cfg.training.class_weight not in (None, "balanced") and data.task == "multilabel":
        raise ConfigError("error: training.class_weight: not supported for multilabel tasks; remove it")
    for problem in (class_weight_problem(cfg, data), positive_label_problem(cfg, data)):
        if problem:
            raise ConfigError(f"error: {problem}")


def positive_label_problem(cfg: ExperimentConfig, data: Dataset) -> str | None:
    """Say what is wrong when ``dataset.positive_label`` names no class of a binary task's data (None when nothing is).

    (A positive label for another task is refused by :func:`mlrun.config.check_task`.)
    """
    label = cfg.dataset.positive_label
    if label is None or data.task != "binary" or label in data.classes:
        return None
    return (
        f"dataset.positive_label: {label!r} is not a class of {data.source}; "
        f"its classes are {_shown(data.classes)}: name one of them"
    )


def class_weight_problem(cfg: ExperimentConfig, data: Dataset) -> str | None:
    """Say what is wrong when ``training.class_weight`` names labels the data does not have (None when nothing is)."""
    cw = cfg.training.class_weight
    if not isinstance(cw, Mapping) or data.task not in ("binary", "multiclass"):
        return None
    unknown = [label for label in cw if label not in data.classes]
    if not unknown:
        return None
    return (
        f"training.class_weight: unknown label{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
        f"the labels of {data.source} are {_shown(data.classes)}: give weights for those (a label left out keeps weight 1)"
    )


def _shown(classes: list[str]) -> str:
    """The first 20 class names, quoted."""
    return ", ".join(repr(c) for c in classes[:20]) + (f", ... ({len(classes)} in all)" if len(classes) > 20 else "")
