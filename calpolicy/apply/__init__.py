"""Phase 4.1, apply safety: the only code in calpolicy that writes to the live system.

Owns P4.1.a-d: ``deploy`` (approve and rollback — the new config validated with the loader's own parser,
stored as a new version (P4.1.a), the old one archived and read back first (P4.1.b), the swap atomic
under one lock), ``archive`` (every config that was ever live, byte for byte, findable by version:
P4.1.b), ``lock`` (the one exclusive lock approve and rollback take) and ``confirmation`` (the engine's
own evidence that it serves the new version: at most one restart, only if hot reload fails (P4.1.c),
and the version ID in its log (P4.1.d)). The history of applies lives with the job store
(``calpolicy.jobs.history``), because every job's state is read from it; the decision that gates an
apply (P3.2) is ``calpolicy.review.approval``.

May import: every phase before it (the review's approval, the calibration's types, the preflight's
probes for the journal), ``calpolicy.jobs``, ``calpolicy.files``, the vocabulary and the loader
distribution (``calpolicy.loader``).
"""
