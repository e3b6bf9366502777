"""The experiment config: the schema, one module per block, and reading it (:mod:`.loading`). No Keras here.

- :mod:`.dataset`, :mod:`.layers` (with the layer table), :mod:`.architectures`, :mod:`.optimizers`,
  :mod:`.training`, :mod:`.runtime`, :mod:`.evaluation`: the blocks;
- :mod:`.experiment`: the whole config and the checks that tie it to the task;
- :mod:`.loading` (YAML, ``--set``), :mod:`.paths` (dotted keys, YAML lines), :mod:`.messages` (error lines);
- :mod:`.changes`: validated changes to a loaded config.
"""

from mlrun.config.architectures import CNNConfig, LinearConfig, MLPConfig, ModelConfig, PerceptronConfig
from mlrun.config.base import Strict
from mlrun.config.changes import SMOKE_LIMIT, evolve, smoke_config
from mlrun.config.dataset import KERAS_DATASETS, NUCLEAR, SKLEARN_DATASETS, SYNTHETIC, CleaningConfig, DatasetConfig
from mlrun.config.experiment import (
    GAUSSIAN_LOSSES,
    TASK_LOSSES,
    ExperimentConfig,
    check_monitors,
    check_task,
    monitors,
    output_head,
    tracked_metrics,
    watches_validation,
)
from mlrun.config.layers import LAYERS, LayerSpec
from mlrun.config.loading import (
    apply_overrides,
    config_to_dict,
    load_config,
    locate_keys,
    read_yaml,
    validate_config,
)
from mlrun.config.paths import get_path, parse_path, set_path, yaml_line

__all__ = [
    "KERAS_DATASETS",
    "NUCLEAR",
    "LAYERS",
    "SKLEARN_DATASETS",
    "SMOKE_LIMIT",
    "SYNTHETIC",
    "GAUSSIAN_LOSSES",
    "TASK_LOSSES",
    "CNNConfig",
    "CleaningConfig",
    "DatasetConfig",
    "ExperimentConfig",
    "LayerSpec",
    "LinearConfig",
    "MLPConfig",
    "ModelConfig",
    "PerceptronConfig",
    "Strict",
    "apply_overrides",
    "check_monitors",
    "check_task",
    "config_to_dict",
    "evolve",
    "get_path",
    "load_config",
    "locate_keys",
    "monitors",
    "output_head",
    "parse_path",
    "read_yaml",
    "set_path",
    "smoke_config",
    "tracked_metrics",
    "validate_config",
    "watches_validation",
    "yaml_line",
]
