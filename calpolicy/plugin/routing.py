"""Part of the pytest plugin: which tests ``pytest -m preflight`` runs, and from which rootdir.

Two things go wrong without this, both on the operator's own command line:

* On the live host (calpolicy installed, no checkout) ``pytest -m preflight`` has no ``testpaths`` to go
  by and collects nothing. A phase marker with no path means the installed policy suite, from anywhere.
* pytest picks its rootdir *before* it knows this plugin's options, so in ``--clm /data/log.jsonl`` it
  takes the log for a test path, and the log's folder (or ``/``) becomes the rootdir. Once the options
  are known (``pytest_load_initial_conftests``) the rootdir is worked out again from the real test paths
  only, so ``--opt VALUE`` and ``--opt=VALUE`` give the same run.

Loaded through ``calpolicy.plugin``'s ``pytest_plugins``; this module only uses pytest's config objects.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from _pytest.config.findpaths import determine_setup

PHASES = ("preflight", "lockdown", "proposal", "report", "apply", "watch")


def selects_a_phase(markexpr: str | None) -> bool:
    """``-m preflight`` or ``-m "proposal or report"``; never a negation like ``-m "not preflight"``."""
    words = re.findall(r"[A-Za-z_]+", markexpr or "")
    return "not" not in words and bool(set(words) & set(PHASES))


def installed_suite() -> Path:
    """The ``policy_tests`` package shipped with calpolicy, found without importing it."""
    spec = importlib.util.find_spec("policy_tests")
    if spec is None or not spec.submodule_search_locations:
        raise pytest.UsageError("calpolicy's policy suite (the policy_tests package) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    namespace = early_config.known_args_namespace
    paths = [str(p) for p in (getattr(namespace, "file_or_dir", None) or [])]
    rootdir = namespace.rootdir or None
    if not paths and selects_a_phase(getattr(namespace, "markexpr", "")):
        suite = installed_suite()
        args.append(str(suite))  # the same list pytest parses next: the suite becomes the run's test path
        namespace.file_or_dir = paths = [str(suite)]  # and the initial conftests are looked up from it
        rootdir = rootdir or str(suite.parent)  # node IDs read policy_tests/..., wherever pytest was started
        _run_from_anywhere(early_config)
    _pin_rootdir(early_config, paths, rootdir)


def _run_from_anywhere(config: pytest.Config) -> None:
    """The installed suite, run from some other folder, reads and writes as if run from its own.

    * Node IDs are printed as pytest stores them, relative to the suite's rootdir (``policy_tests/...``),
      not re-based on the folder pytest was started in (``../../../opt/calpolicy/.../policy_tests/...``).
    * No ``.pytest_cache`` is written: its folder would be the rootdir — the checkout, or site-packages on
      the host — and a policy run is one check of a host, with nothing for ``--lf`` to rerun.
    """
    config.cwd_relative_nodeid = lambda nodeid: nodeid  # type: ignore[method-assign]
    for name in ("cacheprovider", "stepwise"):  # as ``-p no:cacheprovider`` does: stepwise needs the cache
        config.pluginmanager.set_blocked(name)


def _pin_rootdir(config: pytest.Config, paths: list[str], rootdir: str | None) -> None:
    """Redo pytest's rootdir/ini discovery with the real test paths, not option values taken for paths."""
    namespace = config.known_args_namespace
    rootpath, inipath, inicfg, ignored = determine_setup(
        inifile=namespace.inifilename,
        override_ini=namespace.override_ini,
        args=paths,
        rootdir_cmd_arg=rootdir,
        invocation_dir=config.invocation_params.dir,
    )
    if rootpath == config.rootpath and inipath == config.inipath:
        return
    old_confcut = str(config.inipath.parent) if config.inipath is not None else str(config.rootpath)
    config._rootpath = rootpath
    config._inipath = inipath
    config._inicfg = inicfg
    config._ignored_config_files = ignored
    config._inicache.clear()
    config._parser.extra_info["rootdir"] = str(rootpath)
    config._parser.extra_info["inifile"] = str(inipath)
    if namespace.confcutdir == old_confcut:  # pytest derived it from the wrong rootdir: derive it again
        namespace.confcutdir = str(inipath.parent) if inipath is not None else str(rootpath)
