"""The shared vocabulary: what every stage of the checklist says and decides with.

Owns the checklist as data and the words every gate answers in, not any one phase:

- ``controls``: the one registry of control IDs — every checklist item (P0.1.a … P4.2.d, S.a … S.f) and
  the extra ``CLM.*`` data checks — and where each is enforced (the traceability the README lists);
- ``config``: every threshold of the checklist as a named, typed setting whose default is the checklist's
  own value (P0.2.b ``cadence.min_trades``, P0.1.f ``redis.max_latency_ms``, the P2.2 bounds, the P4.2
  watch limits ...);
- ``waivers``: the only way to loosen one of those values (explicit, dated, signed off);
- ``verdict``: findings and verdicts — "If one check fails → STOP", and "could not check" is never "fine";
- ``decisions``: the comparisons between a measured value and its bound as pure functions (P0.1.f,
  P2.2.a-c), testable at exactly their boundary;
- ``render``: the one-screen GO/STOP text of a verdict, the same in the CLI and in pytest.

May import: nothing of calpolicy outside the vocabulary (contract ``vocabulary`` in pyproject.toml).
"""
