"""requirements.lock: the exact versions (with hashes) the suite passes with, installed by install.sh and CI.

A release of any dependency must not change a fresh install on a day nobody changed a line (issue 22 §1):
the lock pins everything, pyproject.toml's ranges admit the pins, and this very test run uses them.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def locked() -> dict[str, tuple[str, str | None, list[str]]]:
    """name → (version, marker, hashes), from the lock's ``name==version ; marker \\`` blocks."""
    entries: dict[str, tuple[str, str | None, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text(encoding="utf-8")):
        head = block.split("\\", 1)[0].strip()
        if not head or head.startswith("#"):
            continue
        spec, _, marker = head.partition(";")
        name, _, pinned = spec.strip().partition("==")
        assert pinned, f"not an exact pin: {head!r}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        entries[canonicalize_name(name)] = (pinned.strip(), marker.strip() or None, hashes)
    return entries


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_every_locked_package_is_pinned_with_hashes() -> None:
    entries = locked()
    assert len(entries) >= 40
    for name, (_, _, hashes) in entries.items():
        assert hashes, f"{name} has no --hash: pip --require-hashes would refuse the whole lock"


FROM_THIS_CHECKOUT = {"calpolicy-loader"}  # ./loader: installed from the checkout, never from an index


def test_the_loader_distribution_is_never_looked_up_on_an_index() -> None:
    assert not FROM_THIS_CHECKOUT & set(locked()), "requirements.lock must not pin calpolicy-loader: it is ./loader"


def test_every_declared_dependency_is_locked_inside_its_range() -> None:
    entries = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        if name in FROM_THIS_CHECKOUT:
            continue
        assert name in entries, f"{requirement} is not in requirements.lock: run tools/lock.sh"
        pinned = entries[name][0]
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"requirements.lock pins {name}=={pinned}, outside pyproject.toml's {requirement}: run tools/lock.sh"
        )


def test_this_run_uses_the_locked_versions() -> None:
    """The suite passes with the lock because it runs on it: a drifted venv is named, with the fix."""
    drifted = []
    for name, (pinned, marker, _) in locked().items():
        if marker is not None and not Marker(marker).evaluate():
            continue
        try:
            installed = version(name)
        except PackageNotFoundError:
            drifted.append(f"{name} not installed (lock: {pinned})")
            continue
        if installed != pinned:
            drifted.append(f"{name} {installed} (lock: {pinned})")
    assert not drifted, "the venv is not the lock's; re-run ./install.sh: " + "; ".join(drifted)


def test_install_and_ci_install_from_the_lock() -> None:
    install = (ROOT / "install.sh").read_text(encoding="utf-8")
    assert "pip install -q --require-hashes -r requirements.lock" in install
    assert "pip install -q --no-deps -e ." in install
    assert "'.[dev]'" not in install, "an unpinned install next to the lock would let pip pick other versions"
    assert "requirements.lock -nt" in (ROOT / "calpolicy.sh").read_text(encoding="utf-8")
    assert "./calpolicy.sh test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
