"""Shared file handling: how every stage reads, parses and writes the files it trusts.

Owns no checklist item of its own; it is how the items that depend on a file being what it claims are
kept: ``safe_read`` (a fail-closed read: no symlink, FIFO or oversized file is ever "fine"; the job, config,
archive, history and lock files of P3.2 and P4.1), ``atomic_io`` (a crash-safe write: the new version of
P4.1.a and the archived old version of P4.1.b exist whole or not at all), ``pids`` (whether the process a
lock or claim file names is alive: the job store and the apply lock ask it the same way) and ``strict_json``
(every JSON read: a value or a ValueError, never a RecursionError; and a duplicated key is refused, never
resolved: the readiness body of P0.3 and the trade-log lines of P0.2).

May import: nothing of calpolicy (it sits below the vocabulary's users and beside the vocabulary).
"""
