"""The experiment config: schema (:mod:`.schema`) and loading (:mod:`.loading`). Nothing here imports Keras."""

from mlrun.config.changes import SMOKE_LIMIT, evolve, smoke_config
from mlrun.config.loading import (
    apply_overrides,
    config_to_dict,
    get_path,
    load_config,
    parse_path,
    read_yaml,
    set_path,
    validate_config,
)
from mlrun.config.schema import (
    KERAS_DATASETS,
    LAYER_TYPES,
    SKLEARN_DATASETS,
    CNNConfig,
    DatasetConfig,
    ExperimentConfig,
    MLPConfig,
    check_task,
    output_head,
)

__all__ = [
    "SMOKE_LIMIT",
    "evolve",
    "smoke_config",
    "KERAS_DATASETS",
    "LAYER_TYPES",
    "SKLEARN_DATASETS",
    "CNNConfig",
    "DatasetConfig",
    "ExperimentConfig",
    "MLPConfig",
    "apply_overrides",
    "check_task",
    "config_to_dict",
    "get_path",
    "load_config",
    "output_head",
    "parse_path",
    "read_yaml",
    "set_path",
    "validate_config",
]
