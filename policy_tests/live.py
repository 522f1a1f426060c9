"""Helpers the live policy tests share: probe errors become "could not check", never a pass or a skip."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis

from calpolicy.plugin import CouldNotCheck
from calpolicy.preflight.probes import ProbeError
from calpolicy.preflight.probes.redis.connection import connect
from calpolicy.vocabulary.config import Config

T = TypeVar("T")


def probe(what: str, call: Callable[[], T]) -> T:
    """Run a probe; its ``ProbeError`` becomes ``CouldNotCheck("could not check <what>: ...")``."""
    try:
        return call()
    except ProbeError as error:
        raise CouldNotCheck(f"could not check {what}: {error}") from None


def with_redis(config: Config, what: str, call: Callable[[redis.Redis], T], extra_s: float = 0.0) -> T:
    """Run ``call`` on a fresh Redis connection under the probe deadline (``redis.deadline_s`` + ``extra_s``).

    Any Redis failure on the way, and running out of time, is "could not check".
    """

    def run() -> T:
        with connect(config.redis, extra_s=extra_s) as client:
            return call(client)

    return probe(what, run)
