"""``pytest -m preflight`` as the operator's own interface: found from anywhere, short, one verdict.

Every run here is a real child pytest, started from a folder outside the checkout, as on the live host.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calpolicy.vocabulary.verdict import Finding, describe, format_lines
from unit_tests.conftest import FIXTURE_LOG
from unit_tests.test_plugin import POLICY_DIR, REPO, _suite, run_pytest

JUDGED_AT = "2026-02-06T00:30:00"


def _collected(output: str) -> list[str]:
    return [line for line in output.splitlines() if "::" in line]


def _small_log(tmp_path: Path, n: int = 20) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    path = folder / "small.jsonl"
    path.write_text("".join(FIXTURE_LOG.read_text().splitlines(keepends=True)[:n]))
    return path


def test_a_phase_marker_selects_the_policy_suite_from_any_directory(tmp_path: Path) -> None:
    result = run_pytest("-m", "preflight", "--collect-only", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    collected = _collected(result.stdout)
    assert any("test_system_health.py::" in line for line in collected)
    assert all("policy_tests/" in line for line in collected)
    assert not any("unit_tests" in line for line in collected)


def test_an_explicit_path_still_wins(tmp_path: Path) -> None:
    suite = POLICY_DIR / "phase0" / "test_cadence_gate.py"
    result = run_pytest(str(suite), "-m", "preflight", "--collect-only", cwd=tmp_path)
    collected = _collected(result.stdout)
    assert collected
    assert all("test_cadence_gate.py::" in line for line in collected)


def test_option_value_forms_give_the_same_run_and_rootdir(tmp_path: Path) -> None:
    """``--clm FILE`` once made FILE's folder the rootdir and collected the unit tests too (from the checkout).

    The rootdir itself, from outside the checkout, is checked with the installed package below.
    """
    log = _small_log(tmp_path)
    spaced = run_pytest("-m", "preflight", "--clm", str(log), "--collect-only", cwd=REPO)
    joined = run_pytest("-m", "preflight", f"--clm={log}", "--collect-only", cwd=REPO)
    assert spaced.returncode == 0, spaced.stdout[-2000:] + spaced.stderr[-2000:]
    assert _collected(spaced.stdout) == _collected(joined.stdout)
    assert all(line.startswith("policy_tests/") for line in _collected(spaced.stdout))


def test_a_stop_is_short_and_checklist_shaped(tmp_path: Path) -> None:
    """P0.2.b on fewer than 50 trades once crashed with TypeError; a STOP was ~1000 lines of tracebacks."""
    log = _small_log(tmp_path)
    result = run_pytest(
        "-m", "preflight", str(POLICY_DIR / "phase0" / "test_clm_integrity.py"),
        "--clm", str(log), "--calpolicy-now", JUDGED_AT, cwd=tmp_path,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 1, out[-3000:]
    assert "P0.2.b FAIL: 20 trades, fewer than cadence.min_trades = 50" in out
    assert "evidence: records 20; line_count 20; min_trades 50" in out
    for noise in ("Traceback", "TypeError", "def enforce", "raise PolicyFailure", "calpolicy/plugin/__init__.py:"):
        assert noise not in out, noise
    assert len(out.splitlines()) < 80


def test_could_not_check_is_an_error_and_a_real_bug_keeps_its_traceback(tmp_path: Path) -> None:
    folder = _suite(
        tmp_path,
        '@pytest.mark.control("S.a")\ndef test_ok():\n    pass\n'
        '@pytest.mark.control("S.b")\ndef test_bad():\n    from calpolicy.plugin import enforce\n'
        "    from calpolicy.vocabulary.verdict import Finding, Verdict\n"
        '    finding = Finding("S.b", "fail", "ETHUSDT volume is 4.2x normal", {"symbol": "ETHUSDT"})\n'
        '    enforce(Verdict((finding,)), "S.b")\n'
        '@pytest.mark.control("S.e")\ndef test_unknown():\n'
        '    raise CouldNotCheck("could not check the halt keys: redis refused")\n'
        '@pytest.mark.control("S.c")\ndef test_bug():\n    return {}["missing"]\n',
    )
    result = run_pytest(str(folder), "-rfE", cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 1
    assert re.search(r"2 failed, 1 passed, 1 error", out), out[-1500:]
    assert "ERROR policy_tests/test_items.py::test_unknown" in out
    assert "S.e ERROR: could not check the halt keys: redis refused" in out
    assert "S.b FAIL: ETHUSDT volume is 4.2x normal\n    evidence: symbol ETHUSDT" in out
    assert "KeyError" in out
    assert 'return {}["missing"]' in out  # the bug's traceback is shown
    body_of_bad = out.split("_ test_bad _")[1].split("___")[0]
    assert "Traceback" not in body_of_bad
    assert "enforce(" not in body_of_bad


def test_the_run_ends_with_one_verdict_line_and_one_line_per_item(tmp_path: Path) -> None:
    folder = _suite(
        tmp_path,
        '@pytest.mark.control("S.a")\ndef test_ok():\n    pass\n'
        '@pytest.mark.control("S.b")\ndef test_bad():\n    assert False, "market halted"\n'
        '@pytest.mark.control("S.e")\ndef test_unknown():\n    raise CouldNotCheck("redis refused")\n',
    )
    lines = run_pytest(str(folder), cwd=tmp_path).stdout.rstrip().splitlines()
    assert lines[-4].startswith("STOP — policy suite in ")
    assert lines[-4].endswith(": 1 of 3 items failed (S.b); 1 could not be checked (S.e); 1 passed")
    assert [line.split()[:2] for line in lines[-3:]] == [["FAIL", "S.b"], ["ERROR", "S.e"], ["PASS", "S.a"]]


def test_the_project_own_test_run_prints_no_verdict(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_x():\n    pass\n")
    out = run_pytest(str(tmp_path / "test_plain.py"), cwd=tmp_path).stdout
    assert "GO —" not in out
    assert "STOP —" not in out


def test_a_malformed_instant_is_a_usage_error(tmp_path: Path) -> None:
    for option in ("--on-call-until", "--calpolicy-now"):
        result = run_pytest("-m", "preflight", option, "tomorrow", "--collect-only", cwd=tmp_path)
        assert result.returncode == 4, result.stdout[-1000:]
        assert f"{option} must be an ISO-8601 instant, got 'tomorrow'" in result.stderr


def test_line_lists_are_printed_once_and_a_line_count_is_not_a_list() -> None:
    listed = Finding("CLM.duplicates", "fail", "2 duplicates (lines 2, 4)", {"lines": [2, 4], "count": 2})
    assert describe(listed).count("lines 2, 4") == 1
    assert format_lines({"records": 12, "lines": 12}) == ""  # P0.2.b's evidence: a count, not locations
    counted = Finding("P0.2.b", "fail", "12 trades, fewer than 50", {"records": 12, "lines": 12})
    assert describe(counted) == "P0.2.b FAIL: 12 trades, fewer than 50"


# ------------------------------------------------------------------------------------------ pytest-html


def _chromium_dom(page: Path, profile: Path) -> str:
    argv = [
        "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
        "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=90, check=True).stdout


def test_the_html_report_shows_control_ids_verdict_and_identity(tmp_path: Path) -> None:
    folder = _suite(
        tmp_path,
        '@pytest.mark.control("S.a")\ndef test_ok():\n    pass\n'
        '@pytest.mark.control("S.e")\ndef test_unknown():\n    raise CouldNotCheck("redis refused")\n',
    )
    report = tmp_path / "preflight.html"
    run_pytest(str(folder), f"--html={report}", "--self-contained-html", "--operator", "ana", cwd=tmp_path)
    dom = _chromium_dom(report, tmp_path / "chromium-profile")
    assert '<td class="col-controls">S.e</td>' in dom
    assert '<td class="col-controls">S.a</td>' in dom
    assert re.search(r"calpolicy config digest</td>\s*<td><div>sha256:[0-9a-f]{64}", dom), dom[:3000]
    assert re.search(r"calpolicy operator</td>\s*<td><div>ana", dom)
    assert "calpolicy host" in dom
    assert "1 of 2 items could not be checked (S.e); 1 passed" in dom
    assert re.search(r'col-result">Error</td>', dom)


# ------------------------------------------------------------------------------------------ installed


def test_a_non_editable_install_runs_the_preflight_from_anywhere(
    tmp_path: Path, write_log: Callable[..., Path], healthy_records: list[dict[str, Any]]
) -> None:
    """``pip install .`` (a copy of the sources, not the checkout), then ``pytest -m preflight`` elsewhere."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("calpolicy", "policy_tests"):
        subprocess.run(["cp", "-r", str(REPO / name), str(source / name)], check=True)
    for name in ("pyproject.toml", "README.md"):
        (source / name).write_bytes((REPO / name).read_bytes())
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(source)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "preflight", "--collect-only", "-q"]
    where = subprocess.run(
        [sys.executable, "-c", "import policy_tests; print(policy_tests.__file__)"],
        capture_output=True, text=True, cwd=away, env=env, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(target)), where.stdout
    log = str(write_log(healthy_records))
    for clm in (["--clm", log], [f"--clm={log}"]):
        run = subprocess.run([*argv[:-1], *clm], capture_output=True, text=True, cwd=away, env=env, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert f"rootdir: {target}\n" in run.stdout, run.stdout[:600]
        assert "test_clm_integrity.py" in run.stdout


def test_from_outside_the_checkout_node_ids_read_from_the_suite_and_no_cache_is_written(tmp_path: Path) -> None:
    """Started elsewhere, ``pytest -m preflight`` printed ``../../cp/policy_tests/…`` and wrote
    ``.pytest_cache`` into the checkout (on a host: into site-packages)."""
    cache = REPO / ".pytest_cache"
    before = cache.stat().st_mtime_ns if cache.exists() else None
    argv = [sys.executable, "-m", "pytest", "-q", "-m", "preflight", "-k", "test_data_item and P0.2.a",
            "--clm", str(tmp_path / "missing.jsonl"), "-rf"]  # fmt: skip
    # as the operator types it: no ``-p no:cacheprovider`` (run_pytest adds it)
    result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    assert "FAILED policy_tests/phase0/test_clm_integrity.py::test_data_item[P0.2.a]" in result.stdout
    assert "../" not in result.stdout
    assert not (tmp_path / ".pytest_cache").exists()
    assert (cache.stat().st_mtime_ns if cache.exists() else None) == before, "a .pytest_cache in the checkout"
