"""The run context: what one run carries from the preflight to the signed job, and the config it runs with.

Why a module of its own: the parameters a run threads through its steps (config, the children's
environment, the preflight, operator, seed, deadlines, timings) are one object, ``RunContext``, and the
config the children see is exactly the parent's (``_effective``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from calpolicy.jobs import (
    JobStore,
    canonical_json,
)
from calpolicy.preflight import PreflightRun
from calpolicy.vocabulary.config import Config, dumps_toml, load_config


def config_json(config: Config) -> str:
    """The effective config's canonical JSON: what ``config_digest`` (and the signed statement) cover."""
    return canonical_json(config.as_dict())


@contextlib.contextmanager
def _effective(config: Config | str | os.PathLike[str] | None) -> Iterator[tuple[Config, Path | None, dict[str, str]]]:
    """The config for this process and what the child processes need to see exactly the same one."""
    if not isinstance(config, Config):
        path = None if config is None else Path(config)
        yield load_config(path), path, dict(os.environ)
        return
    with tempfile.TemporaryDirectory(prefix="calpolicy-run-config-") as tmp:
        path = Path(tmp) / "calpolicy.toml"
        path.write_text(dumps_toml(config.as_dict()), encoding="utf-8")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CALPOLICY_")}
        yield config, path, environ  # the file is the whole truth: no CALPOLICY_* layered on top


@dataclass
class RunContext:
    """What one run carries from the preflight to the signed job; ``timings`` fills in as it goes."""

    config: Config
    config_path: Path | None
    environ: dict[str, str]
    preflight: PreflightRun
    operator: str | None
    on_call_until: str | None
    seed: int
    timeout_s: float
    timings: dict[str, float]
    started: float
    task: str


def job_store(config: Config) -> JobStore:
    return JobStore(config.paths.jobs_dir)
