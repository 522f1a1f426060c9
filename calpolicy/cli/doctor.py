"""``calpolicy doctor``: is this host set up for calpolicy? Each item checked, and for each what to fix.

A first run should not be where an operator learns that the journal is unreadable to their user, that the
config they meant was not the one found, or that the engine cannot import the loader: every one of those
ends a preflight as could-not-check, one at a time. The doctor checks them all at once, before the first
run, and says for each item the command that fixes it (docs/operator-guide.md, "Install on the real host").

Statuses: ``ok``; ``fix`` (checked, and wrong: the line says how to fix it); ``unknown`` (could not be
checked, e.g. no ``systemctl`` here). Exit 0 only when every item is ok, 1 when any needs a fix, 3 when
none needs a fix but some could not be checked. Like every probe, it only reads.

This module stays whole although long (~510 lines): it is a list of independent host checks, each a short
function, read top to bottom as the operator reads its output.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calpolicy.preflight.probes.command import ProbeError, run_command
from calpolicy.vocabulary.config import DEFAULT_CONFIG_FILE, ENV_CONFIG_PATH, Config, ConfigError, load_config

JOURNAL_GROUPS = ("systemd-journal", "adm", "wheel")
LOADER_MODULE = "calpolicy_loader"
_JOURNAL_DENIED = ("insufficient permissions", "not seeing messages from other users", "Permission denied")


@dataclass(frozen=True)
class Check:
    """One item: what it is, its status, what was found, and (when not ok) what to do."""

    item: str
    status: str  # ok | fix | unknown
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"item": self.item, "status": self.status, "detail": self.detail, "fix": self.fix}


def _ok(item: str, detail: str) -> Check:
    return Check(item, "ok", detail)


def _fix(item: str, detail: str, fix: str) -> Check:
    return Check(item, "fix", detail, fix)


def _unknown(item: str, detail: str, fix: str = "") -> Check:
    return Check(item, "unknown", detail, fix)


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


# ------------------------------------------------------------------------------------------------ config


def find_config(explicit: str | None, environ: dict[str, str] | None = None) -> tuple[Path | None, str]:
    """Which config file calpolicy would read, and how it was chosen (the same order as ``load_config``)."""
    env = dict(os.environ if environ is None else environ)
    if explicit is not None:
        return Path(explicit), "--config"
    if env.get(ENV_CONFIG_PATH):
        return Path(env[ENV_CONFIG_PATH]), f"${ENV_CONFIG_PATH}"
    if Path(DEFAULT_CONFIG_FILE).exists():
        return Path(DEFAULT_CONFIG_FILE).resolve(), f"./{DEFAULT_CONFIG_FILE}"
    return None, "none"


def check_config(explicit: str | None, environ: dict[str, str] | None = None) -> tuple[Check, Config | None]:
    path, how = find_config(explicit, environ)
    try:
        config = load_config(explicit, environ)
    except ConfigError as error:
        found = _fix("config", f"the config ({how}: {path}) cannot be used: {error}", "correct it as the message says")
        return found, None
    if path is None:
        return (
            _fix(
                "config",
                f"NO config file found: no --config, no ${ENV_CONFIG_PATH}, no ./{DEFAULT_CONFIG_FILE} in "
                f"{Path.cwd()}; calpolicy would run on the checklist defaults, whose paths (data/clm_trades.jsonl, "
                f"config/, calpolicy_jobs/) are relative to whatever folder it is started in",
                f"copy docs/calpolicy.example.toml to /etc/calpolicy/calpolicy.toml (chmod 644, owned by you or "
                f"root) and use --config or export {ENV_CONFIG_PATH}=/etc/calpolicy/calpolicy.toml",
            ),
            config,
        )
    return _ok("config", f"{path} (found by {how})"), config


# ------------------------------------------------------------------------------------------------ files


def _readable_file(item: str, path: Path, what: str, key: str) -> Check:
    if not path.exists():
        return _fix(item, f"{what} {path} does not exist", f"point {key} at it (docs/calpolicy.example.toml)")
    if not path.is_file():
        return _fix(item, f"{what} {path} is not a regular file", f"point {key} at the file itself")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        owner = _group_of(path)
        return _fix(
            item,
            f"{what} {path} cannot be read by {_user()}: {error.strerror}",
            f"sudo usermod -aG {owner} {_user()} (then log in again), or sudo chmod g+r {shlex.quote(str(path))}",
        )
    return _ok(item, f"{what} {path} is readable")


def _group_of(path: Path) -> str:
    try:
        return grp.getgrgid(path.stat().st_gid).gr_name
    except (KeyError, OSError):
        return "<its group>"


def check_clm(config: Config) -> Check:
    return _readable_file("clm log", config.paths.clm_file, "the CLM trade log", "paths.clm_file")


def check_execution_logs(config: Config) -> list[Check]:
    files = config.systemd.execution_log_files
    if not files:
        return [_ok("execution log", "systemd.execution_log_files is empty: S.c reads the journal only")]
    return [_readable_file("execution log", Path(p), "execution log", "systemd.execution_log_files") for p in files]


def _writable_dir(item: str, path: Path, what: str, key: str) -> Check:
    if not path.is_dir():
        return _fix(item, f"{what} {path} does not exist or is not a folder", f"point {key} at it")
    if not os.access(path, os.W_OK | os.X_OK):
        return _fix(
            item,
            f"{what} {path} is not writable by {_user()} (approve and rollback write there)",
            f"sudo chgrp {_group_of(path)} {shlex.quote(str(path))} && sudo chmod g+w {shlex.quote(str(path))}, "
            f"with {_user()} in that group — or run calpolicy as the folder's owner",
        )
    return _ok(item, f"{what} {path} is writable")


def check_config_dir(config: Config) -> list[Check]:
    paths = config.paths
    found = [_writable_dir("config folder", paths.config_dir, "the engine's config folder", "paths.config_dir")]
    if paths.archive_dir.exists() or not paths.archive_dir.parent.is_dir():
        found.append(_writable_dir("config folder", paths.archive_dir, "the archive folder", "paths.archive_dir"))
    jobs = paths.jobs_dir if paths.jobs_dir.exists() else paths.jobs_dir.parent
    found.append(_writable_dir("config folder", jobs, "the jobs folder (or its parent)", "paths.jobs_dir"))
    return found


def check_protected(config: Config) -> list[Check]:
    """A protected path that does not exist protects nothing: it is almost always a typo."""
    paths = config.paths
    named = [*paths.model_weights, *paths.ensemble_weights, *paths.meta_agent_params, *paths.protected_paths]
    if not named:
        return [
            _fix(
                "protected paths",
                "no model weights, ensemble weights, Meta-Agent parameters or other protected paths are configured: "
                "a run would prove only that config/ did not change",
                "list the engine's model folders, the pickled calibrator and the RL parameters in [paths] "
                '(docs/operator-guide.md, "Install on the real host")',
            )
        ]
    missing = [str(p) for p in named if not Path(p).exists()]
    if missing:
        return [_fix("protected paths", f"configured but missing: {', '.join(missing)}", "correct each one in [paths]")]
    return [_ok("protected paths", f"{len(named)} protected path(s) exist")]


# ------------------------------------------------------------------------------------------------ keys


def check_keys(config: Config) -> list[Check]:
    key = config.signing.private_key
    trusted = config.signing.trusted_keys_dir
    found: list[Check] = []
    if not key.exists():
        found.append(_fix("keys", f"no signing key at {key}", "calpolicy keygen (--config as for every command)"))
    else:
        info = key.stat()
        if info.st_mode & 0o077:
            found.append(
                _fix(
                    "keys",
                    f"signing key {key} has mode {stat.S_IMODE(info.st_mode):04o}: others than its owner can read it",
                    f"chmod 600 {shlex.quote(str(key))}",
                )
            )
        elif info.st_uid != os.geteuid():
            found.append(
                _fix(
                    "keys",
                    f"signing key {key} is owned by uid {info.st_uid}, not by {_user()} who signs with it",
                    f"sudo chown {_user()} {shlex.quote(str(key))}",
                )
            )
        else:
            from calpolicy.review.signing import SigningError, load_private_key

            try:  # mode and owner are right; it must also be a key `run` can sign with (not a FIFO, not garbage)
                load_private_key(key)
            except SigningError as error:
                found.append(_fix("keys", str(error), "calpolicy keygen with a new signing.private_key path"))
            else:
                found.append(_ok("keys", f"signing key {key} is 0600 and owned by {_user()}"))
    if not trusted.is_dir():
        found.append(_fix("keys", f"no trusted-keys folder {trusted}", "calpolicy keygen creates it"))
        return found
    info = trusted.stat()
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        found.append(
            _fix(
                "keys",
                f"trusted-keys folder {trusted} is writable by its group or others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}): anyone who can add a key there can forge a report verify trusts",
                f"chmod go-w {shlex.quote(str(trusted))}",
            )
        )
    elif not list(trusted.glob("*.pub")):
        found.append(_fix("keys", f"trusted-keys folder {trusted} holds no *.pub key", "calpolicy keygen"))
    elif not _usable_keys(trusted):
        problem = f"trusted-keys folder {trusted} holds no *.pub key verify can use (Ed25519, PEM)"
        found.append(_fix("keys", problem, "calpolicy keygen"))
    else:
        found.append(_ok("keys", f"trusted-keys folder {trusted} is not group/other-writable and holds a key"))
    return found


def _usable_keys(trusted: Path) -> int:
    """How many Ed25519 keys verify would trust there (a `.pub` of another algorithm or format is no key)."""
    from calpolicy.review.signing import trusted_keys

    return len(trusted_keys(trusted)[0])


# ------------------------------------------------------------------------------------------------ redis


def check_redis(config: Config) -> tuple[Check, bool]:
    from calpolicy.preflight.probes.redis.connection import connect
    from calpolicy.preflight.probes.urls import mask_url

    try:
        with connect(config.redis) as client:
            client.ping()
    except ProbeError as error:
        return _fix("redis", str(error), "start redis-server, or set redis.url to the bus the services use"), False
    return _ok("redis", f"Redis at {mask_url(config.redis.url)} answers"), True


def check_market(config: Config, redis_ok: bool) -> Check:
    if not redis_ok:
        return _unknown("market source", "not checked: Redis is not reachable")
    from calpolicy.preflight.probes.market import market_finding
    from calpolicy.preflight.probes.redis.connection import connect

    try:
        with connect(config.redis) as client:
            finding = market_finding(client, config.market)
    except ProbeError as error:
        return _fix(
            "market source",
            str(error),
            "start quantum-marketstate-publisher and let it publish market.min_baseline_points intervals, "
            "or correct [market]",
        )
    symbols = ", ".join(finding.evidence.get("symbols", {}))
    note = " (the market is extreme right now: preflight will STOP on S.b)" if finding.status == "fail" else ""
    return _ok("market source", f"fresh market state for {symbols}{note}")


# ------------------------------------------------------------------------------------------------ systemd


def check_units(config: Config) -> Check:
    from calpolicy.preflight.probes.systemd import query_units

    units = tuple(dict.fromkeys((*config.systemd.units, config.systemd.ai_engine_unit, config.systemd.execution_unit)))
    try:
        states = query_units(units, config.systemd)
    except ProbeError as error:
        return _unknown("units", str(error), "run doctor where systemctl reaches the host (systemd.command_prefix)")
    unknown = [u for u, s in states.items() if s.load_state == "not-found"]
    if unknown:
        return _fix(
            "units",
            f"unknown to systemd: {', '.join(unknown)}",
            "correct systemd.units / systemd.ai_engine_unit / systemd.execution_unit to the host's unit names",
        )
    return _ok("units", f"{len(states)} unit(s) known to systemd: {', '.join(states)}")


def check_journal(config: Config) -> Check:
    unit = config.systemd.ai_engine_unit
    argv = ["journalctl", "--no-pager", "-q", "-o", "cat", "-n", "1", "-u", unit]
    try:
        result = run_command(argv, config.systemd.command_prefix, config.systemd.command_timeout_s, ok_codes=(0, 1))
    except ProbeError as error:
        return _unknown("journal", str(error))
    denied = any(marker in result.stderr for marker in _JOURNAL_DENIED)
    groups = _journal_groups()
    if denied or (not result.stdout.strip() and not config.systemd.command_prefix and not groups):
        return _fix(
            "journal",
            f"{_user()} cannot read {unit}'s journal"
            + (f" ({result.stderr.splitlines()[0]})" if result.stderr else " (journalctl showed no entry)"),
            f"sudo usermod -aG systemd-journal {_user()} (or adm), then log in again; "
            'or set systemd.command_prefix = ["sudo"]',
        )
    if not result.stdout.strip():
        return _fix(
            "journal",
            f"journalctl shows no entry for {unit}: the unit never logged, or its name is wrong",
            "check systemd.ai_engine_unit against `systemctl list-units 'quantum-*'`",
        )
    return _ok("journal", f"{unit}'s journal is readable by {_user()}" + (f" (via {groups})" if groups else ""))


def _journal_groups() -> str:
    if os.geteuid() == 0:
        return "root"
    names = []
    for gid in os.getgroups():
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return ", ".join(n for n in names if n in JOURNAL_GROUPS)


# ------------------------------------------------------------------------------------------------ the engine


_EXEC_PATH = re.compile(r"\bpath=(\S+)")


def engine_python(config: Config) -> str:
    """The interpreter the engine unit runs: ``doctor.engine_python``, else the unit's ExecStart program (the
    real unit runs ``/opt/quantum/venvs/ai-engine/bin/python -m uvicorn ...``), or the ``python`` beside a
    venv console script it runs instead (``bin/uvicorn``)."""
    if config.doctor.engine_python:
        return config.doctor.engine_python
    unit = config.systemd.ai_engine_unit
    result = run_command(
        ["systemctl", "show", "--no-pager", "-p", "ExecStart", unit],
        config.systemd.command_prefix,
        config.systemd.command_timeout_s,
    )
    text = result.stdout.decode("utf-8", "replace")
    found = _EXEC_PATH.search(text)
    if not found:
        raise ProbeError(f"{unit} has no ExecStart (is it installed?): {text.strip()[:200]!r}")
    path = found.group(1)
    name = path.rsplit("/", 1)[-1]
    if not name.startswith("python") and "/" in path:  # a venv's console script (bin/uvicorn): its python
        return path.rsplit("/", 1)[0] + "/python"
    return path


def _engine_own_loader(config: Config) -> Path | None:
    """The real engine's own loader file (``ai_engine/calibration_loader.py`` in the unit's WorkingDirectory)."""
    try:
        result = run_command(
            ["systemctl", "show", "--no-pager", "-p", "WorkingDirectory", "--value", config.systemd.ai_engine_unit],
            config.systemd.command_prefix,
            config.systemd.command_timeout_s,
        )
    except ProbeError:
        return None
    folder = result.stdout.decode("utf-8", "replace").strip()
    if not folder.startswith("/"):
        return None
    candidate = Path(folder) / "ai_engine" / "calibration_loader.py"
    try:
        return candidate if stat.S_ISREG(candidate.lstat().st_mode) else None
    except OSError:
        return None


def check_loader(config: Config) -> Check:
    """The engine's interpreter imports ``calpolicy_loader`` (the one-line import change is in place)."""
    try:
        python = engine_python(config)
    except ProbeError as error:
        return _unknown("engine loader", f"the engine's interpreter is unknown: {error}", "set doctor.engine_python")
    code = f"import {LOADER_MODULE} as m; print(getattr(m, '__version__', '?'), m.__file__)"
    try:
        result = run_command(
            [python, "-c", code], config.systemd.command_prefix, config.systemd.command_timeout_s, ok_codes=(0, 1)
        )
    except ProbeError as error:
        return _unknown("engine loader", str(error), "set doctor.engine_python to the engine venv's python")
    if result.returncode != 0:
        own = _engine_own_loader(config)
        if own is not None:
            return _ok(
                "engine loader",
                f"the engine loads {own} once at start (no hot reload): approve and rollback go live only with "
                f"--allow-restart (one restart, confirmed by its own 'Loaded calibration' line); to add hot reload: "
                f"{shlex.quote(python)} -m pip install <calpolicy checkout>/loader and the one-line import change "
                "(docs/apply.md)",
            )
        last = result.stderr.splitlines()[-1] if result.stderr else "no output"
        return _fix(
            "engine loader",
            f"the engine's interpreter {python} cannot import {LOADER_MODULE}: {last}",
            f"{shlex.quote(python)} -m pip install <calpolicy checkout>/loader (numpy only; leaves the engine's "
            f"pins alone), then the one-line import change in ai_engine/ensemble_manager.py (docs/apply.md)",
        )
    version, _, where = result.stdout.decode("utf-8", "replace").strip().partition(" ")
    own = _engine_own_loader(config)
    if own is not None and not _adopted(own):
        # installed is not adopted: the engine still imports its own loader (rehearsal, docs/real-host-rehearsal.md)
        return _ok(
            "engine loader",
            f"{python} can import {LOADER_MODULE} {version}, but the engine still loads its own {own} (neither it "
            f"nor ai_engine/ensemble_manager.py imports {LOADER_MODULE}): it loads once at start, so approve and "
            "rollback go live only with --allow-restart; to adopt hot reload: the one-line import change "
            "(docs/apply.md)",
        )
    return _ok("engine loader", f"{python} imports {LOADER_MODULE} {version} from {where}")


