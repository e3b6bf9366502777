"""The exported graph: the run's scaling, then the trained model, then class probabilities; written by Keras.

Imports Keras when imported: reach it through :func:`mlrun.export.run.export_run`, which
chooses the TensorFlow backend first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrun.backend import import_keras
from mlrun.data import Preprocessing
from mlrun.errors import RunError
from mlrun.export.formats import Format

if TYPE_CHECKING:
    import keras
else:
    keras = import_keras()


class InputScaling(keras.layers.Layer):
    """``(x - offset) / scale`` with the run's constants: the exported model takes raw inputs."""

    def __init__(self, offset: Any, scale: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.offset = np.asarray(offset, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)

    def call(self, inputs: Any) -> Any:
        return (inputs - self.offset) / self.scale


class BinaryProbabilities(keras.layers.Layer):
    """One sigmoid output ``p`` as the two class probabilities ``[1 - p, p]`` (predictions.csv's ``p_<class>``)."""

    def call(self, inputs: Any) -> Any:
        return keras.ops.concatenate([1.0 - inputs, inputs], axis=-1)


class GaussianMeans(keras.layers.Layer):
    """A Gaussian head's means: the first half of its outputs (see :mod:`mlrun.gaussian`); the variances are dropped."""

    def call(self, inputs: Any) -> Any:
        return inputs[..., : int(inputs.shape[-1]) // 2]


def exported_model(model: Any, preprocessing: dict[str, Any], *, gaussian: bool = False) -> Any:
    """Wrap the trained ``model`` so that it takes raw inputs and gives what predictions.csv records.

    The run's scaling comes first (none, divide, standard or minmax, all ``(x - offset) / scale``);
    a binary model with one sigmoid output ends in ``[1 - p, p]``. Dropout is off, as in any
    prediction: a Monte Carlo dropout run exports its deterministic model. ``model`` may be a deep
    ensemble's members (a list): the graph holds every member and gives their mean, as the run's
    predictions are. With ``gaussian`` (a Gaussian head), each model's means are kept and its
    variances dropped: predictions.csv's ``y_pred``.
    """
    members = model if isinstance(model, list) else [model]
    shape = tuple(int(d) for d in preprocessing["input_shape"])
    inputs = keras.Input(shape=shape, name="x", dtype="float32")
    scaling = Preprocessing.from_dict(preprocessing["scaling"])
    x = inputs if scaling.kind == "none" else InputScaling(scaling.offset, scaling.scale, name="scaling")(inputs)
    outputs = []
    for i, member in enumerate(members):
        if len(members) > 1:
            member.name = f"member_{i}"  # loaded members share their architecture's name; a graph needs unique ones
        out = member(x)
        outputs.append(GaussianMeans(name=f"means_{i}")(out) if gaussian else out)
    output = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="ensemble_mean")(outputs)
    if preprocessing["task"] == "binary" and int(output.shape[-1]) == 1:
        output = BinaryProbabilities(name="class_probabilities")(output)
    name = members[0].name if len(members) == 1 else f"ensemble_of_{len(members)}"
    wrapped = keras.Model(inputs, output, name=f"{name}_exported")
    wrapped(np.zeros((1, *shape), dtype=np.float32))  # Keras exports only a model that has been called
    return wrapped


def write(model: Any, fmt: Format, path: Path, *, run_id: str) -> None:
    """Write ``model`` in ``fmt`` at ``path`` with Keras' ``model.export``.

    Raises:
        RunError: the converter refused the model; the message names the layer it stopped at when it
            can tell, else the model's layers that are not Keras' own.
    """
    import warnings

    from mlrun.backend import quiet_native_stderr

    try:
        with warnings.catch_warnings(), quiet_native_stderr():
            warnings.simplefilter("ignore")  # converters' deprecation chatter, not ours
            model.export(str(path), format=fmt.keras_format, verbose=False)
    except Exception as exc:  # converters raise anything (ValueError, TypeError, their own errors)
        raise RunError(cannot_export(model, fmt, run_id, exc)) from None


def cannot_export(model: Any, fmt: Format, run_id: str, exc: BaseException) -> str:
    """The message for a model ``fmt``'s converter (or runtime) refused: which layer, and what it said."""
    said = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    layers = list(_layers(model))
    named = [layer for layer in layers if layer.name and layer.name in str(exc)]
    custom = [layer for layer in layers if not type(layer).__module__.startswith("keras")]
    culprits = named or custom
    if culprits:
        which = ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in culprits)
        where = f"layer {which} cannot be exported to {fmt.name}"
    else:
        where = f"the model cannot be exported to {fmt.name}"
    return (
        f"error: {run_id}: {where}: {type(exc).__name__}: {said}. "
        f"Export it to another format (mlrun export --format {' / '.join(f for f in ('onnx', 'saved_model', 'litert') if f != fmt.name)})"
    )


def _layers(model: Any) -> Any:
    """Every layer inside ``model``, nested models opened, the wrapping layers left out."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        elif not isinstance(layer, (keras.layers.InputLayer, InputScaling, BinaryProbabilities)):
            yield layer
