"""A run's configuration: typed sections (``sections.py``) read from YAML (``loader.py``)."""

from siamface.config.loader import (
    CONFIG_ALIASES,
    CONFIG_DIR,
    list_configs,
    load_config,
    load_resolved,
    parse_override,
    save_resolved,
)
from siamface.config.sections import (
    AugmentConfig,
    Config,
    DataConfig,
    EarlyStoppingConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
)
from siamface.errors import ConfigError

__all__ = [
    "CONFIG_ALIASES",
    "CONFIG_DIR",
    "AugmentConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "EarlyStoppingConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "list_configs",
    "load_config",
    "load_resolved",
    "parse_override",
    "save_resolved",
]
