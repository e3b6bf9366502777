"""The export formats: what Keras calls each one, where it goes, what it needs, and its own runtime.

Each format is written by Keras 3's ``model.export`` (on the TensorFlow backend) and read back
by the runtime that serves it, without Keras: ONNX Runtime for ONNX, TensorFlow for a SavedModel,
the LiteRT interpreter (``ai_edge_litert``, else TensorFlow's ``tf.lite.Interpreter``) for LiteRT.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrun.errors import RunError

#: The pip extra that installs every optional package an export needs.
EXTRA = "mlrun[export]"


@dataclass(frozen=True)
class Format:
    """One export format."""

    name: str
    """As ``mlrun export --format`` names it."""
    keras_format: str
    """As ``keras.Model.export(format=...)`` names it."""
    default_name: str
    """The file (or directory) written in ``<run>/export/`` when no ``--output`` is given."""
    needs: tuple[str, ...]
    """Python modules the export and its verification import (beyond TensorFlow and Keras)."""
    runtime: str
    """What reads the exported model back to verify it."""


FORMATS: dict[str, Format] = {
    "onnx": Format("onnx", "onnx", "model.onnx", ("tf2onnx", "onnx", "onnxruntime"), "onnxruntime"),
    "saved_model": Format("saved_model", "tf_saved_model", "saved_model", (), "TensorFlow (tf.saved_model.load)"),
    "litert": Format("litert", "litert", "model.tflite", (), "the LiteRT interpreter"),
}

#: The LiteRT interpreters, preferred first: (module, what to call it).
LITERT_RUNTIMES = (("ai_edge_litert", "ai_edge_litert's Interpreter"), ("tensorflow", "tf.lite.Interpreter"))


def get_format(name: str) -> Format:
    """The format called ``name``, or a RunError listing the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise RunError(f"error: unknown export format {name!r}; use one of {', '.join(FORMATS)}") from None


def check_installed(fmt: Format) -> None:
    """Raise RunError naming the extra to install when a package the format needs is missing."""
    missing = [module for module in fmt.needs if importlib.util.find_spec(module) is None]
    if missing:
        raise RunError(
            f"error: exporting to {fmt.name} needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: pip install '{EXTRA}'"
        )


def runtime_name(fmt: Format) -> str:
    """The runtime that verifies ``fmt`` on this machine (for LiteRT: which interpreter is installed)."""
    if fmt.name != "litert":
        return fmt.runtime
    return next(name for module, name in LITERT_RUNTIMES if importlib.util.find_spec(module) is not None)


def sidecar_path(output: Path) -> Path:
    """The JSON file beside an exported model: ``model.onnx`` -> ``model.onnx.json``."""
    return output.with_name(f"{output.name}.json")


def run_exported(fmt: Format, path: Path, x: np.ndarray) -> np.ndarray:
    """Run raw inputs ``x`` through the exported model at ``path`` with its own runtime; return its output."""
    runners: dict[str, Callable[[Path, np.ndarray], Any]] = {
        "onnx": _run_onnx,
        "saved_model": _run_saved_model,
        "litert": _run_litert,
    }
    return np.asarray(runners[fmt.name](path, np.ascontiguousarray(x, dtype=np.float32)), dtype=np.float64)


def _run_onnx(path: Path, x: np.ndarray) -> Any:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _run_saved_model(path: Path, x: np.ndarray) -> Any:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # held while it runs: its function only weakly references the variables
    return loaded.serve(x).numpy()


def _run_litert(path: Path, x: np.ndarray) -> Any:
    from mlrun.backend import quiet_native_stderr

    with quiet_native_stderr():  # the interpreter announces its CPU delegate on stderr
        interpreter = litert_interpreter(path)
        given = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(given["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(given["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def litert_interpreter(path: Path) -> Any:
    """A LiteRT interpreter for a ``.tflite`` file: ``ai_edge_litert``'s, else TensorFlow's ``tf.lite``."""
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter(model_path=str(path))
    import tensorflow as tf

    return tf.lite.Interpreter(model_path=str(path))
