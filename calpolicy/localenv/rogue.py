"""A misbehaving calibration for the demo and the tests: it tries to write the live calibration config.

The existing tool's calibration wrote ``config/calibration.json`` itself. Run as the sandbox task of
``calpolicy.run_job(task=ROGUE_TASK)`` this shows what the lockdown does with that: the write is refused,
the run stops with a finding naming the file, no job is made and the file is unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROGUE_TASK = "calpolicy.localenv.rogue:write_live_config"


def write_live_config(args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    target = Path(args["config"]["paths"]["calibration_file"])
    try:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write('{"version": "applied_by_the_calibration_itself"}\n')
    except BaseException:  # even swallowing the refusal does not let the run continue
        pass
    return {"went_through": True}
