"""Imported once by the local backend's fork server, so sweep workers start without importing TensorFlow.

Importing TensorFlow and Keras costs seconds and hundreds of megabytes per
process. The fork server (:mod:`multiprocessing.forkserver`) imports them here
once; every worker is forked from it and shares those pages copy-on-write, so
a worker is ready in a fraction of a second instead of paying the import
again (two workers on two cores would pay it side by side).

Only imports happen here: TensorFlow's runtime (its thread pools, devices) is
started in each worker after the fork, with that worker's thread counts
(see :func:`mlrun.sweep.executors.start_worker_runtime`).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "tensorflow"  # the fork server serves TensorFlow sweeps only
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mlrun.backend import quiet_native_stderr

with quiet_native_stderr():
    import keras  # noqa: F401
    import tensorflow

    tensorflow.get_logger().setLevel("ERROR")  # as mlrun.backend.import_keras does: no retracing warnings in sweeps

    try:  # only a head start: a worker imports whatever is missing itself
        import mlrun.artifacts
        import mlrun.evaluation
        import mlrun.metrics.compute
        import mlrun.model
        import mlrun.runner
        import mlrun.sweep.trials
        import mlrun.training  # noqa: F401
    except Exception:
        pass
