"""The ``optimizer`` block: Keras' optimizers (a discriminated union on ``name``) and learning-rate schedules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlrun.config.base import Strict


class ExponentialDecay(Strict):
    """lr * decay_rate ** (step / decay_steps)."""

    type: Literal["exponential_decay"]
    decay_steps: int = Field(ge=1)
    decay_rate: float = Field(gt=0.0, le=1.0)
    staircase: bool = False


class CosineDecay(Strict):
    """Cosine decay from learning_rate to alpha * learning_rate over decay_steps."""

    type: Literal["cosine_decay"]
    decay_steps: int = Field(ge=1)
    alpha: float = Field(default=0.0, ge=0.0, le=1.0)


class ReduceOnPlateau(Strict):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving."""

    type: Literal["reduce_on_plateau"]
    monitor: str = "val_loss"
    factor: float = Field(default=0.1, gt=0.0, lt=1.0)
    patience: int = Field(default=5, ge=0)
    min_delta: float = Field(default=1e-4, ge=0.0)
    min_lr: float = Field(default=0.0, ge=0.0)


Schedule = Annotated[ExponentialDecay | CosineDecay | ReduceOnPlateau, Field(discriminator="type")]


class _OptimizerBase(Strict):
    learning_rate: float = Field(default=0.001, gt=0.0)
    """Step size of gradient descent."""
    schedule: Schedule | None = None
    """How the learning rate changes while training."""
    clipnorm: float | None = Field(default=None, gt=0.0)
    """Clip each gradient to this norm."""


class SGDConfig(_OptimizerBase):
    """Stochastic gradient descent, with optional (Nesterov) momentum."""

    name: Literal["sgd"]
    learning_rate: float = Field(default=0.01, gt=0.0)
    momentum: float = Field(default=0.0, ge=0.0, lt=1.0)
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> SGDConfig:
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: true needs momentum > 0 (e.g. momentum: 0.9)")
        return self


class AdagradConfig(_OptimizerBase):
    name: Literal["adagrad"]
    initial_accumulator_value: float = Field(default=0.1, ge=0.0)
    epsilon: float = Field(default=1e-7, gt=0.0)


class AdadeltaConfig(_OptimizerBase):
    name: Literal["adadelta"]
    rho: float = Field(default=0.95, gt=0.0, lt=1.0)
    epsilon: float = Field(default=1e-7, gt=0.0)


class RMSpropConfig(_OptimizerBase):
    name: Literal["rmsprop"]
    rho: float = Field(default=0.9, gt=0.0, lt=1.0)
    momentum: float = Field(default=0.0, ge=0.0, lt=1.0)
    epsilon: float = Field(default=1e-7, gt=0.0)
    centered: bool = False


class _AdamFamily(_OptimizerBase):
    beta_1: float = Field(default=0.9, gt=0.0, lt=1.0)
    beta_2: float = Field(default=0.999, gt=0.0, lt=1.0)
    epsilon: float = Field(default=1e-7, gt=0.0)


class AdamConfig(_AdamFamily):
    name: Literal["adam"]
    amsgrad: bool = False


class AdamWConfig(_AdamFamily):
    name: Literal["adamw"]
    weight_decay: float = Field(default=0.004, ge=0.0)
    amsgrad: bool = False


class AdamaxConfig(_AdamFamily):
    name: Literal["adamax"]


class NadamConfig(_AdamFamily):
    name: Literal["nadam"]


OptimizerConfig = Annotated[
    SGDConfig | AdagradConfig | AdadeltaConfig | RMSpropConfig | AdamConfig | AdamWConfig | AdamaxConfig | NadamConfig,
    Field(discriminator="name"),
]
