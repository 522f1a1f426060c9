"""A live site on disk for the apply tests: config folder, archive, jobs with real proposals."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from calpolicy.apply.deploy.live import LivePaths
from calpolicy.localenv.systemd_ns import SystemdNamespace
from calpolicy.preflight import PreflightRun
from calpolicy.review.signing import default_policy_test_files, generate_keypair, sign_job
from calpolicy.run.context import config_json
from calpolicy.vocabulary.config import Config
from calpolicy.vocabulary.verdict import Finding, Verdict
from unit_tests.conftest import DATA

EXISTING_TOOL_FILE = DATA / "calibration_example_existing_tool.json"
EXISTING_VERSION = "cal_20260206_060303"
# A unit sees its namespace's own fresh /tmp, so a site the engine unit reads lives under the checkout.
WORK = Path(__file__).resolve().parents[2] / ".test-work"
ENGINE_UNIT = "quantum-ai-engine"


@dataclass
class Site:
    root: Path
    config: Config

    @property
    def paths(self) -> LivePaths:
        return LivePaths.from_config(self.config)

    @property
    def live(self) -> Path:
        return self.paths.calibration_file

    @property
    def jobs(self) -> Path:
        return Path(self.config.paths.jobs_dir)

    def live_bytes(self) -> bytes | None:
        try:
            return self.live.read_bytes()
        except FileNotFoundError:
            return None

    def add_job(self, job_id: str, proposal_json: str, clm: Path | None = None, state: str = "proposed") -> Path:
        folder = self.jobs / job_id
        folder.mkdir(parents=True)
        (folder / "proposal.json").write_text(proposal_json, encoding="utf-8")
        clm_info = None
        if clm is not None:
            data = clm.read_bytes()
            clm_info = {
                "path": str(clm),
                "bytes": len(data),
                "lines": data.count(b"\n"),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        now = datetime.now(UTC).isoformat()
        manifest = {
            "schema": "calpolicy.manifest/1",
            "job_id": job_id,
            "state": state,
            "history": [{"state": "proposed", "by": "tester", "at": now, "note": ""}],
            "created_at": now,
            "operator": "tester",
            "on_call_until": now,
            "clm": clm_info,
            "config_digest": "0" * 64,
            "calpolicy_version": "0.1.0",
            "verdict": "GO",
            "exit_code": 0,
            "approval": None,
            "applied_version": None,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        rows = [
            {
                "nodeid": "policy_tests/phase2/test_safety_bounds.py::test_x",
                "ids": ["P2.2.a"],
                "outcome": "pass",
                "message": "",
            }
        ]
        (folder / "policy_results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return folder

    def manifest(self, job_id: str) -> dict:
        return json.loads((self.jobs / job_id / "manifest.json").read_text(encoding="utf-8"))


def make_site(root: Path, existing: bool = True, **overrides: object) -> Site:
    config_dir = root / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "paths.config_dir": str(config_dir),
        "paths.calibration_file": str(config_dir / "calibration.json"),
        "paths.archive_dir": str(config_dir / "calibration_archive"),
        "paths.jobs_dir": str(root / "jobs"),
        "deploy.ack_timeout_s": 0.3,
        **overrides,
    }
    config = Config().with_overrides(values, "test")
    if existing:
        shutil.copyfile(EXISTING_TOOL_FILE, config_dir / "calibration.json")
    return Site(root, config)


def site_with_one_job(root: Path, proposal_json: str, job_id: str) -> Site:
    """A site holding one proposed job whose manifest names a small CLM log (approve re-reads its prefix)."""
    site = make_site(root)
    clm = root / "clm_trades.jsonl"
    clm.write_bytes(b'{"a": 1}\n{"a": 2}\n')
    site.add_job(job_id, proposal_json, clm=clm)
    return site


@contextlib.contextmanager
def site_in_namespace(
    namespace: SystemdNamespace, proposal_json: str, jobs: tuple[str, ...], **overrides: object
) -> Iterator[Site]:
    """A site under ``WORK`` whose systemctl/journalctl reach ``namespace``, with ``jobs`` proposed; on the way
    out the engine unit is stopped and the site removed."""
    root = WORK / uuid.uuid4().hex[:12]
    site = make_site(root, **{"systemd.command_prefix": list(namespace.prefix), **overrides})
    for job in jobs:
        site.add_job(job, proposal_json)
    try:
        yield site
    finally:
        namespace.run("systemctl", "stop", ENGINE_UNIT, check=False)
        shutil.rmtree(root, ignore_errors=True)


def go_preflight() -> PreflightRun:
    """A preflight that said GO (approve re-runs one; these tests judge what comes after it)."""
    return PreflightRun(Verdict((Finding("P0.1.a", "pass", "ok"),)), [], 0, 0.1, "")


def write_toml(
    site: Site, config: Config | None = None, deploy: dict[str, float] | None = None, systemd: bool = False
) -> Path:
    """The site's paths as a ``calpolicy.toml`` for the CLI (with the signing folder and, where the test boots
    systemd, its command prefix); ``deploy`` sets the waits (default: 0.2 s for an acknowledgement)."""
    from calpolicy.vocabulary.config import dumps_toml

    config = config or site.config
    paths = config.paths
    tree: dict[str, object] = {
        "paths": {
            "calibration_file": str(paths.calibration_file),
            "archive_dir": str(paths.archive_dir),
            "jobs_dir": str(paths.jobs_dir),
        },
        "deploy": deploy or {"ack_timeout_s": 0.2},
    }
    if systemd:
        tree["systemd"] = {"command_prefix": list(config.systemd.command_prefix)}
    if config.signing.trusted_keys_dir:
        tree["signing"] = {"trusted_keys_dir": str(config.signing.trusted_keys_dir)}
    target = site.root / "calpolicy.toml"
    target.write_text(dumps_toml(tree), encoding="utf-8")
    return target


def sign(site: Site, job_id: str) -> Config:
    """Sign the job for real and return a config that trusts the key."""
    key = site.root / "keys" / "signing.key"
    trusted = site.root / "trusted"
    if not key.exists():
        trusted.mkdir(exist_ok=True)
        generate_keypair(key, trusted)
    job = site.jobs / job_id
    manifest = site.manifest(job_id)
    effective = config_json(site.config)
    manifest["config_digest"] = hashlib.sha256(effective.encode("utf-8")).hexdigest()
    (job / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    sign_job(job, key, clm_path=Path(manifest["clm"]["path"]), config_json=effective,
             policy_test_files=default_policy_test_files())  # fmt: skip
    return site.config.model_copy(
        update={"signing": site.config.signing.model_copy(update={"trusted_keys_dir": trusted})}
    )
