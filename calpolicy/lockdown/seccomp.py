"""A small seccomp filter for the calibration child: an extra layer under bubblewrap, not the wall.

bubblewrap already leaves the child without capabilities, in its own namespaces, with a read-only view.
This filter closes what those leave open (docs/lockdown.md):

- **setuid and setgid bits**: the child's files belong to the caller's uid (root, for a root run); a
  ``chmod(…, 04755)`` in the job folder would make a root-owned setuid program for as long as the run
  lasts. ``chmod``, ``fchmod``, ``fchmodat`` and ``fchmodat2`` with ``S_ISUID`` or ``S_ISGID`` fail (EPERM);
- **kernel keyrings** (``keyctl``, ``add_key``, ``request_key``): the session keyring is inherited;
- **kernel attack surface** no calibration needs: ``ptrace``, ``bpf``, ``perf_event_open``,
  ``userfaultfd``, ``io_uring_*`` (its operations bypass seccomp), ``open_by_handle_at``, module and
  kexec loading, mounts (old and new API), ``setns``, ``unshare``, swap, ``reboot``, ``acct``;
- **new processes**: the calibration needs threads (numpy's OpenBLAS, scikit-learn), never a process.
  ``fork`` and ``vfork`` fail (EPERM); ``clone`` fails (EPERM) unless its flags (argument 0; the kernel
  reads only its low 32 bits) hold ``CLONE_THREAD``, which the kernel allows only with ``CLONE_SIGHAND``
  and ``CLONE_VM``: a thread of the same process, ended with it. ``clone3`` passes its flags in memory,
  which seccomp cannot read, so it fails with ENOSYS ("not implemented"): glibc then falls back to
  ``clone`` for ``pthread_create``, ``fork`` and ``posix_spawn``, and the rule above judges that. A fork
  bomb in the child starts nothing (the PID namespace would still end what it started, but only at the
  end of the run); a thread bomb is not bounded here (docs/lockdown.md);
- **other system call ABIs**: any architecture but the native one is killed, and on x86_64 the x32 ABI
  too, so the same calls cannot be made under other numbers.

The program is classic BPF, built here (no libseccomp), and handed to ``bwrap --seccomp FD``. Only
x86_64 and aarch64 are known; elsewhere ``program()`` returns None and the sandbox runs without it
(and says so).
"""

from __future__ import annotations

import errno
import os
import struct

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
ALLOW = 0x7FFF0000
KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000
_SETID_BITS = 0o6000  # S_ISUID | S_ISGID
_X32_BIT = 0x40000000
CLONE_THREAD = 0x00010000

# the new mount API, io_uring and clone3 share one number on every architecture
_COMMON = {
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
}  # fmt: skip
_CLONE3 = 435
_TABLES: dict[str, tuple[int, dict[str, int], dict[str, tuple[int, int]], int]] = {
    # machine: (AUDIT_ARCH, denied {name: nr}, mode-checked {name: (nr, index of the mode argument)}, clone's nr)
    # (arm64 has no fork or vfork call: its C library forks through clone)
    "x86_64": (
        0xC000003E,
        {
            "ptrace": 101, "keyctl": 250, "add_key": 248, "request_key": 249, "userfaultfd": 323, "bpf": 321,
            "perf_event_open": 298, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
            "finit_module": 313, "delete_module": 176, "mount": 165, "umount2": 166, "pivot_root": 155,
            "swapon": 167, "swapoff": 168, "reboot": 169, "setns": 308, "unshare": 272, "acct": 163,
            "open_by_handle_at": 304, "name_to_handle_at": 303, "fork": 57, "vfork": 58, **_COMMON,
        },
        {"chmod": (90, 1), "fchmod": (91, 1), "fchmodat": (268, 2), "fchmodat2": (452, 2)},
        56,
    ),
    "aarch64": (
        0xC00000B7,
        {
            "ptrace": 117, "keyctl": 219, "add_key": 217, "request_key": 218, "userfaultfd": 282, "bpf": 280,
            "perf_event_open": 241, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
            "finit_module": 273, "delete_module": 106, "mount": 40, "umount2": 39, "pivot_root": 41,
            "swapon": 224, "swapoff": 225, "reboot": 142, "setns": 268, "unshare": 97, "acct": 89,
            "open_by_handle_at": 265, "name_to_handle_at": 264, **_COMMON,
        },
        {"fchmod": (52, 1), "fchmodat": (53, 2), "fchmodat2": (452, 2)},
        220,
    ),
}  # fmt: skip


def _op(code: int, k: int = 0, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _arg_low(index: int) -> int:
    """Offset of argument ``index``'s low 32 bits in ``struct seccomp_data`` (little-endian machines)."""
    return 16 + 8 * index


def program(machine: str | None = None) -> bytes | None:
    """The filter for ``machine`` (default: this one) as raw ``struct sock_filter``s, or None if unknown."""
    table = _TABLES.get(machine or os.uname().machine)
    if table is None:
        return None
    arch, denied, mode_checked, clone = table
    deny = _op(_RET, _ERRNO | errno.EPERM)
    out = [_op(_LD_W_ABS, 4), _op(_JEQ, arch, jt=1), _op(_RET, KILL_PROCESS), _op(_LD_W_ABS, 0)]
    if arch == 0xC000003E:  # x86_64: the x32 ABI numbers the same calls differently
        out += [_op(_JGE, _X32_BIT, jf=1), _op(_RET, KILL_PROCESS)]
    for nr in sorted(denied.values()):
        out += [_op(_JEQ, nr, jf=1), deny]
    for nr, index in sorted(mode_checked.values()):
        # nr? then load the mode: a set-id bit → EPERM, else allow (the accumulator no longer holds nr)
        out += [_op(_JEQ, nr, jf=4), _op(_LD_W_ABS, _arg_low(index)), _op(_JSET, _SETID_BITS, jf=1), deny,
                _op(_RET, ALLOW)]  # fmt: skip
    # clone3's flags are in memory seccomp cannot read: "not implemented" makes the C library use clone
    out += [_op(_JEQ, _CLONE3, jf=1), _op(_RET, _ERRNO | errno.ENOSYS)]
    # clone: a thread (CLONE_THREAD in the flags' low 32 bits, all the kernel reads) or nothing
    out += [_op(_JEQ, clone, jf=4), _op(_LD_W_ABS, _arg_low(0)), _op(_JSET, CLONE_THREAD, jf=1), _op(_RET, ALLOW),
            deny]  # fmt: skip
    out.append(_op(_RET, ALLOW))
    return b"".join(out)


def denied_calls(machine: str | None = None) -> list[str]:
    """The names of the calls the filter refuses outright with EPERM (for the docs and the tests); ``clone``
    (all but threads) and ``clone3`` (ENOSYS) are judged apart."""
    table = _TABLES.get(machine or os.uname().machine)
    return [] if table is None else sorted(table[1])
