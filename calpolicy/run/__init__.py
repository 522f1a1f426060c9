"""``run_job``: the gated calibration — preflight, sandboxed calibration, job folder, policy tests on the job.

This is the checklist's ``calibration_cli.py run`` made safe. It proposes and never acts:

1. the preflight (``pytest -m preflight`` in a child, exactly as ``calpolicy preflight``); anything but a
   clean GO stops here and creates nothing;
2. a job ID is claimed and the calibration runs in the sandbox (``calpolicy.lockdown.sandbox``) on exactly the
   CLM bytes the preflight judged, writing only ``proposal.json`` into the job's hidden temp folder;
   the protected paths are digested before and after, and any change, any lockdown violation or any
   sandbox failure is a STOP that publishes no job;
3. the job's files are written and the Phase 1 and Phase 2 policy tests run against it
   (``pytest -m "lockdown or proposal" --job DIR``);
4. the job is published in one rename, with its verdict in ``manifest.json``.

``calpolicy.propose`` stays a pure, ungated function for research; this is the gated call.

The locked-down run drives the phases in one job — it sits above the preflight, the lockdown, the
calibration and the review it calls, and below apply (contract ``layers`` in pyproject.toml). Split by
reason to change: ``job`` (the steps in order), ``context`` (``RunContext``, the one object a run carries
through them, and the config its children see), ``policy`` (the Phase 1-3 policy tests as a child),
``findings`` (a sandbox answer in the checklist's words: P1.1.a-e, P1.2.a-c) and ``outcome`` (how a run
ends). May import: every phase up to the review, the vocabulary, ``calpolicy.files``, ``calpolicy.jobs``.
"""

from calpolicy.run.context import RunContext, config_json, job_store
from calpolicy.run.findings import violation_id
from calpolicy.run.job import CALIBRATION_TASK, POLICY_RESULTS, PREFLIGHT_RESULTS, PROPOSAL, run_job
from calpolicy.run.outcome import RUN_ID, SANDBOX_ID, SIGNING_ID, RunOutcome
from calpolicy.run.policy import HTML_REPORT, POLICY_DIRS, POLICY_IDS, POLICY_MARKERS, PolicyTests

__all__ = [
    "CALIBRATION_TASK",
    "HTML_REPORT",
    "POLICY_DIRS",
    "POLICY_IDS",
    "POLICY_MARKERS",
    "POLICY_RESULTS",
    "PREFLIGHT_RESULTS",
    "PROPOSAL",
    "RUN_ID",
    "SANDBOX_ID",
    "SIGNING_ID",
    "PolicyTests",
    "RunContext",
    "RunOutcome",
    "config_json",
    "job_store",
    "run_job",
    "violation_id",
]
