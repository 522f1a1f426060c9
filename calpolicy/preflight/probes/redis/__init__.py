"""The bus: round-trip latency, consumer-group backlog and the halt/safety keys (P0.1.f, S.e).

Latency is measured the way ``redis-cli --latency`` does it — timed PINGs, one after another on one
connection — so the number means what the operators' command means. Every Redis failure (refused,
auth, timeout, a key of the wrong type) becomes ``ProbeError``: a bus we cannot read is not a calm bus.

Each probe runs under one wall-clock deadline (``redis.deadline_s``): a watchdog disconnects the pool when
it runs out, because socket timeouts are per read and a server answering one byte every 1.5 s never
trips a 2 s timeout. A server is believed to be Redis only after it echoes a random token back, and a
TYPE answer outside Redis's own vocabulary is an error: a fake that answers ``+PONG`` to everything must
read as "could not check", never as a tripped halt key.

Split by reason to change: ``connection`` (a deadline-bound connection that is really Redis), ``latency``
(P0.1.f: the PING sample and its figures, and the background sampler), ``backlog`` (P0.1.f: consumer-group
backlog) and ``halt`` (S.e: the halt keys). The public names are re-exported here.
"""

from calpolicy.preflight.probes.redis.backlog import stream_backlogs
from calpolicy.preflight.probes.redis.connection import DETAIL_CHARS, REDIS_TYPES, checked_type, connect
from calpolicy.preflight.probes.redis.halt import BOOLEAN_PATTERN, HaltState, boolean_halt, halt_state
from calpolicy.preflight.probes.redis.latency import LatencySampler, measure_latency
from calpolicy.vocabulary.decisions import GroupBacklog, LatencyStats, quantile_rank, stats_of

__all__ = [
    "BOOLEAN_PATTERN",
    "DETAIL_CHARS",
    "REDIS_TYPES",
    "GroupBacklog",
    "HaltState",
    "LatencySampler",
    "LatencyStats",
    "boolean_halt",
    "checked_type",
    "connect",
    "halt_state",
    "measure_latency",
    "quantile_rank",
    "stats_of",
    "stream_backlogs",
]
