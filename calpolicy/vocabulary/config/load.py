"""Where config values come from: the defaults, a TOML file, ``CALPOLICY_<SECTION>__<KEY>`` variables.

Why a module of its own: the file must be a small regular file only its owner can write, and the keys
that decide *what* is probed (``SECURITY_KEYS``) cannot come from the environment — the refusals that change
when the threat model does, apart from the settings themselves.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import tomli_w

from calpolicy.vocabulary.config.model import Config, ConfigError, Origin, _build, _unflatten

DEFAULT_CONFIG_FILE = "calpolicy.toml"
ENV_CONFIG_PATH = "CALPOLICY_CONFIG"
ENV_PREFIX = "CALPOLICY_"
MAX_CONFIG_BYTES = 1 << 20  # a config file is a few KB; anything larger is not one
# Keys (or whole sections, ending in ".") an environment variable may not set: they decide what runs
# (command_prefix), what is asked (URLs), what is read as evidence or protected (paths) and what is waived.
SECURITY_KEYS: tuple[str, ...] = (
    "systemd.command_prefix",
    "systemd.execution_log_files",
    "redis.url",
    "readiness.url",
    "paths.protected_paths",
    "paths.calibration_file",
    "paths.config_dir",
    "paths.archive_dir",
    "signing.",
    "waivers",
    "doctor.engine_python",
)


def dumps_toml(tree: Mapping[str, Any]) -> str:
    """A config tree as TOML text that ``load_config`` reads back to the same values (tomli-w writes it).

    The one TOML writer: ``run_job(Config)`` gives its child processes the effective config this way, and
    the local environment and the tests write their ``calpolicy.toml`` with it. Paths become strings; a
    ``None`` is refused with its key named, because TOML has no null and leaving the key out would let the
    default stand in for a value nobody chose.
    """
    return tomli_w.dumps(_toml_value(tree, ""))


def _toml_value(value: Any, where: str) -> Any:
    if value is None:
        raise TypeError(f"{where or 'the config'} is None, which TOML cannot write (it has no null)")
    if isinstance(value, Mapping):
        return {str(key): _toml_value(item, f"{where}.{key}" if where else str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_toml_value(item, f"{where}[{index}]") for index, item in enumerate(value)]
    return str(value) if isinstance(value, PurePath) else value


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse a config file that is a small regular file only its owner (us or root) can change.

    Opened non-blocking so a FIFO cannot hang the open, checked on the open descriptor (no swap between
    check and read), and read to at most ``MAX_CONFIG_BYTES`` + 1 so ``/dev/zero`` cannot fill memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        _refuse_unsafe_file(path, info)
        data = b""
        while len(data) <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not a config file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {error.start}: {data[error.start : error.start + 1]!r}); "
            "TOML files must be UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} nests arrays or tables too deeply: not a config file") from None


def _refuse_unsafe_file(path: Path, info: os.stat_result) -> None:
    """Like ssh with its keys: a config that someone else could have written is not evidence of intent."""
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config file {path} is not a regular file (a FIFO, device or directory is refused)")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"config file {path} is writable by its group or by everyone (mode {stat.S_IMODE(info.st_mode):o}): "
            f"refused; run `chmod go-w {path}`"
        )
    if info.st_uid not in (os.geteuid(), 0):
        raise ConfigError(
            f"config file {path} is owned by uid {info.st_uid}, not by the running user "
            f"(uid {os.geteuid()}) or root: refused"
        )


def _env_layer(environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``CALPOLICY_REDIS__TIMEOUT_S=3`` → ``{"redis": {"timeout_s": 3}}``; values parse as JSON where they can.

    Each key's origin names its variable, so a bad value points at the exact thing to unset.
    """
    flat: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_PATH or "__" not in name:
            continue
        dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        if any(dotted == k or dotted.startswith(k if k.endswith(".") else k + ".") for k in SECURITY_KEYS):
            raise ConfigError(
                f"environment variable {name} sets '{dotted}', a security-relevant key that only a config "
                "file may set (see docs/configuration.md); unset it"
            )
        try:
            value: Any = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON (or nested past parsing): the text itself
            value = raw
        flat[dotted] = value
        origins[dotted] = f"environment {name}"
    return _unflatten(flat), origins


def load_config(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Config:
    """The effective config: defaults, then the TOML file, then ``CALPOLICY_*`` variables.

    An explicit ``path`` (or ``CALPOLICY_CONFIG``) must exist; ``calpolicy.toml`` in the working directory
    is read only when present, so an unconfigured host runs on the checklist's values.
    """
    env = dict(os.environ if environ is None else environ)
    layers: list[tuple[dict[str, Any], Origin]] = []
    chosen = path if path is not None else env.get(ENV_CONFIG_PATH)
    if chosen is not None:
        file_path = Path(chosen)
        layers.append((_read_toml(file_path), str(file_path)))
    elif Path(DEFAULT_CONFIG_FILE).exists():
        layers.append((_read_toml(Path(DEFAULT_CONFIG_FILE)), DEFAULT_CONFIG_FILE))
    env_layer, env_origins = _env_layer(env)
    if env_layer:
        layers.append((env_layer, env_origins))
    return _build(layers, {})
