"""calpolicy's side of the loader: one loader (the ``calpolicy-loader`` distribution, re-exported), and an
applied ``calibration.json`` that the engine's own loader can read under a C locale.

The loader's own tests (hot reload, hostile files, the engine's API, property tests) are in
``loader/tests`` and run in two venvs: numpy 1.26 and the newest numpy (``./calpolicy.sh test``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import calpolicy_loader

import calpolicy
from calpolicy import loader as shim
from calpolicy.apply.deploy import approve_job, serialize
from unit_tests.deploy.site import make_site


def test_calpolicy_re_exports_the_distributions_loader() -> None:
    assert calpolicy.CalibrationLoader is calpolicy_loader.CalibrationLoader
    assert shim.CalibrationLoader is calpolicy_loader.CalibrationLoader
    assert shim.parse_calibration is calpolicy_loader.parse_calibration
    assert shim.CalibrationError is calpolicy_loader.CalibrationError
    assert shim.wait_for_version is calpolicy_loader.wait_for_version
    assert shim.LOADED_MARKER == ".calpolicy_loaded"


def test_serialize_writes_ascii_only() -> None:
    data = serialize({"description": "±band", "version": "cal_ü"})
    assert data.isascii()
    assert json.loads(data) == {"description": "±band", "version": "cal_ü"}


# The engine's loader does ``json.load(open(path))``: the locale's encoding. Under LC_ALL=C with locale
# coercion and UTF-8 mode off, that is ASCII, and a single "±" byte sequence makes it fail.
C_LOCALE_READ = """
import json, locale, sys
encoding = locale.getpreferredencoding(False)
assert encoding.lower() in ("ansi_x3.4-1968", "ascii", "us-ascii"), encoding
with open(sys.argv[1]) as handle:
    print(json.load(handle)["version"])
"""


def c_locale_child(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHON")) and k != "LANG"}
    env.update(LC_ALL="C", PYTHONCOERCECLOCALE="0")
    return subprocess.run(
        [sys.executable, "-X", "utf8=0", "-c", C_LOCALE_READ, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_applied_file_is_ascii_and_loads_under_a_c_locale(tmp_path: Path, proposal_json: str) -> None:
    site = make_site(tmp_path)
    site.add_job("cal_20261101_120000", proposal_json)
    approve_job(site.config, "cal_20261101_120000", "alice", wait=False, say=lambda _: None)
    data = site.live.read_bytes()
    assert data.isascii(), sorted({chr(b) for b in data if b > 127})
    child = c_locale_child(site.live)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "cal_20261101_120000"


def test_the_c_locale_child_does_fail_on_non_ascii(tmp_path: Path) -> None:
    """The check above can fail: the same child refuses a UTF-8 "±" (what ``ensure_ascii=False`` wrote)."""
    path = tmp_path / "calibration.json"
    path.write_bytes('{"version": "v", "d": "±band"}'.encode())
    child = c_locale_child(path)
    assert child.returncode != 0
    assert "UnicodeDecodeError" in child.stderr
