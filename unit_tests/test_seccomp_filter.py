"""The seccomp program, run instruction by instruction against the kernel's own numbers (issue 21 §5).

``test_sandbox_bypasses.py`` proves the filter works in the real kernel for a handful of calls on this
machine. Here the whole program is run in-process by a small classic-BPF interpreter (the five opcodes
the filter uses; any other opcode fails the test) for every call and both architectures, with the
system call numbers read from the kernel's headers (``linux-libc-dev``), not from the table under test:
a wrong number, a jump off by one or a mode read from the wrong argument changes a verdict here.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calpolicy.lockdown import seccomp

# the kernel's ABI constants (include/uapi/linux/seccomp.h, audit.h, errno.h), written out independently
ALLOW = 0x7FFF0000
KILL_PROCESS = 0x80000000
EPERM_RETURN = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
ENOSYS_RETURN = 0x00050000 | 38  # SECCOMP_RET_ERRNO | ENOSYS (asm-generic/errno.h: the same on both)
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}  # EM_X86_64 62 / EM_AARCH64 183, 64-bit, LE
X32_BIT = 0x40000000
HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),  # arm64 uses the generic table
}
NEWER = {"fchmodat2": 452}  # Linux 6.6; older headers (Debian 12's) do not have it yet: same on both

DENIED = {
    "ptrace", "keyctl", "add_key", "request_key", "userfaultfd", "bpf", "perf_event_open", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "mount", "umount2", "pivot_root",
    "swapon", "swapoff", "reboot", "setns", "unshare", "acct", "open_by_handle_at", "name_to_handle_at",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
}  # fmt: skip
DENIED_HERE = {"x86_64": DENIED | {"fork", "vfork"}, "aarch64": DENIED}  # arm64 has no fork/vfork call
PROCESS_CALLS = {"clone", "clone3"}  # judged apart: threads only, and "not implemented"
MODE_ARG = {"x86_64": {"chmod": 1, "fchmod": 1, "fchmodat": 2, "fchmodat2": 2},
            "aarch64": {"fchmod": 1, "fchmodat": 2, "fchmodat2": 2}}  # fmt: skip


def syscall_numbers(machine: str) -> dict[str, int]:
    """``{name: number}`` from the kernel's header for ``machine`` (plus calls newer than the headers)."""
    header = HEADERS[machine]
    assert header.is_file(), f"the tests need the kernel headers ({header}: Debian package linux-libc-dev)"
    found = {m[1]: int(m[2]) for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)\s*$", header.read_text(), re.M)}
    return {**NEWER, **found}


def run(program: bytes, nr: int, arch: int, args: tuple[int, ...] = (0,) * 6) -> int:
    """What the filter returns for one call: a classic-BPF interpreter over ``struct seccomp_data``."""
    data = struct.pack("=iIQ6Q", nr, arch, 0x1234, *args)
    assert len(program) % 8 == 0
    code_at = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = code_at[pc]
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS: 32 bits of seccomp_data at offset k
            acc, pc = struct.unpack_from("=I", data, k)[0], pc + 1
        elif code == 0x15:  # BPF_JMP | BPF_JEQ | BPF_K
            pc += 1 + (jt if acc == k else jf)
        elif code == 0x35:  # BPF_JMP | BPF_JGE | BPF_K
            pc += 1 + (jt if acc >= k else jf)
        elif code == 0x45:  # BPF_JMP | BPF_JSET | BPF_K
            pc += 1 + (jt if acc & k else jf)
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"opcode {code:#x} at {pc} is not one the filter should use")


MACHINES = pytest.mark.parametrize("machine", ["x86_64", "aarch64"])


@MACHINES
def test_every_denied_call_fails_with_eperm_under_its_kernel_number(machine: str) -> None:
    program, numbers = seccomp.program(machine), syscall_numbers(machine)
    assert program is not None
    for name in sorted(DENIED_HERE[machine]):
        assert run(program, numbers[name], AUDIT_ARCH[machine]) == EPERM_RETURN, name
    assert seccomp.denied_calls(machine) == sorted(DENIED_HERE[machine])


@MACHINES
def test_every_other_call_is_allowed(machine: str) -> None:
    """The filter is narrow: each call in the header that is neither denied nor mode-checked goes through,
    whatever its arguments."""
    program, numbers = seccomp.program(machine), syscall_numbers(machine)
    assert program is not None
    judged = DENIED_HERE[machine] | PROCESS_CALLS | set(MODE_ARG[machine])
    others = {name: nr for name, nr in numbers.items() if name not in judged}
    assert len(others) > 200
    for name, nr in sorted(others.items()):
        assert run(program, nr, AUDIT_ARCH[machine], (0o6777,) * 6) == ALLOW, name


