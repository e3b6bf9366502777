"""The config schema, YAML loading, --set overrides and error messages."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from mlrun.config import (
    ExperimentConfig,
    apply_overrides,
    check_task,
    config_to_dict,
    load_config,
    monitors,
    validate_config,
)
from mlrun.config.base import Metric
from mlrun.errors import ConfigError
from mlrun.metrics import registry
from tests.conftest import CONFIGS, digits_config

ALL_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.endswith("_sweep.yaml"))  # sweeps: test_sweep.py


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.name
    # the resolved config is itself a valid config that resolves to the same thing
    assert validate_config(config_to_dict(cfg)) == cfg


def test_mnist_mlp_is_the_lecture_demo() -> None:
    cfg = load_config(CONFIGS / "mnist_mlp.yaml")
    assert cfg.dataset.name == "mnist" and cfg.dataset.scale == 255 and cfg.dataset.validation_split == 0.2
    assert (
        cfg.model.architecture == "mlp" and cfg.model.hidden_units == [256, 64, 32] and cfg.model.activation == "relu"
    )
    assert cfg.loss == "sparse_categorical_crossentropy"
    assert cfg.optimizer.name == "adam" and cfg.optimizer.learning_rate == 0.001
    assert (cfg.training.epochs, cfg.training.batch_size) == (32, 50)
    assert cfg.metrics == ["accuracy"]


def test_defaults_are_filled_in() -> None:
    cfg = validate_config(
        {
            "name": "x",
            "dataset": {"name": "iris"},
            "model": {"architecture": "mlp", "hidden_units": [4]},
            "loss": "sparse_categorical_crossentropy",
        }
    )
    d = config_to_dict(cfg)
    assert d["optimizer"]["name"] == "adam" and d["optimizer"]["learning_rate"] == 0.001
    assert d["training"]["epochs"] == 10 and d["training"]["shuffle"] is True
    assert d["dataset"]["validation_split"] == 0.2 and d["dataset"]["scale"] == "none"


def test_set_overrides_are_typed_as_yaml(write_config) -> None:
    path = write_config(digits_config())
    cfg = load_config(
        path,
        [
            "optimizer.learning_rate=1e-4",
            "model.hidden_units=[8, 4]",
            "training.early_stopping.patience=2",
            "optimizer.name=sgd",
            "optimizer.momentum=0.9",
            "optimizer.nesterov=true",
        ],
    )
    assert cfg.optimizer.learning_rate == pytest.approx(1e-4)
    assert cfg.model.hidden_units == [8, 4]
    assert cfg.training.early_stopping.patience == 2
    assert cfg.optimizer.name == "sgd" and cfg.optimizer.nesterov is True


def test_set_indexes_lists() -> None:
    raw = {"model": {"layers": [{"type": "dense", "units": 3}]}}
    assert apply_overrides(raw, ["model.layers.0.units=7"])["model"]["layers"][0]["units"] == 7
    assert raw["model"]["layers"][0]["units"] == 3  # the input is not modified


@pytest.mark.parametrize(
    "override, match",
    [
        ("optimizer.learning_rate", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("model..units=3", "not a dotted key path"),
        ("model.hidden_units.5=3", "is a list of 1 items"),
        ("loss.x=3", "is a str, not a mapping"),
        ("training.epochs=[1", "not valid YAML"),
    ],
)
def test_malformed_set_is_a_config_error(write_config, override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(write_config(digits_config()), [override])


def test_set_error_names_the_override(write_config) -> None:
    with pytest.raises(
        ConfigError, match=r"--set training.epochs +training.epochs: must be greater than or equal to 1 \(got 0\)"
    ):
        load_config(write_config(digits_config()), ["training.epochs=0"])


BAD = """\
name: bad
dataset:
  name: digits
  validation_split: 1.5
model:
  architecture: mlp
  hidden_units: [32]
  activaton: relu
loss: sparse_categorical_crossentropy
optimizer:
  name: adam
  learning_rate: -0.1
training:
  epochs: 0
