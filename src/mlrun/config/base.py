"""What every config block shares: the strict base model and the value vocabularies (activations, losses, ...)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Task = Literal["binary", "multiclass", "multilabel", "regression"]
Activation = Literal[
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "softplus",
    "softsign",
    "swish",
    "hard_sigmoid",
    "softmax",
]
Initializer = Literal[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "orthogonal",
    "zeros",
    "ones",
]
Loss = Literal[
    "mse",
    "mae",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "gaussian_nll",
    "gaussian_beta_nll",
]
#: The per-epoch metrics ``metrics:`` accepts; the same names as ``mlrun.metrics.registry.EPOCH_METRIC_NAMES``
#: (a test checks it), in the order error messages list them.
Metric = Literal["accuracy", "auc", "precision", "recall", "mse", "mae", "rmse"]
Padding = Literal["same", "valid"]
IntOrPair = Annotated[int, Field(ge=1)] | list[Annotated[int, Field(ge=1)]]


class Strict(BaseModel):
    """Base of every config block: unknown keys are errors, values are re-validated on assignment.

    No float field takes NaN or infinity (``.nan``, ``.inf`` in YAML): every number in a config is a finite amount.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