@MACHINES
def test_a_set_id_bit_in_the_mode_argument_is_refused_and_only_there(machine: str) -> None:
    program, numbers = seccomp.program(machine), syscall_numbers(machine)
    assert program is not None
    arch = AUDIT_ARCH[machine]
    for name, index in MODE_ARG[machine].items():
        nr = numbers[name]

        def mode(value: int, index: int = index) -> tuple[int, ...]:
            args = [0o644] * 6
            args[index] = value
            return tuple(args)

        for setid in (0o4755, 0o2755, 0o6000, 0o4000, 0o2000, 0o104755):
            assert run(program, nr, arch, mode(setid)) == EPERM_RETURN, (name, oct(setid))
        for plain in (0o755, 0o644, 0o1777, 0o777, 0):
            assert run(program, nr, arch, mode(plain)) == ALLOW, (name, oct(plain))
        # the mode is read from its own argument: a set-id bit in any other argument changes nothing
        others = tuple(0o6777 if i != index else 0o755 for i in range(6))
        assert run(program, nr, arch, others) == ALLOW, name
        # a mode whose value is another checked call's number is still this call's mode: the filter must
        # not fall through into that call's check (which reads another argument) with the mode loaded
        for other in MODE_ARG[machine]:
            value = numbers[other]
            assert not value & 0o6000
            args = tuple(value if i == index else 0o6777 for i in range(6))
            assert run(program, nr, arch, args) == ALLOW, (name, other)
        # only the low 32 bits are the mode (little-endian): bits above them are not a set-id bit
        assert run(program, nr, arch, mode(0o6000 << 32)) == ALLOW, name
    if machine == "aarch64":
        assert "chmod" not in numbers  # arm64 has only the *at and f* forms


@MACHINES
def test_another_architecture_or_abi_is_killed(machine: str) -> None:
    program = seccomp.program(machine)
    assert program is not None
    numbers = syscall_numbers(machine)
    for arch in {*AUDIT_ARCH.values(), 0x40000003, 0}:  # the other machine, i386, none
        if arch != AUDIT_ARCH[machine]:
            assert run(program, numbers["read"], arch) == KILL_PROCESS, hex(arch)
            assert run(program, numbers["ptrace"], arch) == KILL_PROCESS, hex(arch)
    x32 = run(program, X32_BIT | numbers["read"], AUDIT_ARCH[machine])
    assert x32 == (KILL_PROCESS if machine == "x86_64" else ALLOW)
    assert run(program, X32_BIT - 1, AUDIT_ARCH[machine]) == ALLOW


def test_the_program_is_small_and_unknown_machines_get_none() -> None:
    for machine in ("x86_64", "aarch64"):
        program = seccomp.program(machine)
        assert program is not None
        assert 8 * 40 < len(program) < 8 * 4096
        assert program[-8:] == struct.pack("=HBBI", 0x06, 0, 0, ALLOW)
    for unknown in ("mips", "riscv64", "i686", ""):
        assert seccomp.program(unknown or "none") is None
        assert seccomp.denied_calls(unknown or "none") == []
    here = os.uname().machine
    assert seccomp.program() == seccomp.program(here)
    assert seccomp.denied_calls() == seccomp.denied_calls(here)
    assert (seccomp.program() is None) == (here not in AUDIT_ARCH)


# clone's flags (include/uapi/linux/sched.h), written out independently
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_VFORK, CLONE_PARENT, CLONE_THREAD, CLONE_NEWNS = 0x4000, 0x8000, 0x10000, 0x20000
CLONE_SYSVSEM, CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID = 0x40000, 0x80000, 0x100000, 0x200000
CLONE_CHILD_SETTID, CLONE_NEWUSER, CLONE_NEWPID = 0x1000000, 0x10000000, 0x20000000
SIGCHLD = 17
# what glibc 2.36 passes (seen with strace on this machine): pthread_create, fork(), vfork-style posix_spawn
PTHREAD_FLAGS = (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS
                 | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)  # fmt: skip
FORK_FLAGS = CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | SIGCHLD
SPAWN_FLAGS = CLONE_VM | CLONE_VFORK | SIGCHLD


def clone_call(flags: int, rest: int = 0) -> tuple[int, ...]:
    return (flags, rest, rest, rest, rest, rest)


