"""The ``runtime`` block: how a run executes (backend, threads, precision, input pipeline), not what it computes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from mlrun.config.base import Strict


class RuntimeConfig(Strict):
    """How a run executes (not what it computes): backend, devices, precision, input pipeline."""

    backend: Literal["auto", "tensorflow", "jax"] = "auto"
    """Keras backend: ``auto`` (the fastest measured for this model on this machine: on a CPU, jax
    for networks without convolutions and tensorflow for CNNs; tensorflow on a GPU), ``tensorflow``
    or ``jax``. run.json records the backend that ran and why."""
    deterministic: bool = False
    """Same config and seed, same results (slower): TensorFlow op determinism, or XLA's
    deterministic GPU ops on jax (JAX on a CPU is deterministic anyway)."""
    intra_op_threads: int | None = Field(default=None, ge=1)
    """Threads one operation may use (default: all cores; on jax, 1 makes XLA single-threaded
    and other values use all cores)."""
    inter_op_threads: int | None = Field(default=None, ge=1)
    """Operations run at once (TensorFlow only; jax ignores it; default: chosen by TensorFlow)."""
    steps_per_execution: Literal["auto"] | Annotated[StrictInt, Field(ge=1)] = "auto"
    """Training steps run per call into the compiled step: ``auto`` (32) or a number; more steps
    per call cut Python overhead for small models and compute exactly the same thing."""
    jit_compile: Literal["auto"] | StrictBool = "auto"
    """Compile the training step with XLA: ``auto`` (Keras' choice: on for jax and on
    TensorFlow with a GPU), ``true`` or ``false``."""
    mixed_precision: bool = False
    """Compute in float16 with float32 weights and output layer (``mixed_float16``),
    with loss scaling; needs a GPU. A GPU, when present, is used in any case."""
    distribution: Literal["mirrored"] | None = None
    """``mirrored``: train one model on all GPUs of this host (tf.distribute.MirroredStrategy;
    tensorflow backend). ``training.batch_size`` is then the global batch, split across GPUs."""
    input_pipeline: Literal["numpy", "tf_data"] = "numpy"
    """How batches reach the model: ``numpy`` (in-memory arrays, the default) or ``tf_data``
    (a tf.data pipeline with shuffling and prefetching, overlapping input with compute)."""

    @model_validator(mode="after")
    def _backend_features(self) -> RuntimeConfig:
        if self.backend == "jax" and self.distribution is not None:
            raise ValueError(
                f"distribution: {self.distribution!r} is TensorFlow's tf.distribute and needs backend: tensorflow "
                "(got backend: jax); remove distribution, or set backend: tensorflow"
            )
        return self