"""


@pytest.mark.parametrize(
    "match",
    [
        r"line 4  dataset\.validation_split: must be less than 1 \(got 1\.5\)",
        r"line 8  model\.activaton: unknown key \(did you mean 'activation'\?\)",
        r"line 12  optimizer\.learning_rate: must be greater than 0 \(got -0\.1\)",
        r"line 14  training\.epochs: must be greater than or equal to 1 \(got 0\)",
        r"^error: .*config\.yaml is not a valid experiment config",
    ],
)
def test_every_problem_is_reported_with_line_and_key(write_config, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        load_config(write_config(BAD))
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"loss": "hinge"}, r"loss: unknown value 'hinge'.*allowed: mse, mae"),
        ({"optimizer": {"name": "adamm"}}, r"optimizer\.name: unknown value 'adamm' \(did you mean 'adam'\?\)"),
        ({"optimizer": {"name": "adam", "momentum": 0.9}}, r"optimizer\.momentum: unknown key"),
        ({"optimizer": {"name": "sgd", "nesterov": True}}, r"nesterov: true needs momentum > 0"),
        ({"model": {"architecture": "rnn"}}, r"model\.architecture: unknown value 'rnn'.*allowed: mlp, cnn"),
        (
            {"model": {"architecture": "mlp", "hidden_units": [8], "activation": "relux"}},
            r"model\.activation: unknown value 'relux' \(did you mean 'relu'\?\)",
        ),
        (
            {"model": {"architecture": "mlp", "hidden_units": [8], "layers": [{"type": "dense", "units": 3}]}},
            r"give `hidden_units` or `layers`, not both",
        ),
        (
            {"model": {"architecture": "cnn", "layers": [{"type": "conv3d", "filters": 3}]}},
            r"model\.layers\.0\.type: unknown value 'conv3d'",
        ),
        (
            {"model": {"architecture": "cnn", "layers": [{"type": "dropout", "rate": 1.5}]}},
            r"model\.layers\.0\.rate: must be less than 1",
        ),
        (
            {"model": {"architecture": "cnn", "layers": [{"type": "flatten"}]}},
            r"a cnn needs at least one conv1d or conv2d layer",
        ),
        (
            {"model": {"architecture": "cnn", "layers": [{"filters": 3}]}},
            r"model\.layers\.0\.type: needs a `type:` key",
        ),
        ({"dataset": {"name": "digits", "path": "x.csv"}}, r"give exactly one of `name`"),
        ({"dataset": {"name": "digits", "scale": "log"}}, r"dataset\.scale: must be a number to divide by"),
        ({"dataset": {"name": "digits", "scale": -1}}, r"dataset\.scale: must be greater than 0"),
        (
            {"task": "regression"},
            r"loss: 'sparse_categorical_crossentropy' does not fit a regression task: use mse or mae",
        ),
        (
            {"task": "multiclass", "loss": "binary_crossentropy"},
            r"loss: 'binary_crossentropy' does not fit a multiclass task",
        ),
        (
            {
                "task": "binary",
                "loss": "binary_crossentropy",
                "model": {"architecture": "mlp", "hidden_units": [4], "output_activation": "softmax"},
            },
            r"model\.output_activation: 'softmax' contradicts a binary task",
        ),
        (
            {"task": "multiclass", "metrics": ["precision"]},
            r"metrics: \['precision'\] cannot be tracked per epoch for a multiclass task",
        ),
        (
            {
                "training": {"early_stopping": {"monitor": "val_loss"}},
                "dataset": {"name": "digits", "validation_split": 0},
            },
            r"needs validation data but dataset\.validation_split is 0",
        ),
        (
            {"task": "multiclass", "dataset": {"name": "digits", "positive_label": 3}},
            r"dataset\.positive_label: applies to binary tasks only, but this is a multiclass task",
        ),
        ({"name": ""}, r"name: String should have at least 1 character"),
        ({"seed": "abc"}, r"seed: must be a valid integer"),
    ],
)
def test_invalid_values_are_config_errors(write_config, changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(write_config(digits_config(**changes)))


def test_binary_with_two_softmax_units_is_allowed() -> None:
    cfg = validate_config(digits_config(task="binary"))
    check_task(cfg, "binary")  # sparse categorical cross-entropy over 2 softmax units


@pytest.mark.parametrize(
    "text, match",
    [
        ("name: x\nloss: [unclosed\n", r"is not valid YAML at line \d+, column \d+: expected .,. or .\]."),
        ("- a\n- b\n", r"must be a mapping of keys"),
        ("", r"is empty"),
        ("name: !!python/object/apply:os.system ['echo hi']\n", r"not valid YAML.*Python object tags"),
    ],
)
def test_unreadable_yaml_is_a_config_error(write_config, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(write_config(text))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_schema_forbids_unknown_keys_everywhere() -> None:
    # every block is strict: an unknown key at any level is an error
    for block in ("dataset", "training", "runtime", "optimizer"):
        raw = digits_config()
        raw.setdefault(block, {})
        raw[block] = {**raw[block], "bogus": 1}
        with pytest.raises(ConfigError, match=rf"{block}\.bogus: unknown key"):
            validate_config(raw)
    assert ExperimentConfig.model_config["extra"] == "forbid"


def _monitoring(where: str, monitor: str) -> dict:
    """The config changes that make early stopping or the reduce_on_plateau schedule watch ``monitor``."""
    if where == "training.early_stopping.monitor":
        return {"training": {"early_stopping": {"monitor": monitor}}}
    return {"optimizer": {"name": "adam", "schedule": {"type": "reduce_on_plateau", "monitor": monitor}}}


MONITOR_KEYS = ["training.early_stopping.monitor", "optimizer.schedule.monitor"]


@pytest.mark.parametrize("key", MONITOR_KEYS)
@pytest.mark.parametrize(
    "monitor, changes, match",
    [
        (
            "val_acc",
            {},
            r"{key}: 'val_acc' is not logged by this run \(did you mean 'val_accuracy'\?\); "
            r"monitor one of: loss, accuracy, val_loss, val_accuracy$",
        ),
        ("val_los", {}, r"{key}: 'val_los' is not logged by this run \(did you mean 'val_loss'\?\)"),
        ("val_auc", {}, r"{key}: 'val_auc' is not logged .*; or add 'auc' to `metrics:` to track it"),
        (
            "val_loss",
            {"dataset": {"name": "digits", "validation_split": 0}},
            r"{key}: 'val_loss' needs validation data but dataset\.validation_split is 0",
        ),
        (
            "val_accuracy",
            {"task": "regression", "loss": "mse", "metrics": None},
            r"{key}: 'val_accuracy' is not logged by this run; monitor one of: loss, mae, val_loss, val_mae$",
        ),
        (
            "val_rmse",
            {"metrics": None},
            r"{key}: 'val_rmse' is not logged by this run .*monitor one of: loss, accuracy, mae, val_loss, "
            r"val_accuracy, val_mae; or add 'rmse' to `metrics:` to track it \(no `task:` given, so the metrics "
            r"are the task's default: accuracy for binary/multiclass/multilabel, mae for regression\)",
        ),
        ("accuracy", {"metrics": ["mse"]}, r"{key}: 'accuracy' is not logged by this run"),
    ],
)
def test_a_monitor_must_be_logged_by_the_run(write_config, key: str, monitor: str, changes: dict, match: str) -> None:
    raw = digits_config(**_monitoring(key, monitor))
    raw.update(changes)
    with pytest.raises(ConfigError, match=match.replace("{key}", re.escape(key))) as info:
        load_config(write_config(raw))
    assert info.value.exit_code == 2


@pytest.mark.parametrize("key", MONITOR_KEYS)
@pytest.mark.parametrize(
    "monitor, changes",
    [
        ("loss", {}),
        ("val_loss", {}),
        ("val_accuracy", {}),
        ("loss", {"dataset": {"name": "digits", "validation_split": 0}}),
        ("val_auc", {"task": "binary", "loss": "binary_crossentropy", "metrics": ["accuracy", "auc"]}),
        ("val_mae", {"metrics": None}),  # the task is inferred later: mae is regression's default metric
    ],
)
def test_a_logged_monitor_is_accepted(key: str, monitor: str, changes: dict) -> None:
    raw = digits_config(**_monitoring(key, monitor))
    raw.update(changes)
    assert (key, monitor) in monitors(validate_config(raw))


@pytest.mark.parametrize("key", MONITOR_KEYS)
def test_the_monitor_is_checked_again_once_the_task_is_known(key: str) -> None:
    cfg = validate_config(digits_config(**_monitoring(key, "val_mae"), loss="mse", metrics=None))
    check_task(cfg, "regression")
    with pytest.raises(ValueError, match=rf"{re.escape(key)}: 'val_mae' is not logged by this run"):
        check_task(cfg, "multiclass")


def test_the_metric_names_are_the_registrys() -> None:
    assert set(typing.get_args(Metric)) == set(registry.EPOCH_METRIC_NAMES)


def test_positive_label_given_as_a_number_names_that_class(write_config) -> None:
    cfg = load_config(write_config(digits_config(dataset={"name": "digits", "positive_label": 1})))
    assert cfg.dataset.positive_label == "1"