def _adopted(own_loader: Path) -> bool:
    """The one-line import change is in the engine's loader file or in its importer, the ensemble manager."""
    for candidate in (own_loader, own_loader.with_name("ensemble_manager.py")):
        try:
            if LOADER_MODULE in candidate.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def check_sandbox(config: Config) -> Check:
    """bubblewrap is installed and can create the namespaces the locked-down calibration runs in."""
    from calpolicy.lockdown.sandbox import SandboxError, os_guard

    try:
        bwrap, _ = os_guard()
    except SandboxError as error:
        return _fix(
            "sandbox",
            str(error),
            "apt-get install bubblewrap; allow unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1 where the kernel has it); docs/lockdown.md",
        )
    return _ok("sandbox", f"{bwrap} creates the calibration's namespaces (docs/lockdown.md)")


# ------------------------------------------------------------------------------------------------ all


def diagnose(explicit_config: str | None, environ: dict[str, str] | None = None) -> list[Check]:
    """Every item, in the order an operator sets a host up."""
    config_check, config = check_config(explicit_config, environ)
    checks = [config_check]
    if config is None:
        return [*checks, _unknown("everything else", "not checked: no usable config")]
    steps: list[Callable[[Config], Any]] = [
        check_clm,
        check_execution_logs,
        check_config_dir,
        check_protected,
        check_keys,
        check_units,
        check_journal,
        check_loader,
        check_sandbox,
    ]
    for step in steps:
        found = step(config)
        checks.extend(found if isinstance(found, list) else [found])
    redis_check, redis_ok = check_redis(config)
    checks.append(redis_check)
    checks.append(check_market(config, redis_ok))
    return checks


def exit_code(checks: list[Check]) -> int:
    if any(c.status == "fix" for c in checks):
        return 1
    if any(c.status != "ok" for c in checks):
        return 3
    return 0


def render(checks: list[Check]) -> str:
    width = max(len(c.item) for c in checks)
    label = {"ok": "OK ", "fix": "FIX", "unknown": "???"}
    lines = []
    for c in checks:
        lines.append(f"  {label.get(c.status, c.status)}  {c.item.ljust(width)}  {c.detail}")
        if c.fix:
            lines.append(f"       {' ' * width}  -> {c.fix}")
    code = exit_code(checks)
    to_fix = sorted({c.item for c in checks if c.status == "fix"}, key=[c.item for c in checks].index)
    unknown = sorted({c.item for c in checks if c.status == "unknown"}, key=[c.item for c in checks].index)
    if code == 0:
        head = f"OK — this host is set up for calpolicy ({len(checks)} items)"
    elif code == 1:
        head = f"FIX — {len(to_fix)} item(s) to fix before the first run: {', '.join(to_fix)}"
    else:
        head = f"COULD NOT CHECK — {', '.join(unknown)}"
    return "\n".join([head, *lines])
