"""Build a Keras model, optimizer, loss and metrics from a config. Builds only; never fits."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from mlrun.backend import import_keras
from mlrun.bayes import BayesianDense, SampledBayesianDense
from mlrun.config import LAYERS, ExperimentConfig, output_head, tracked_metrics
from mlrun.config.architectures import CNNConfig, LinearConfig, MLPConfig, PerceptronConfig
from mlrun.config.layers import (
    ActivationLayer,
    BatchNormalizationLayer,
    DenseLayer,
    DropoutLayer,
    Layer,
    LayerSpec,
    ReshapeLayer,
)
from mlrun.config.optimizers import CosineDecay, ExponentialDecay
from mlrun.errors import ConfigError
from mlrun.gaussian import LOSSES as GAUSSIAN_HEAD_LOSSES
from mlrun.gaussian import MEAN_METRICS
from mlrun.perceptron import Perceptron
from mlrun.runtime_choice import steps_per_execution

if TYPE_CHECKING:
    import keras
else:
    keras = import_keras()


def build_model(
    cfg: ExperimentConfig, input_shape: tuple[int, ...], *, task: str, n_outputs: int, n_train: int | None = None
) -> keras.Model:
    """Build the (uncompiled) network: input, hidden layers in order, output head from the task.

    With ``model.bayesian`` every dense layer, the output's too, is a :class:`~mlrun.bayes.BayesianDense`;
    ``n_train`` (the number of training samples) sets its ``kl_weight: auto``.

    Raises:
        ConfigError: a layer does not fit the shape it receives (naming the
            layer's dotted key), e.g. a conv2d on 1-D input or a kernel larger
            than its input.
    """
    m = cfg.model
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = inputs
    if isinstance(m, (MLPConfig, LinearConfig, PerceptronConfig)) and len(input_shape) > 1:
        x = keras.layers.Flatten(name="flatten_input")(x)
    if isinstance(m, PerceptronConfig):
        return keras.Model(
            inputs,
            Perceptron(kernel_initializer=m.kernel_initializer, name="output", dtype="float32")(x),
            name=_keras_name(cfg.name),
        )

    bayes = _bayes_kwargs(m, n_train)
    for key, layer_cfg in [] if isinstance(m, LinearConfig) else _hidden_layers(m):
        spec = LAYERS[layer_cfg.type]
        if spec.rank is not None:
            x = _fit_rank(x, spec.rank, key, layer_cfg.type)
        _check_fits(_shape(x), layer_cfg, spec, key)
        try:
            for layer in make_layers(layer_cfg, bayesian=bayes):
                x = layer(x)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"error: {key} ({layer_cfg.type}) does not fit its input of shape {_shape(x)}: {_first_line(exc)}"
            ) from None

    units, activation = output_head(task, cfg.loss, n_outputs)
    if len(x.shape) > 2:
        raise ConfigError(
            f"error: model.layers: the last hidden layer outputs shape {_shape(x)}, but the output layer needs "
            "a flat vector: add {type: flatten} (or a global pooling layer) at the end"
        )
    head = _linear_weights(m) if isinstance(m, LinearConfig) else {}
    # float32 even under a mixed_float16 policy (runtime.mixed_precision): softmax and the loss stay numerically stable.
    out_layer = (
        BayesianDense(units, m.output_activation or activation, name="output", dtype="float32", **bayes)
        if bayes is not None
        else keras.layers.Dense(
            units, activation=m.output_activation or activation, name="output", dtype="float32", **head
        )
    )
    outputs = out_layer(x)
    return keras.Model(inputs, outputs, name=_keras_name(cfg.name))


def _bayes_kwargs(m: Any, n_train: int | None) -> dict[str, Any] | None:
    """BayesianDense's prior and KL weight from ``model.bayesian`` (None when the model is not Bayesian)."""
    b = getattr(m, "bayesian", None)
    if b is None:
        return None
    weight = (1.0 / n_train if n_train else 1.0) if b.kl_weight == "auto" else float(b.kl_weight)
    return {"prior_std": b.prior_std, "kl_weight": weight}


class _MCDropout(keras.layers.Dropout):
    """Dropout that stays on at prediction time (Monte Carlo dropout); never saved."""

    def call(self, inputs: Any, training: Any = None) -> Any:
        return super().call(inputs, training=True)


def mc_dropout_model(model: keras.Model) -> keras.Model:
    """Return a model sharing ``model``'s layers and weights whose dropout layers stay on when predicting,
    and whose Bayesian layers draw their weights from the posterior at every pass.

    Only dropout and Bayesian layers change: batch normalization keeps its moving statistics
    (inference mode), unlike calling the model with ``training=True``.

    Raises:
        ConfigError: the model has neither dropout nor Bayesian layers.
    """
    if not any(isinstance(layer, (keras.layers.Dropout, BayesianDense)) for layer in model.layers):
        raise ConfigError(
            "error: evaluation.mc_samples: Monte Carlo dropout needs dropout in the model, which has none: "
            "set model.dropout (e.g. 0.2) or add {type: dropout, rate: 0.2} to model.layers; or set evaluation.mc_samples: 1"
        )

    def swap(layer: Any) -> Any:
        if isinstance(layer, keras.layers.Dropout):
            return _MCDropout(layer.rate, noise_shape=layer.noise_shape, seed=layer.seed, name=f"{layer.name}_mc")
        if isinstance(layer, BayesianDense):
            return SampledBayesianDense(layer)
        return layer  # the same layer object: weights are shared, not copied

    return keras.models.clone_model(model, clone_function=swap)


def single_layer_weights(model: keras.Model) -> dict[str, Any] | None:
    """The weights and bias of a model that is one layer of units on its inputs (perceptron, linear), else None.

    Returns:
        ``{"kernel": (n_inputs, n_units) array, "bias": (n_units,) array, "activation": name}``.
    """
    weighted = [layer for layer in model.layers if layer.weights]
    if len(weighted) != 1:
        return None
    layer = weighted[0]
    if isinstance(layer, Perceptron):
        activation = "step"
    elif isinstance(layer, keras.layers.Dense):
        activation = keras.activations.serialize(layer.activation)
        activation = (
            activation if isinstance(activation, str) else activation.get("config", {}).get("name", str(activation))
        )
    else:
        return None
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    bias = (
        keras.ops.convert_to_numpy(layer.bias)
        if getattr(layer, "bias", None) is not None
        else np.zeros(kernel.shape[1])
    )
    return {"kernel": kernel, "bias": bias, "activation": activation}


def _hidden_layers(m: MLPConfig | CNNConfig) -> list[tuple[str, Layer]]:
    """The hidden layers as (dotted key, layer config); ``hidden_units`` expands to dense layers."""
    if m.layers is not None:
        return [(f"model.layers.{i}", layer) for i, layer in enumerate(m.layers)]
    assert isinstance(m, MLPConfig)  # a cnn always has layers
    out: list[tuple[str, Layer]] = []
    for i, units in enumerate(m.hidden_units or []):
        key = f"model.hidden_units.{i}"
        dense = DenseLayer(
            type="dense",
            units=units,
            activation="linear" if m.batch_normalization else m.activation,
            use_bias=not m.batch_normalization,
            kernel_initializer=m.kernel_initializer,
            l1=m.l1,
            l2=m.l2,
        )
        out.append((key, dense))
        if m.batch_normalization:
            out.append((key, BatchNormalizationLayer(type="batch_normalization")))
            out.append((key, ActivationLayer(type="activation", activation=m.activation)))
        if m.dropout > 0:
            out.append((key, DropoutLayer(type="dropout", rate=m.dropout)))
    return out


def make_layers(cfg: Layer, *, bayesian: dict[str, Any] | None = None) -> list[keras.layers.Layer]:
    """Return the Keras layer(s) for one layer config, as its :data:`~mlrun.config.LAYERS` entry says.

    ``bayesian``: BayesianDense's prior and KL weight, which then replaces a dense layer.
    """
    if bayesian is not None and isinstance(cfg, DenseLayer):
        return [BayesianDense(cfg.units, cfg.activation, use_bias=cfg.use_bias, **bayesian)]
    spec = LAYERS[cfg.type]
    return [getattr(keras.layers, spec.keras)(**_keras_kwargs(cfg, spec))]


def _keras_kwargs(cfg: Layer, spec: LayerSpec) -> dict[str, Any]:
    """The layer's keyword arguments: the config's fields (lists as tuples), ``l1``/``l2`` as one penalty."""
    fields = cfg.model_dump(exclude={"type"})
    l1, l2 = fields.pop("l1", 0.0), fields.pop("l2", 0.0)
    kwargs = {name: tuple(value) if isinstance(value, list) else value for name, value in fields.items()}
    kwargs.update(dict.fromkeys(spec.penalties, _penalty(l1, l2)))
    return kwargs


def build_optimizer(cfg: ExperimentConfig) -> keras.optimizers.Optimizer:
    """Return the configured Keras optimizer, with its learning-rate schedule if any."""
    o = cfg.optimizer
    lr: Any = o.learning_rate
    s = o.schedule
    if isinstance(s, ExponentialDecay):
        lr = keras.optimizers.schedules.ExponentialDecay(
            o.learning_rate, s.decay_steps, s.decay_rate, staircase=s.staircase
        )
    elif isinstance(s, CosineDecay):
        lr = keras.optimizers.schedules.CosineDecay(o.learning_rate, s.decay_steps, alpha=s.alpha)
    params = o.model_dump(exclude={"name", "learning_rate", "schedule", "clipnorm"})
    if o.clipnorm is not None:
        params["clipnorm"] = o.clipnorm
    classes = {
        "sgd": keras.optimizers.SGD,
        "adagrad": keras.optimizers.Adagrad,
        "adadelta": keras.optimizers.Adadelta,
        "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "adamax": keras.optimizers.Adamax,
        "nadam": keras.optimizers.Nadam,
    }
    return classes[o.name](learning_rate=lr, **params)


def build_metrics(cfg: ExperimentConfig, *, task: str, one_hot: bool) -> list[keras.metrics.Metric]:
    """Return the per-epoch Keras metrics, named as in the config (``accuracy``, ``auc``, ...)."""
    M = keras.metrics
    out = []
    for name in tracked_metrics(cfg, task):
        if cfg.loss in GAUSSIAN_HEAD_LOSSES:
            out.append(MEAN_METRICS[name](name=name))  # the means' error: the head's other half are variances
        elif name == "accuracy":
            if task in ("binary", "multilabel") and not one_hot:
                out.append(M.BinaryAccuracy(name="accuracy"))
            elif one_hot:
                out.append(M.CategoricalAccuracy(name="accuracy"))
            else:
                out.append(M.SparseCategoricalAccuracy(name="accuracy"))
        elif name == "auc":
            out.append(M.AUC(name="auc", multi_label=task == "multilabel"))
        elif name == "precision":
            out.append(M.Precision(name="precision"))
        elif name == "recall":
            out.append(M.Recall(name="recall"))
        elif name == "mse":
            out.append(M.MeanSquaredError(name="mse"))
        elif name == "mae":
            out.append(M.MeanAbsoluteError(name="mae"))
        elif name == "rmse":
            out.append(M.RootMeanSquaredError(name="rmse"))
    return out


def uses_one_hot(task: str, loss: str) -> bool:
    """True when class targets are fed one-hot (categorical cross-entropy, or mse/mae over softmax)."""
    if task == "multiclass":
        return loss != "sparse_categorical_crossentropy"
    return task == "binary" and loss == "categorical_crossentropy"


def compile_model(model: keras.Model, cfg: ExperimentConfig, *, task: str, steps_per_epoch: int | None = None) -> None:
    """Compile with the configured optimizer, loss and metrics, and the runtime's execution settings.

    Args:
        model: the model :func:`build_model` returned.
        cfg: the config, with its task resolved.
        task: the task, for the metrics.
        steps_per_epoch: unused (no schedule depends on it); accepted while the runner still passes it.
    """
    model.compile(
        optimizer=build_optimizer(cfg),
        loss=loss_function(cfg.loss),
        metrics=build_metrics(cfg, task=task, one_hot=uses_one_hot(task, cfg.loss)),
        steps_per_execution=steps_per_execution(cfg.runtime),
        jit_compile=cfg.runtime.jit_compile,
    )


def loss_function(loss: str) -> Any:
    """The Keras loss for a config's ``loss``: a Keras name, or a Gaussian head's loss from :mod:`mlrun.gaussian`."""
    return GAUSSIAN_HEAD_LOSSES.get(loss, loss)


def summary_text(model: keras.Model) -> str:
    """The Keras model summary as plain text."""
    lines: list[str] = []
    # Keras renders the table with rich, whose console is as wide as $COLUMNS (80 when
    # not a terminal): widen it so the "Param #" column is not cut off.
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "120"
    try:
        model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=100)
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- helpers


