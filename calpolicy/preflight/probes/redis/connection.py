"""A connection that is really Redis, under one wall-clock deadline; every failure a ``ProbeError``.

Why a module of its own: how calpolicy talks to the bus (the watchdog, the echo check, the TYPE vocabulary,
the translated errors) changes with redis-py and with the attacks on it, not with what is measured.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from calpolicy.preflight.probes.command import ProbeError
from calpolicy.preflight.probes.urls import mask_url
from calpolicy.vocabulary.config import RedisConfig

REDIS_TYPES = frozenset({"none", "string", "list", "set", "zset", "hash", "stream", "ReJSON-RL", "TSDB-TYPE"})


class _Watchdog:
    """Disconnects every connection of a pool at the deadline, so a blocked read returns at once."""

    def __init__(self, pool: redis.ConnectionPool, seconds: float) -> None:
        self.fired = False
        self._pool = pool
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        # a half-built connection may fail to close; the read it blocks still returns
        with contextlib.suppress(Exception):
            self._pool.disconnect()

    def cancel(self) -> None:
        self._timer.cancel()


@contextmanager
def connect(config: RedisConfig, extra_s: float = 0.0) -> Iterator[redis.Redis]:
    """One verified connection under one deadline (``deadline_s`` + ``extra_s``); errors → ``ProbeError``."""
    budget = config.deadline_s + extra_s
    try:
        pool = redis.ConnectionPool.from_url(
            config.url,
            socket_timeout=config.timeout_s,
            socket_connect_timeout=config.timeout_s,
            decode_responses=True,
            retry_on_timeout=False,
            retry=None,
        )
    except ValueError as error:
        raise ProbeError(f"redis.url {mask_url(config.url)} is not a usable Redis URL: {error}") from None
    watchdog = _Watchdog(pool, budget)
    client = redis.Redis(connection_pool=pool)
    try:
        _verify_is_redis(client, config)
        yield client
    except ProbeError:
        if watchdog.fired:
            raise _overran(config, budget) from None
        raise
    except Exception as error:
        if watchdog.fired:
            raise _overran(config, budget) from None
        if isinstance(error, redis.RedisError):
            raise _translated(error, config) from None
        if isinstance(error, AttributeError | TypeError | ValueError | KeyError | IndexError):
            raise ProbeError(  # redis-py choked on a reply: the server's answer, not ours, is malformed
                f"Redis at {_safe(config.url)} sent a reply that cannot be interpreted "
                f"({type(error).__name__}: {str(error)[:120]})"
            ) from None
        raise
    finally:
        watchdog.cancel()
        client.close()
        pool.disconnect()


def _overran(config: RedisConfig, budget: float) -> ProbeError:
    return ProbeError(
        f"Redis at {_safe(config.url)} did not finish within the probe's overall deadline of {budget:g} s "
        f"(redis.deadline_s): the server answers too slowly"
    )


def _verify_is_redis(client: redis.Redis, config: RedisConfig) -> None:
    """Connect (redis-py's HELLO handshake) and ECHO a random token: only Redis gets both right."""
    token = secrets.token_hex(8)
    try:
        answer = client.echo(token)
    except redis.exceptions.InvalidResponse as error:  # redis-py >= 5 names a malformed reply itself
        raise _not_redis(config, error) from None
    except redis.RedisError:
        raise
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as error:  # older redis-py chokes
        raise _not_redis(config, error) from None
    if answer != token:
        raise ProbeError(
            f"the server at {_safe(config.url)} does not behave like Redis (ECHO {token} answered "
            f"{str(answer)[:60]!r}): nothing it says can be trusted"
        )


def _not_redis(config: RedisConfig, error: Exception) -> ProbeError:
    """Our message for a handshake reply Redis never sends; redis-py's own words are quoted, cut at 120
    characters, whatever they are (they differ between releases)."""
    return ProbeError(
        f"the server at {_safe(config.url)} answered the Redis handshake with something Redis never "
        f"sends ({type(error).__name__}: {str(error)[:DETAIL_CHARS]}): it does not behave like Redis"
    )


DETAIL_CHARS = 120


def checked_type(client: redis.Redis, key: str) -> str:
    kind = str(client.type(key))
    if kind not in REDIS_TYPES:
        raise ProbeError(f"Redis answered TYPE {key} with {kind[:60]!r}, which is not a Redis type")
    return kind


def _translated(error: redis.RedisError, config: RedisConfig) -> ProbeError:
    where = _safe(config.url)
    if isinstance(error, redis.AuthenticationError):
        return ProbeError(f"Redis at {where} refused our credentials: {error}")
    if isinstance(error, redis.TimeoutError):
        return ProbeError(f"Redis at {where} did not answer within {config.timeout_s:g} s: {error}")
    if isinstance(error, redis.ConnectionError):
        return ProbeError(f"cannot connect to Redis at {where}: {error}")
    if isinstance(error, redis.ResponseError):
        return ProbeError(f"Redis at {where} answered with an error: {error}")
    return ProbeError(f"Redis at {where} failed: {error}")


def _safe(url: str) -> str:
    """The URL without user name or password, for messages (the one masking every probe uses)."""
    return mask_url(url)
