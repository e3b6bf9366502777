"""What ``runtime: {backend: auto, steps_per_execution: auto}`` become, decided before Keras is imported.

The rule, from the measurements in ``bench/train_vs_keras.py`` (README, "Performance"):

- on a CPU, JAX for networks without convolutions (the lecture's MNIST MLP trains about 4x
  faster per epoch than on TensorFlow) and TensorFlow for convolutional ones (its oneDNN
  convolutions are several times faster than XLA's on a CPU);
- on a GPU, TensorFlow, as before ``auto`` existed: no GPU measurement backs another choice yet;
- TensorFlow whenever the config uses a TensorFlow-only feature (``distribution``,
  ``input_pipeline: tf_data``, ``mixed_precision``);
- the backend of a Keras already imported in this process, since Keras picks its backend once
  per process (a notebook, the Python API, a sweep worker);
- TensorFlow, with a one-line note, when the chosen backend is not installed.

An explicit ``backend:`` always wins. This module never imports Keras, TensorFlow or JAX:
the sweep driver asks it which kind of worker a trial needs.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

#: Training steps per call into the compiled step under ``steps_per_execution: auto``.
AUTO_STEPS_PER_EXECUTION = 32


@dataclass(frozen=True)
class BackendChoice:
    """The backend a run uses, and why (run.json's ``runtime.backend`` and ``runtime.backend_reason``)."""

    backend: str
    reason: str
    note: str | None = None
    """A fallback worth telling the user about (the chosen backend is not installed), else None."""

    def line(self) -> str:
        """The line a run prints first: ``backend jax (auto: ...)``."""
        text = f"backend {self.backend} ({self.reason})"
        return f"{text}; {self.note}" if self.note else text


def gpu_present() -> bool:
    """Whether this machine has a GPU a backend could use, judged without importing one (an NVIDIA or ROCm device)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/kfd"))


def installed(backend: str) -> bool:
    """Whether the backend's package can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(backend) is not None
    except (ImportError, ValueError):
        return False


def _loaded_backend() -> str | None:
    from mlrun.backend import loaded_backend

    return loaded_backend()


def _rule(cfg: Any) -> BackendChoice:
    """The backend ``auto`` picks for this config on this machine, before asking what is installed or loaded."""
    runtime = cfg.runtime
    if runtime.distribution is not None:
        return BackendChoice("tensorflow", f"auto: distribution: {runtime.distribution} is tf.distribute")
    if runtime.input_pipeline == "tf_data":
        return BackendChoice("tensorflow", "auto: input_pipeline: tf_data is TensorFlow's")
    if runtime.mixed_precision or gpu_present():
        return BackendChoice(
            "tensorflow", "auto: a GPU; mlrun keeps TensorFlow there until a GPU measurement says otherwise"
        )
    if cfg.model.architecture == "cnn":
        return BackendChoice("tensorflow", "auto: convolutions on a CPU, where TensorFlow's oneDNN kernels are fastest")
    return BackendChoice("jax", "auto: no convolutions on a CPU, where JAX trains dense networks fastest")


def choose_backend(cfg: Any, *, here: bool = True) -> BackendChoice:
    """The backend a run of ``cfg`` uses, and why (see the module's docstring for the rule).

    Args:
        cfg: a validated :class:`~mlrun.config.ExperimentConfig`.
        here: the run happens in this process, so a Keras already imported here decides;
            False for a run in a fresh process (a sweep's driver choosing a worker for a trial).
    """
    requested = cfg.runtime.backend
    if requested != "auto":
        return BackendChoice(requested, "runtime.backend in the config")
    choice = _rule(cfg)
    loaded = _loaded_backend() if here else None
    if loaded is not None and loaded != choice.backend:
        return BackendChoice(loaded, f"auto: Keras was already imported in this process with {loaded}")
    if loaded is None and not installed(choice.backend):
        fallback = "tensorflow" if choice.backend != "tensorflow" else "jax"
        note = f"{choice.backend} is not installed (pip install {choice.backend}), so {fallback} runs instead"
        return BackendChoice(fallback, choice.reason.replace("auto:", f"auto, wanted {choice.backend}:", 1), note)
    return choice


def steps_per_execution(runtime: Any) -> int:
    """The number of training steps per call: the config's, or :data:`AUTO_STEPS_PER_EXECUTION` for ``auto``.

    Several steps per call compute exactly what one step per call computes (Keras runs the
    same step function in a loop); only per-batch callbacks would see fewer batches, and
    mlrun's callbacks (history, early stopping, progress, pruning) all act per epoch.
    ``auto`` is 1 under a ``distribution`` strategy, where TensorFlow's multi-step loop
    fails on the epoch's last, partial batch.
    """
    value = runtime.steps_per_execution
    if value != "auto":
        return int(value)
    return 1 if runtime.distribution is not None else AUTO_STEPS_PER_EXECUTION


def concrete_runtime(cfg: Any, choice: BackendChoice) -> Any:
    """``cfg.runtime`` with ``auto`` replaced by what runs: the chosen backend and the number of steps per call."""
    from mlrun.config import evolve

    return evolve(cfg.runtime, backend=choice.backend, steps_per_execution=steps_per_execution(cfg.runtime))