@MACHINES
def test_clone_makes_threads_only(machine: str) -> None:
    """``clone`` goes through exactly when its flags' low 32 bits (all the kernel reads) hold CLONE_THREAD."""
    program, numbers = seccomp.program(machine), syscall_numbers(machine)
    assert program is not None
    arch, clone = AUDIT_ARCH[machine], numbers["clone"]
    for flags in (PTHREAD_FLAGS, CLONE_THREAD, CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, 0xFFFFFFFF,
                  PTHREAD_FLAGS | (0xFFFF << 32), CLONE_THREAD | (1 << 63)):  # fmt: skip
        assert run(program, clone, arch, clone_call(flags)) == ALLOW, hex(flags)
    for flags in (FORK_FLAGS, SPAWN_FLAGS, 0, SIGCHLD, CLONE_VM | CLONE_SIGHAND, CLONE_PARENT | SIGCHLD,
                  CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS, PTHREAD_FLAGS & ~CLONE_THREAD, 0xFFFFFFFF & ~CLONE_THREAD,
                  CLONE_THREAD << 32, FORK_FLAGS | (CLONE_THREAD << 32), 0xFFFFFFFF00000000):  # fmt: skip
        assert run(program, clone, arch, clone_call(flags)) == EPERM_RETURN, hex(flags)
    # the flags are argument 0: CLONE_THREAD in any other argument makes no thread
    assert run(program, clone, arch, clone_call(FORK_FLAGS, rest=0xFFFFFFFF)) == EPERM_RETURN
    # flags whose value is another judged call's number are still flags (no fall-through into its rule)
    for name in ("clone3", *MODE_ARG[machine], *sorted(DENIED_HERE[machine])):
        assert run(program, clone, arch, clone_call(numbers[name])) == EPERM_RETURN, name
        assert run(program, clone, arch, clone_call(numbers[name] | CLONE_THREAD)) == ALLOW, name


@MACHINES
def test_clone3_is_not_implemented_whatever_it_is_given(machine: str) -> None:
    """``clone3``'s flags are in memory the filter cannot read: ENOSYS, so the C library falls back to clone."""
    program, numbers = seccomp.program(machine), syscall_numbers(machine)
    assert program is not None
    assert numbers["clone3"] == 435
    for args in ((0,) * 6, (0x7FFD12345678, 88, 0, 0, 0, 0), (PTHREAD_FLAGS,) * 6, (0xFFFFFFFFFFFFFFFF,) * 6):
        assert run(program, numbers["clone3"], AUDIT_ARCH[machine], args) == ENOSYS_RETURN, args


@MACHINES
def test_fork_and_vfork_fail_where_they_exist(machine: str) -> None:
    program, numbers = seccomp.program(machine), syscall_numbers(machine)
    assert program is not None
    if machine == "aarch64":
        assert "fork" not in numbers  # arm64 forks only through clone
        assert "vfork" not in numbers
        return
    for name in ("fork", "vfork"):
        for args in ((0,) * 6, (CLONE_THREAD,) * 6, (PTHREAD_FLAGS,) * 6):
            assert run(program, numbers[name], AUDIT_ARCH[machine], args) == EPERM_RETURN, name


@MACHINES
def test_a_mode_equal_to_a_process_calls_number_is_still_a_mode(machine: str) -> None:
    """The mode checks come before the process rules: a chmod whose mode is clone's or clone3's number is
    judged as a chmod (allowed: no set-id bit), never as that call."""
    program, numbers = seccomp.program(machine), syscall_numbers(machine)
    assert program is not None
    for name, index in MODE_ARG[machine].items():
        for value in (numbers["clone"], numbers["clone3"]):
            args = tuple(value if i == index else 0 for i in range(6))
            assert run(program, numbers[name], AUDIT_ARCH[machine], args) == ALLOW, (name, value)


WORD = st.integers(min_value=0, max_value=(1 << 64) - 1)


@MACHINES
@settings(max_examples=300, deadline=None)
@given(flags=WORD, rest=st.tuples(WORD, WORD, WORD, WORD, WORD))
def test_any_clone_is_allowed_exactly_when_its_low_flags_hold_clone_thread(
    machine: str, flags: int, rest: tuple[int, ...]
) -> None:
    program, numbers = seccomp.program(machine), syscall_numbers(machine)
    assert program is not None
    arch = AUDIT_ARCH[machine]
    verdict = run(program, numbers["clone"], arch, (flags, *rest))
    assert verdict == (ALLOW if flags & 0xFFFFFFFF & CLONE_THREAD else EPERM_RETURN)
    assert run(program, numbers["clone3"], arch, (flags, *rest)) == ENOSYS_RETURN
