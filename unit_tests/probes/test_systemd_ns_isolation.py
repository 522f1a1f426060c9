"""Two systemd namespaces at once (parallel test runs) do not share unit cgroups.

Before each namespace got its own cgroup, both used the host's system.slice/<unit>.service, and a unit
stopped in one stayed loaded while the other's process sat in that cgroup (remove_unit timed out).
"""

from __future__ import annotations

from pathlib import Path

from calpolicy.localenv.systemd_ns import SystemdNamespace

CODE = "import time\nprint('up', flush=True)\ntime.sleep(600)\n"


def test_a_unit_is_removed_while_another_namespace_runs_the_same_unit() -> None:
    with SystemdNamespace() as first, SystemdNamespace() as second:
        first.start_python("quantum-ai-engine", CODE)
        second.start_python("quantum-ai-engine", CODE)
        first.remove_unit("quantum-ai-engine")  # times out if the second namespace's process shares the cgroup
        assert first.load_state("quantum-ai-engine") == "not-found"
        assert second.active_state("quantum-ai-engine") == "active"
        groups = {first._cgroup, second._cgroup}
        assert len(groups) == 2
    assert not any(Path("/sys/fs/cgroup", h, g).exists() for h in ("systemd", "unified") for g in groups)
