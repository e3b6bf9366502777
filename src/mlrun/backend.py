"""Import Keras and TensorFlow on demand, quietly, and apply a config's ``runtime`` block.

Importing TensorFlow costs seconds, so nothing imports it at module level except
the modules that build or train models; the CLI reaches those lazily.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

_configured_threads = False


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence C++ log lines TensorFlow prints before its logging is set up (they ignore TF_CPP_MIN_LOG_LEVEL).

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


def import_keras() -> Any:
    """Import and return ``keras`` (TensorFlow backend unless KERAS_BACKEND says otherwise), without log noise."""
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet_native_stderr():
        import tensorflow as tf
        import keras

        tf.get_logger().setLevel("ERROR")
        tf.config.list_logical_devices()  # initialize devices now, while the CUDA probe's noise is muted
    return keras


def configure_runtime(runtime: Any, seed: int) -> None:
    """Apply thread counts and determinism from a ``runtime`` block, and seed every generator.

    Thread counts take effect only before TensorFlow's first operation in the
    process; a later call keeps the counts already in force.
    """
    if "tensorflow" not in sys.modules:
        # import_keras() starts TensorFlow, after which thread counts can no longer change:
        # hand them over through the environment TensorFlow reads at start-up.
        if runtime.intra_op_threads:
            os.environ["TF_NUM_INTRAOP_THREADS"] = str(runtime.intra_op_threads)
        if runtime.inter_op_threads:
            os.environ["TF_NUM_INTEROP_THREADS"] = str(runtime.inter_op_threads)
    import_keras()
    import keras
    import tensorflow as tf

    global _configured_threads
    if not _configured_threads:
        try:
            if runtime.intra_op_threads:
                tf.config.threading.set_intra_op_parallelism_threads(runtime.intra_op_threads)
            if runtime.inter_op_threads:
                tf.config.threading.set_inter_op_parallelism_threads(runtime.inter_op_threads)
        except RuntimeError:
            pass  # already initialized by earlier work in this process
        _configured_threads = True
    keras.utils.set_random_seed(seed)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
