"""Import Keras on demand, quietly, on the configured backend, and apply a config's ``runtime`` block.

The Keras import rule
---------------------
Importing Keras costs seconds, and Keras 3 picks its backend (TensorFlow or
JAX) once, on its first import. So every module that needs Keras reaches it
through this module, and only after the backend is chosen:

- :func:`import_keras` is the one way to import Keras (``import keras`` and
  ``import tensorflow`` appear nowhere else in mlrun, except for
  TensorFlow-only features such as tf.data and tf.distribute, which run after it).
- :func:`keras_modules` returns the modules that import Keras when they are
  imported (:mod:`mlrun.model`, :mod:`mlrun.training`), after importing Keras on
  the given backend; import them through it, never at the top of a module.
- A run calls :func:`configure_runtime` first (backend, threads, seeds); the
  stages after it (fit, evaluate, write the run) then find Keras loaded.

Modules that never need Keras (the config, the data, the sweep's planning, the
report, the CLI) must not import it, even indirectly: ``mlrun --help``,
``validate --schema-only``, ``runs``, ``report`` and a local sweep's own process
never load TensorFlow, and tests/test_runtime.py and tests/test_sweep.py guard that.

Keras 3 picks its backend (TensorFlow or JAX) once, when it is first imported,
from ``KERAS_BACKEND``: :func:`import_keras` sets that variable from the
config's ``runtime.backend`` before the import, and refuses a second backend in
a process that already imported Keras with another one. On the JAX backend
TensorFlow is never imported (a faster start).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlrun.errors import ConfigError, RunError

BACKENDS = ("tensorflow", "jax")
DEFAULT_BACKEND = "tensorflow"

_configured_threads = False
#: XLA_FLAGS for a single-threaded XLA CPU client (it has no thread-count setting; this is its one lever).
XLA_ONE_THREAD = ["--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1"]


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence C++ log lines TensorFlow and XLA print before their logging is set up (they ignore TF_CPP_MIN_LOG_LEVEL).

    Python-level errors are unaffected: they are raised after stderr is restored.
    """
    if os.environ.get("MLRUN_TF_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. captured by a test runner)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def loaded_backend() -> str | None:
    """The backend of the Keras already imported in this process, or None when Keras is not imported yet."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    try:
        return str(keras.backend.backend())
    except AttributeError:  # a half-imported keras (an import error in progress)
        return None


def import_keras(backend: str | None = None) -> Any:
    """Import and return ``keras`` on ``backend``, without log noise.

    Args:
        backend: ``tensorflow`` or ``jax``; None keeps the backend of a Keras
            already imported, else ``$KERAS_BACKEND``, else ``tensorflow``.

    Raises:
        ConfigError: the backend is unknown, or its package (jax) is not installed.
        RunError: Keras was already imported in this process with another backend
            (Keras chooses its backend once per process).
    """
    current = loaded_backend()
    if current is not None:
        if backend is not None and backend != current:
            raise RunError(
                f"error: runtime.backend: {backend!r}, but Keras was already imported in this process with the "
                f"{current!r} backend, and Keras picks its backend once per process. Run it in a new process "
                f"(e.g. the mlrun command, or a subprocess), or set runtime.backend: {current}"
            )
        return sys.modules["keras"]
    wanted = backend or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    if wanted not in BACKENDS:
        raise ConfigError(
            f"error: runtime.backend: unknown backend {wanted!r} (from KERAS_BACKEND?); use one of {', '.join(BACKENDS)}"
        )
    if wanted == "jax" and importlib.util.find_spec("jax") is None:
        raise ConfigError(
            "error: runtime.backend: jax needs the jax package, which is not installed: "
            "pip install 'mlrun[jax]' (or set runtime.backend: tensorflow)"
        )
    os.environ["KERAS_BACKEND"] = wanted
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_stderr():
        if wanted == "tensorflow":
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
            tf.config.list_logical_devices()  # initialize devices now, while the CUDA probe's noise is muted
        else:
            compilation_cache_environment()
            import jax

            jax.devices()  # initialize the platform now, while a missing-GPU probe's noise is muted
        import keras
    return keras


def compilation_cache_environment() -> None:
    """Keep XLA's compiled programs on disk for the JAX backend, so a run does not compile again what an earlier one did.

    Compiling is most of a small model's time on JAX (a digits MLP: about 3 of its 10 seconds);
    sweep trials, folds and reruns compile the same programs again. JAX's persistent compilation
    cache returns the very executable compiled before, so results do not change. The cache is
    ``$MLRUN_JAX_CACHE``, else ``$XDG_CACHE_HOME/mlrun/jax`` (``~/.cache/mlrun/jax``), capped
    at 1 GB; set ``MLRUN_JAX_CACHE=off`` to compile afresh, or JAX's own
    ``JAX_COMPILATION_CACHE_DIR`` to choose the place.
    """
    chosen = os.environ.get("MLRUN_JAX_CACHE", "")
    if chosen.lower() == "off" or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = chosen or os.path.join(base, "mlrun", "jax")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # small models' programs too
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(1 << 30))


def keras_modules(backend: str | None = None) -> Any:
    """Import Keras on ``backend`` (see :func:`import_keras`), then mlrun's Keras modules; return them.

    Returns:
        A namespace with ``keras``, ``model`` (:mod:`mlrun.model`) and ``training`` (:mod:`mlrun.training`).
    """
    keras = import_keras(backend)
    import mlrun.model
    import mlrun.training

    return KerasModules(keras, mlrun.model, mlrun.training)


@dataclass(frozen=True)
class KerasModules:
    """What :func:`keras_modules` returns: Keras and the mlrun modules built on it."""

    keras: Any
    model: Any
    training: Any


def _start_up_environment(runtime: Any) -> None:
    """Hand thread counts (and GPU determinism for XLA) over through the environment read at start-up.

    TensorFlow reads ``TF_NUM_*_THREADS`` when its runtime starts, after which
    ``tf.config.threading`` can no longer change them; XLA (JAX) reads
    ``XLA_FLAGS`` when its CPU client is created.
    """
    if runtime.backend == "tensorflow":
        if runtime.intra_op_threads:
            os.environ["TF_NUM_INTRAOP_THREADS"] = str(runtime.intra_op_threads)
        if runtime.inter_op_threads:
            os.environ["TF_NUM_INTEROP_THREADS"] = str(runtime.inter_op_threads)
        return
    flags = os.environ.get("XLA_FLAGS", "").split()
    # XLA's CPU client has no thread-count setting; a single-threaded Eigen pool is the one lever it offers.
    if runtime.intra_op_threads == 1 and not any(f.startswith("--xla_cpu_multi_thread_eigen") for f in flags):
        flags += XLA_ONE_THREAD
    if runtime.deterministic and "--xla_gpu_deterministic_ops=true" not in flags:
        flags.append("--xla_gpu_deterministic_ops=true")
    if flags:
        os.environ["XLA_FLAGS"] = " ".join(flags)


def configure_runtime(runtime: Any, seed: int) -> Any:
    """Import Keras on ``runtime.backend``, apply thread counts, determinism and precision, and seed every generator.

    Thread counts take effect only before the backend's first operation in the
    process; a later call keeps the counts already in force.

    Returns:
        The ``keras`` module.

    Raises:
        ConfigError: ``mixed_precision`` without a GPU, or a backend that is not installed.
        RunError: Keras already imported in this process with another backend.
    """
    if loaded_backend() is None:
        _start_up_environment(runtime)
    keras = import_keras(runtime.backend)

    global _configured_threads
    if runtime.backend == "tensorflow" and not _configured_threads:
        import tensorflow as tf

        try:
            if runtime.intra_op_threads:
                tf.config.threading.set_intra_op_parallelism_threads(runtime.intra_op_threads)
            if runtime.inter_op_threads:
                tf.config.threading.set_inter_op_parallelism_threads(runtime.inter_op_threads)
        except RuntimeError:
            pass  # already initialized by earlier work in this process
        _configured_threads = True
    seed_everything(keras, seed)
    if runtime.deterministic and runtime.backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    if runtime.mixed_precision and not gpu_devices():
        raise ConfigError(
            "error: runtime.mixed_precision: true needs a GPU, and none was found "
            f"(devices: {', '.join(devices()) or 'none'}); float16 on a CPU is slower, not faster. "
            "Remove it, or run on a machine with a GPU"
        )
    # The policy is global to the process: set it on every run so one run's choice never leaks into the next.
    keras.mixed_precision.set_global_policy("mixed_float16" if runtime.mixed_precision else "float32")
    return keras


def seed_everything(keras: Any, seed: int) -> None:
    """Seed Python, NumPy and Keras' generators (and TensorFlow's, on its backend).

    ``keras.utils.set_random_seed`` imports TensorFlow whenever it is installed,
    to seed it too; on the JAX backend, where nothing uses TensorFlow, mlrun
    seeds the rest itself so the run stays TensorFlow-free.
    """
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils
    except ImportError:  # Keras moved its internals: the public call is right, only slower to start
        keras.utils.set_random_seed(seed)
        return
    import numpy as np

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)


@contextlib.contextmanager
def tensorflow_left_out() -> Iterator[None]:
    """While TensorFlow is not imported, keep Keras from importing it just to check types (saving a model).

    Keras' serializer asks its lazy TensorFlow handle whether TensorFlow is
    *available*, which imports it (seconds) on any backend. With TensorFlow not
    imported, no TensorFlow object can exist, so answering "unavailable" changes
    nothing but the time.
    """
    if "tensorflow" in sys.modules:
        yield
        return
    try:
        from keras.src.utils import module_utils

        lazy = module_utils.tensorflow
        saved = lazy._available
    except (ImportError, AttributeError):  # Keras' internals moved: it imports TensorFlow, still correct
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = saved


def devices() -> list[str]:
    """The devices the loaded backend computes on, e.g. ``["/device:CPU:0"]`` or ``["cuda:0"]``."""
    backend = loaded_backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices()]
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    return []


def gpu_devices() -> list[str]:
    """The GPUs the loaded backend sees (empty on a CPU-only machine)."""
    backend = loaded_backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices("GPU")]
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices() if d.platform != "cpu"]
    return []


def distribution_strategy(runtime: Any) -> Any:
    """The ``tf.distribute`` strategy for ``runtime.distribution``, or None.

    ``mirrored`` replicates the model on every GPU of this host, or, on a
    machine without GPUs, on every logical CPU device (one unless configured
    with ``tf.config.set_logical_device_configuration``). The batch size is the
    global batch, split across the replicas.
    """
    if runtime.distribution is None:
        return None
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    chosen = gpus or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy(devices=[d.name for d in chosen])


def runtime_info(runtime: Any, strategy: Any = None, choice: Any = None) -> dict[str, Any]:
    """What run.json records about how the run executed: backend (and why), devices, precision, replicas."""
    keras = sys.modules["keras"]
    return {
        "backend": keras.backend.backend(),
        "backend_reason": choice.reason if choice is not None else None,
        "devices": devices(),
        "gpus": len(gpu_devices()),
        "dtype_policy": keras.mixed_precision.global_policy().name,
        "distribution": runtime.distribution,
        "replicas": int(strategy.num_replicas_in_sync) if strategy is not None else 1,
        "steps_per_execution": runtime.steps_per_execution,
        "jit_compile": runtime.jit_compile,
        "input_pipeline": runtime.input_pipeline,
    }
