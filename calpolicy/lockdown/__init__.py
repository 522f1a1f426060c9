"""Phase 1, the lockdown: what keeps a calibration run from touching anything but its own job folder.

Owns P1.1.a-e (write protection) and P1.2.a-c (isolation):

- ``sandbox`` and ``seccomp``: the child the calibration runs in — bubblewrap namespaces, a read-only
  view, no network, no Redis, only a private read-only copy of the CLM log (P1.2.a-c), and an audit hook
  that names what the child tried (P1.1.a-e, each attempt reported with its item's ID);
- ``protected``: digests of the paths a run must never change, taken before and after (P1.1.a-d: model
  weights, ensemble weights, config files, Meta-Agent parameters), which also sees a change made by
  another process;
- ``engine_weights``: the ensemble weights the real engine would use with a given calibration file, so
  a change of file that changes the weights is named (P1.1.b) — by the run and again by apply.

May import: the vocabulary and ``calpolicy.files``; nothing of the phases after it.
"""
