"""P0.1.f backlog: the pending entries of every consumer group of the configured streams (``GroupBacklog``,
the figure decisions judges, lives in the vocabulary)."""

from __future__ import annotations

import redis

from calpolicy.preflight.probes.command import ProbeError
from calpolicy.preflight.probes.redis.connection import checked_type
from calpolicy.vocabulary.decisions import GroupBacklog

# ------------------------------------------------------------------------------------------ backlog


def stream_backlogs(client: redis.Redis, streams: tuple[str, ...], cap: int = 100_000) -> list[GroupBacklog]:
    """Pending entries and lag of every consumer group of each stream.

    No stream configured, a missing stream, or a stream without a consumer group is an error: each
    would otherwise read as "no backlog" with nothing measured.

    Redis reports ``lag`` as null when it cannot compute it cheaply (a group created at ``$``, deleted
    entries); then the entries after the group's last-delivered ID are counted, up to ``cap`` + 1.
    """
    if not streams:
        raise ProbeError("redis.backlog_streams is empty, so no backlog was measured (an empty source is not calm)")
    found: list[GroupBacklog] = []
    for stream in streams:
        kind = checked_type(client, stream)
        if kind == "none":
            raise ProbeError(f"stream {stream} does not exist in Redis (redis.backlog_streams)")
        if kind != "stream":
            raise ProbeError(f"key {stream} is a Redis {kind}, not a stream (redis.backlog_streams)")
        groups = client.xinfo_groups(stream)
        if not groups:
            raise ProbeError(
                f"stream {stream} has no consumer group, so its backlog cannot be measured "
                "(nobody consumes it, or redis.backlog_streams names the wrong stream)"
            )
        for info in groups:
            lag = info.get("lag")
            if lag is None:
                unread = client.xrange(stream, min=f"({info['last-delivered-id']}", max="+", count=cap + 1)
                lag = len(unread)
            found.append(GroupBacklog(stream, str(info["name"]), int(info["pending"]), int(lag)))
    return found
