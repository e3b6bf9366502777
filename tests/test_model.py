"""The model builder: output heads, layers, shape errors, optimizers."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from mlrun.config import LAYERS, validate_config
from mlrun.config.layers import CONVOLUTIONS
from mlrun.errors import ConfigError
from mlrun.model import build_model, build_optimizer, compile_model, uses_one_hot
from tests.conftest import digits_config

keras = pytest.importorskip("keras")


def cfg_with(**changes):
    return validate_config(digits_config(**changes))


@pytest.mark.parametrize(
    "task, loss, n, units, activation",
    [
        ("binary", "binary_crossentropy", 2, 1, "sigmoid"),
        ("binary", "sparse_categorical_crossentropy", 2, 2, "softmax"),
        ("multiclass", "categorical_crossentropy", 5, 5, "softmax"),
        ("multilabel", "binary_crossentropy", 3, 3, "sigmoid"),
        ("regression", "mse", 1, 1, "linear"),
    ],
)
def test_output_head_follows_the_task(task, loss, n, units, activation) -> None:
    model = build_model(cfg_with(loss=loss), (8, 8), task=task, n_outputs=n)
    out = model.layers[-1]
    assert out.units == units and out.activation.__name__ == activation


def test_lecture_mlp_topology() -> None:
    cfg = cfg_with(model={"architecture": "mlp", "hidden_units": [256, 64, 32], "activation": "relu"})
    model = build_model(cfg, (28, 28), task="multiclass", n_outputs=10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Flatten", "Dense", "Dense", "Dense", "Dense"]
    assert model.count_params() == 784 * 256 + 256 + 256 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10


def test_mlp_extras_dropout_batchnorm_regularization() -> None:
    cfg = cfg_with(
        model={
            "architecture": "mlp",
            "hidden_units": [16],
            "dropout": 0.3,
            "batch_normalization": True,
            "l2": 0.01,
            "kernel_initializer": "he_normal",
        }
    )
    model = build_model(cfg, (64,), task="multiclass", n_outputs=10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Dense", "BatchNormalization", "Activation", "Dropout", "Dense"]
    assert model.layers[1].kernel_regularizer is not None


def test_cnn_gets_a_channel_axis_for_grayscale_images() -> None:
    cfg = cfg_with(
        model={
            "architecture": "cnn",
            "layers": [
                {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
                {"type": "max_pooling2d", "pool_size": 2},
                {"type": "batch_normalization"},
                {"type": "gaussian_noise", "stddev": 0.1},
                {"type": "flatten"},
                {"type": "dense", "units": 8, "activation": "leaky_relu"},
            ],
        }
    )
    model = build_model(cfg, (8, 8), task="multiclass", n_outputs=10)
    assert model.layers[1].__class__.__name__ == "Reshape" and model.layers[2].input.shape == (None, 8, 8, 1)
    assert model.output_shape == (None, 10)


def test_conv1d_on_feature_vectors_and_reshape() -> None:
    cfg = cfg_with(
        model={
            "architecture": "cnn",
            "layers": [
                {"type": "conv1d", "filters": 4, "kernel_size": 3, "activation": "elu"},
                {"type": "average_pooling1d", "pool_size": 2},
                {"type": "flatten"},
            ],
        }
    )
    assert build_model(cfg, (30,), task="binary", n_outputs=2).output_shape == (None, 2)
    cfg2 = cfg_with(
        model={
            "architecture": "cnn",
            "layers": [
                {"type": "reshape", "target_shape": [8, 8, 1]},
                {"type": "conv2d", "filters": 2, "kernel_size": 3},
                {"type": "global_average_pooling2d"},
            ],
        }
    )
    assert build_model(cfg2, (64,), task="multiclass", n_outputs=10).output_shape == (None, 10)


@pytest.mark.parametrize(
    "layers, shape, match",
    [
        (
            [{"type": "conv2d", "filters": 2, "kernel_size": 3}, {"type": "flatten"}],
            (30,),
            r"model\.layers\.0 \(conv2d\) expects \(height, width\[, channels\]\) images, but its input has shape \(30,\)",
        ),
        (
            [{"type": "conv2d", "filters": 2, "kernel_size": 9}, {"type": "flatten"}],
            (8, 8),
            r"model\.layers\.0\.kernel_size: 9 is larger than the layer's input \(8x8, shape \(8, 8, 1\)\); use a kernel_size of at most 8, or padding: same",
        ),
        (
            [{"type": "conv2d", "filters": 2, "kernel_size": 3}],
            (8, 8),
            r"outputs shape \(6, 6, 2\).*add \{type: flatten\}",
        ),
        (
            [{"type": "conv1d", "filters": 2, "kernel_size": 2}, {"type": "flatten"}],
            (8, 8, 3),
            r"model\.layers\.0 \(conv1d\) expects \(steps, channels\) sequences",
        ),
        (
            [
                {"type": "reshape", "target_shape": [5, 5]},
                {"type": "conv1d", "filters": 1, "kernel_size": 1},
                {"type": "flatten"},
            ],
            (8, 8),
            r"model\.layers\.0\.target_shape: \[5, 5\] does not hold the 64 values of its input \(shape \(8, 8\)\); give a shape whose sizes multiply to 64",
        ),
    ],
)
def test_layers_that_do_not_fit_their_input(layers, shape, match) -> None:
    cfg = cfg_with(model={"architecture": "cnn", "layers": layers})
    with pytest.raises(ConfigError, match=match):
        build_model(cfg, shape, task="multiclass", n_outputs=10)


@pytest.mark.parametrize(
    "opt, cls, attrs",
    [
        (
            {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
            "SGD",
            {"momentum": 0.9, "nesterov": True},
        ),
        ({"name": "adam", "amsgrad": True}, "Adam", {"amsgrad": True}),
        ({"name": "adagrad"}, "Adagrad", {}),
        ({"name": "adadelta", "learning_rate": 1.0}, "Adadelta", {"rho": 0.95}),
        ({"name": "rmsprop", "momentum": 0.5}, "RMSprop", {"momentum": 0.5}),
        ({"name": "adamax"}, "Adamax", {}),
        ({"name": "nadam"}, "Nadam", {}),
        ({"name": "adamw", "weight_decay": 0.01}, "AdamW", {"weight_decay": 0.01}),
    ],
)
def test_every_lecture_optimizer(opt, cls, attrs) -> None:
    o = build_optimizer(cfg_with(optimizer=opt))
    assert type(o).__name__ == cls
    for k, v in attrs.items():
        assert getattr(o, k) == pytest.approx(v)


@pytest.mark.parametrize(
    "schedule, at_50, at_100",
    [
        ({"type": "exponential_decay", "decay_steps": 100, "decay_rate": 0.9}, 0.01 * 0.9**0.5, 0.009),
        ({"type": "cosine_decay", "decay_steps": 100}, 0.005, 0.0),
    ],
)
def test_learning_rate_schedules(schedule, at_50, at_100) -> None:
    o = build_optimizer(cfg_with(optimizer={"name": "adam", "learning_rate": 0.01, "schedule": schedule}))
    assert float(o.learning_rate) == pytest.approx(0.01)
    for step, expected in ((50, at_50), (100, at_100)):
        o.iterations.assign(step)
        assert float(o.learning_rate) == pytest.approx(expected, abs=1e-7)


def test_one_hot_targets_for_categorical_and_mse_losses() -> None:
    assert uses_one_hot("multiclass", "categorical_crossentropy") and uses_one_hot("multiclass", "mse")
    assert not uses_one_hot("multiclass", "sparse_categorical_crossentropy") and not uses_one_hot(
        "binary", "binary_crossentropy"
    )


def test_compile_names_metrics_as_configured() -> None:
    cfg = cfg_with(loss="binary_crossentropy", metrics=["accuracy", "auc", "precision", "recall"])
    model = build_model(cfg, (4,), task="binary", n_outputs=2)
    compile_model(model, cfg, task="binary")
    logs = model.evaluate(np.zeros((4, 4)), np.array([0, 1, 0, 1.0]), verbose=0, return_dict=True)
    assert {"loss", "accuracy", "auc", "precision", "recall"} <= set(logs)


#: The smallest config of each layer type, and an input shape it fits.
EXAMPLES = {
    "dense": ({"units": 3}, (5,)),
    "conv1d": ({"filters": 2, "kernel_size": 3}, (6,)),
    "conv2d": ({"filters": 2, "kernel_size": 3}, (6, 6)),
    "separable_conv2d": ({"filters": 2, "kernel_size": 3}, (6, 6)),
    "max_pooling1d": ({}, (6, 2)),
    "max_pooling2d": ({}, (6, 6, 2)),
    "average_pooling1d": ({}, (6, 2)),
    "average_pooling2d": ({}, (6, 6, 2)),
    "global_average_pooling1d": ({}, (6, 2)),
    "global_average_pooling2d": ({}, (6, 6, 2)),
    "flatten": ({}, (3, 2)),
    "dropout": ({"rate": 0.5}, (5,)),
    "batch_normalization": ({}, (5,)),
    "layer_normalization": ({}, (5,)),
    "reshape": ({"target_shape": [5, 1]}, (5,)),
    "gaussian_noise": ({"stddev": 0.1}, (5,)),
    "activation": ({"activation": "tanh"}, (5,)),
}


def test_every_layer_type_has_an_example() -> None:
    assert set(EXAMPLES) == set(LAYERS)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_every_config_field_is_a_keyword_of_its_keras_layer(kind: str) -> None:
    spec = LAYERS[kind]
    keras_params = inspect.signature(getattr(keras.layers, spec.keras).__init__).parameters
    fields = set(spec.config.model_fields) - {"type", "l1", "l2"}
    assert fields | set(spec.penalties) <= set(keras_params), sorted(fields - set(keras_params))
    assert not spec.penalties or {"l1", "l2"} <= set(spec.config.model_fields)


@pytest.mark.slow  # a subprocess or a few training steps: the full suite runs it
@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_every_layer_type_builds_and_trains_a_step(kind: str) -> None:
    fields, shape = EXAMPLES[kind]
    layers = [{"type": kind, **fields}]
    if kind not in CONVOLUTIONS:  # a cnn needs one
        layers += [{"type": "reshape", "target_shape": [-1, 1]}, {"type": "conv1d", "filters": 1, "kernel_size": 1}]
    layers.append({"type": "flatten"})
    cfg = cfg_with(model={"architecture": "cnn", "layers": layers})
    model = build_model(cfg, shape, task="multiclass", n_outputs=3)
    assert any(type(layer).__name__ == LAYERS[kind].keras for layer in model.layers)
    compile_model(model, cfg, task="multiclass")
    x, y = np.random.default_rng(0).normal(size=(8, *shape)).astype("float32"), np.arange(8) % 3
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_separable_conv2d_is_a_depthwise_then_pointwise_convolution() -> None:
    cfg = cfg_with(
        model={
            "architecture": "cnn",
            "layers": [
                {"type": "separable_conv2d", "filters": 4, "kernel_size": 3, "l2": 0.01, "activation": "relu"},
                {"type": "global_average_pooling2d"},
            ],
        }
    )
    model = build_model(cfg, (8, 8), task="multiclass", n_outputs=10)
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.SeparableConv2D))
    assert conv.input.shape == (None, 8, 8, 1)  # grayscale images get their channel axis
    assert conv.output.shape == (None, 6, 6, 4)
    # 3x3 depthwise weights for the one channel, 1x1x4 pointwise weights, 4 biases (a conv2d would have 40)
    assert conv.count_params() == 9 + 4 + 4
    assert conv.depthwise_regularizer is not None and conv.pointwise_regularizer is not None


@pytest.mark.parametrize(
    "layer, shape, match",
    [
        (
            {"type": "separable_conv2d", "filters": 2, "kernel_size": 3},
            (30,),
            r"model\.layers\.0 \(separable_conv2d\) expects \(height, width\[, channels\]\) images, but its input has shape \(30,\)",
        ),
        (
            {"type": "separable_conv2d", "filters": 2, "kernel_size": [3, 9]},
            (8, 8),
            r"model\.layers\.0\.kernel_size: \[3, 9\] is larger than the layer's input \(8x8, shape \(8, 8, 1\)\)",
        ),
        (
            {"type": "separable_conv2d", "filters": 2, "kernel_size": [3, 3, 3]},
            (8, 8),
            r"model\.layers\.0\.kernel_size: \[3, 3, 3\] has 3 sizes but a separable_conv2d window has 2",
        ),
    ],
)
def test_separable_conv2d_shape_rules(layer, shape, match) -> None:
    cfg = cfg_with(model={"architecture": "cnn", "layers": [layer, {"type": "flatten"}]})
    with pytest.raises(ConfigError, match=match):
        build_model(cfg, shape, task="multiclass", n_outputs=10)


def test_layer_normalization_normalizes_each_sample() -> None:
    cfg = cfg_with(
        model={
            "architecture": "mlp",
            "layers": [
                {"type": "dense", "units": 16, "activation": "relu"},
                {"type": "layer_normalization", "epsilon": 1e-6},
            ],
        }
    )
    model = build_model(cfg, (8,), task="multiclass", n_outputs=3)
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.LayerNormalization))
    assert norm.epsilon == pytest.approx(1e-6) and norm.center and norm.scale
    x = np.random.default_rng(1).normal(size=(4, 8)).astype("float32") * 5 + 3
    out = keras.ops.convert_to_numpy(keras.Model(model.input, norm.output)(x))
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=1), 1.0, atol=1e-2)
