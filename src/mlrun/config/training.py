"""The ``training`` block: how the model is fitted, and early stopping."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from mlrun.config.base import Strict


class EarlyStoppingConfig(Strict):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    monitor: str = "val_loss"
    patience: int = Field(default=5, ge=0)
    min_delta: float = Field(default=0.0, ge=0.0)
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = True


class TrainingConfig(Strict):
    """How the model is fitted."""

    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=1)
    shuffle: bool = True
    """Shuffle the training samples before each epoch."""
    ensemble: int = Field(default=1, ge=1, le=100)
    """Deep ensemble: train this many members with seeds ``seed, seed+1, ...`` (one after the
    other, in this process) on the same data; predictions are the members' mean and
    ``predictions.csv`` gets their spread (``std_<class>``, regression ``y_std``). Member 0 is
    the run's ``model.keras`` and ``history.csv``; every member is in ``members/<i>/``. 1: one model."""
    early_stopping: EarlyStoppingConfig | None = None
    class_weight: Literal["balanced"] | dict[str, Annotated[float, Field(gt=0.0)]] | None = None
    """Weight the loss per class: ``balanced`` (inverse class frequency) or
    {label: weight}; classification only."""

    @field_validator("class_weight", mode="before")
    @classmethod
    def _check_class_weight(cls, value: Any) -> Any:
        # Labels are matched as text: YAML reads `{0: 1.0, 1: 5.0}` with integer keys.
        if value is None or value == "balanced":
            return value
        if not isinstance(value, dict) or not value:
            raise ValueError(
                f"must be 'balanced' or a mapping {{label: weight}}, e.g. {{0: 1.0, 1: 5.0}} (got {value!r})"
            )
        out = {}
        for label, weight in value.items():
            name = str(int(label)) if isinstance(label, float) and label.is_integer() else str(label)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
                raise ValueError(f"the weight of label {name!r} must be a number greater than 0 (got {weight!r})")
            out[name] = weight
        return out
