"""Changing a validated config: every change is validated again, as if it had been loaded.

pydantic's ``model_copy(update=...)`` skips validation, so a changed config could hold a value the schema
forbids; :func:`evolve` is the one way mlrun changes a config after loading it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from mlrun.config.experiment import ExperimentConfig

M = TypeVar("M", bound=BaseModel)

#: ``--smoke`` trains on at most this many samples, for one epoch.
SMOKE_LIMIT = 200


def _as_data(value: Any) -> Any:
    return value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value


def evolve(model: M, **changes: Any) -> M:
    """Return a copy of ``model`` with ``changes`` applied to its fields, validated by its schema.

    What was left out of the original stays left out (defaults that depend on other fields still
    apply), and a nested config given as a model is validated like a mapping.

    Raises:
        pydantic.ValidationError: a change breaks the schema.
    """
    data = model.model_dump(exclude_unset=True)
    data.update({key: _as_data(value) for key, value in changes.items()})
    return type(model).model_validate(data)


def smoke_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """The same pipeline on a tiny subset for 1 epoch: for checking that a config runs end to end."""
    limit = min(cfg.dataset.limit or SMOKE_LIMIT, SMOKE_LIMIT)
    return evolve(cfg, dataset=evolve(cfg.dataset, limit=limit), training=evolve(cfg.training, epochs=1))
