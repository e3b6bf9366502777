"""The model builder: output heads, layers, shape errors, optimizers."""

from __future__ import annotations

import pytest

from mlrun.config import validate_config
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
    "schedule, cls",
    [
        ({"type": "exponential_decay", "decay_steps": 100, "decay_rate": 0.9}, "ExponentialDecay"),
        ({"type": "cosine_decay", "decay_steps": 100}, "CosineDecay"),
    ],
)
def test_learning_rate_schedules(schedule, cls) -> None:
    o = build_optimizer(cfg_with(optimizer={"name": "adam", "learning_rate": 0.01, "schedule": schedule}))
    assert type(o._learning_rate).__name__ == cls


def test_one_hot_targets_for_categorical_and_mse_losses() -> None:
    assert uses_one_hot("multiclass", "categorical_crossentropy") and uses_one_hot("multiclass", "mse")
    assert not uses_one_hot("multiclass", "sparse_categorical_crossentropy") and not uses_one_hot(
        "binary", "binary_crossentropy"
    )


def test_compile_names_metrics_as_configured() -> None:
    cfg = cfg_with(loss="binary_crossentropy", metrics=["accuracy", "auc", "precision", "recall"])
    model = build_model(cfg, (4,), task="binary", n_outputs=2)
    compile_model(model, cfg, task="binary")
    import numpy as np

    logs = model.evaluate(np.zeros((4, 4)), np.array([0, 1, 0, 1.0]), verbose=0, return_dict=True)
    assert {"loss", "accuracy", "auc", "precision", "recall"} <= set(logs)
