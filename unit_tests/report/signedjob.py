"""A small, real, signed job folder built in-process in milliseconds (issue 21 §5: mutation testing).

The session fixture of ``conftest.py`` builds a job the way ``calpolicy run`` does, through a child pytest
run of the policy suite: 30-40 s, which mutation testing would pay once per mutant. This one writes the
files a job holds (their bytes need not be a real calibration for signing: it digests bytes), makes a real
Ed25519 key with the project's own ``generate_keypair`` and signs with the project's own ``sign_job``. Build
it in a function-scoped fixture: mutmut credits code run in a wider fixture to the first test only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import policy_tests
from calpolicy.review.signing import generate_keypair, sign_job

JOB_ID = "cal_20260102_030405"
CONFIG_JSON = '{"paths":{"jobs_dir":"jobs"},"signing":{}}'
CLM_BYTES = b"".join(b'{"trade_id": "t%d", "pnl": %d}\n' % (i, i - 2) for i in range(5))
POLICY_FILE = Path(policy_tests.__file__).resolve().parent / "phase0" / "__init__.py"
PREFLIGHT = (
    b'{"nodeid": "policy_tests/phase0/test_clm_integrity.py::test_data_item[CLM.parse]", '
    b'"controls": ["CLM.parse"], "status": "pass"}\n'
    b"\n"
    b'{"nodeid": "p0::b", "controls": ["CLM.schema", "CLM.dup"], "status": "waived"}\n'
)
POLICY = b'{"nodeid": "p2::a", "ids": ["P2.1"], "outcome": "pass"}\n{"nodeid": "p3::b", "outcome": "fail"}\n'


@dataclass
class SignedJob:
    root: Path
    dir: Path
    clm: Path
    key: Path
    trusted: Path
    site_test: Path  # a policy test file outside the installed suite (named by its absolute path)

    @property
    def policy_files(self) -> list[Path]:
        return [POLICY_FILE, self.site_test]

    def sign(self, folder: Path | None = None, **overrides: object) -> None:
        args: dict[str, object] = {"clm_path": self.clm, "config_json": CONFIG_JSON,
                                   "policy_test_files": self.policy_files}  # fmt: skip
        args.update(overrides)
        sign_job(folder or self.dir, self.key, **args)  # type: ignore[arg-type]

    def manifest(self, folder: Path | None = None) -> dict:
        return json.loads(((folder or self.dir) / "manifest.json").read_bytes())

    def write_manifest(self, manifest: dict, folder: Path | None = None) -> None:
        ((folder or self.dir) / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def manifest_for(job_id: str, clm_bytes: bytes, **extra: object) -> dict:
    manifest = {
        "schema": "calpolicy.manifest/1",
        "job_id": job_id,
        "state": "proposed",
        "history": [{"state": "proposed", "by": "ana", "at": "2026-01-02T03:04:05+00:00", "note": ""}],
        "operator": "ana",
        "clm": {
            "bytes": len(clm_bytes),
            "lines": clm_bytes.count(b"\n"),
            "sha256": hashlib.sha256(clm_bytes).hexdigest(),
        },
        "config_digest": hashlib.sha256(CONFIG_JSON.encode()).hexdigest(),
        "approval": None,
        "applied_version": None,
    }
    manifest.update(extra)
    return manifest


def make_signed_job(root: Path, *, sign: bool = True, **manifest_extra: object) -> SignedJob:
    """A job folder with a manifest, results, a report and a PNG, signed by a fresh trusted key."""
    clm = root / "clm_trades.jsonl"
    clm.write_bytes(CLM_BYTES + b'{"trade_id": "after", "pnl": 1}\n')  # the log grew after the analysis
    folder = root / "jobs" / JOB_ID
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(
        json.dumps(manifest_for(JOB_ID, CLM_BYTES, **manifest_extra), indent=2) + "\n", encoding="utf-8"
    )
    (folder / "proposal.json").write_bytes(b'{"method": "isotonic"}\n')
    (folder / "report.md").write_bytes("# Ready for review\n\nGO — kari\n".encode())
    (folder / "reliability.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (folder / "preflight_results.jsonl").write_bytes(PREFLIGHT)
    (folder / "policy_results.jsonl").write_bytes(POLICY)
    site_test = root / "site" / "test_site_rule.py"
    site_test.parent.mkdir()
    site_test.write_text("def test_x():\n    assert True\n", encoding="utf-8")
    job = SignedJob(root, folder, clm, root / "keys" / "signing.key", root / "trusted", site_test)
    generate_keypair(job.key, job.trusted)
    if sign:
        job.sign()
    return job
