"""One typed config object for every gate.

Every threshold of the checklist is a named setting whose default is the checklist's own value, so a
site that configures nothing enforces exactly the binding checklist. Values come, in rising priority,
from the defaults, a TOML file (``calpolicy.toml`` in the working directory, ``CALPOLICY_CONFIG`` or an
explicit path) and ``CALPOLICY_<SECTION>__<KEY>`` environment variables. Each value remembers where it
came from so ``calpolicy config show`` can answer "why is this threshold what it is?".

Fail closed on the config itself (docs/configuration.md): numbers must be finite numbers (``true`` is not
1, ``inf`` is not a size), a value looser than the checklist needs a ``[waivers]`` entry, the file must be
a small regular file that only its owner (the running user or root) can write, and the keys that decide
*what* is probed (``SECURITY_KEYS``: commands, URLs, protected paths, waivers) cannot come from the
environment.

The package is split by reason to change: ``sections`` (the settings), ``model`` (the merged object and
the origin of each value), ``load`` (reading the file and the environment, what is refused, and the one TOML writer).
"""

from calpolicy.vocabulary.config.load import (
    DEFAULT_CONFIG_FILE,
    ENV_CONFIG_PATH,
    ENV_PREFIX,
    MAX_CONFIG_BYTES,
    SECURITY_KEYS,
    dumps_toml,
    load_config,
)
from calpolicy.vocabulary.config.model import Config, ConfigError
from calpolicy.vocabulary.config.sections import (
    CadenceConfig,
    CalibrationConfig,
    DataConfig,
    DeployConfig,
    DoctorConfig,
    MarketConfig,
    OperatorConfig,
    PathsConfig,
    ReadinessConfig,
    RedisConfig,
    SigningConfig,
    SystemdConfig,
    WatchConfig,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "ENV_CONFIG_PATH",
    "ENV_PREFIX",
    "MAX_CONFIG_BYTES",
    "SECURITY_KEYS",
    "CadenceConfig",
    "CalibrationConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "DeployConfig",
    "DoctorConfig",
    "MarketConfig",
    "OperatorConfig",
    "PathsConfig",
    "ReadinessConfig",
    "RedisConfig",
    "SigningConfig",
    "SystemdConfig",
    "WatchConfig",
    "dumps_toml",
    "load_config",
]