def _fit_rank(x: Any, need: int, key: str, kind: str) -> Any:
    """Add a channel axis to (steps,) or (h, w) inputs; refuse inputs of the wrong rank."""
    shape = _shape(x)
    if len(shape) == need:
        return x
    if len(shape) == need - 1:  # (steps,) or (h, w): one channel
        return keras.layers.Reshape((*shape, 1))(x)
    expects = "(steps, channels) sequences" if need == 2 else "(height, width[, channels]) images"
    fix = (
        "reshape it first, e.g. {type: reshape, target_shape: [8, 8, 1]} for 64 features"
        if need == 3 and len(shape) == 1
        else "use a layer of the matching dimension (conv1d/conv2d) or a reshape layer"
    )
    raise ConfigError(
        f"error: {key} ({kind}) expects {expects}, but its input has shape {shape} ({len(shape)}-D); {fix}"
    )


def _penalty(l1: float, l2: float) -> Any:
    return keras.regularizers.L1L2(l1=l1, l2=l2) if l1 or l2 else None


def _linear_weights(m: LinearConfig) -> dict[str, Any]:
    return {
        "kernel_initializer": m.kernel_initializer,
        "kernel_regularizer": _penalty(m.l1, m.l2),
        "use_bias": m.use_bias,
    }


def _check_fits(shape: tuple[int, ...], cfg: Layer, spec: LayerSpec, key: str) -> None:
    """Refuse, with the fix, a window larger than its input and a reshape to a different size (Keras' own errors say neither)."""
    t = cfg.type
    field = spec.window
    params = cfg.model_dump()
    if field is not None and params["padding"] == "valid":
        spatial = shape[:-1]
        value = params[field]
        window = tuple(value) if isinstance(value, list) else (value,) * len(spatial)
        if len(window) != len(spatial):
            raise ConfigError(
                f"error: {key}.{field}: {value} has {len(window)} sizes but a {t} window has {len(spatial)}; give one number or {len(spatial)}"
            )
        if any(w > n for w, n in zip(window, spatial)):
            most = "x".join(map(str, spatial))
            raise ConfigError(
                f"error: {key}.{field}: {value} is larger than the layer's input ({most}, shape {shape}); "
                f"use a {field} of at most {min(spatial) if len(set(spatial)) == 1 else most}, or padding: same"
            )
    elif isinstance(cfg, ReshapeLayer):
        size = int(np.prod(shape))
        target = list(cfg.target_shape)
        known = int(np.prod([d for d in target if d != -1]))
        fits = (known > 0 and size % known == 0) if target.count(-1) == 1 else known == size
        if target.count(-1) > 1 or not fits:
            raise ConfigError(
                f"error: {key}.target_shape: {target} does not hold the {size} values of its input (shape {shape}); "
                f"give a shape whose sizes multiply to {size}, e.g. {[*shape[:-1], shape[-1]] if len(shape) > 1 else [size, 1]}, or use -1 for one size to infer it"
            )


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape[1:])


def _keras_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)[:60] or "model"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
