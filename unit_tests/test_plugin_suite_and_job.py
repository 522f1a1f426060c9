"""The plugin's whole-suite rule, its ``--job``/``--job-wait`` handling and its options, in this process.

The whole-suite rule (every checklist ID has a test once the whole policy package was collected) and
``job_dir`` are otherwise exercised only by child pytest runs, which mutation testing cannot see. The
throw-away suites live in a package of their own (``desk_a.policy_tests``) so their module names do not
collide with the shipped ``policy_tests`` package already imported into this process.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from calpolicy.plugin import CouldNotCheck, job_dir
from calpolicy.vocabulary.controls import KNOWN

pytest_plugins = ("pytester",)

HEADER = "import pytest\npytestmark = pytest.mark.preflight\n"


def _test_file(folder: Path, name: str, *ids: str) -> None:
    body = "".join(f'@pytest.mark.control("{cid}")\ndef test_{cid.replace(".", "_")}():\n    pass\n' for cid in ids)
    (folder / name).write_text(HEADER + body)


def _suite(pytester: pytest.Pytester, package: str, files: dict[str, tuple[str, ...]]) -> Path:
    """``<package>/policy_tests/`` with an ``__init__.py``, a helper module and the given test files."""
    pytester.mkdir(package)
    (pytester.path / package / "__init__.py").write_text("")
    folder = pytester.mkdir(f"{package}/policy_tests")
    (folder / "__init__.py").write_text("")
    (folder / "helpers.py").write_text("SHARED = 1\n")  # not a test module: python_files decides
    for name, ids in files.items():
        _test_file(folder, name, *ids)
    return folder


def _refusal(outcome: pytest.RunResult) -> list[str]:
    start = outcome.errlines.index("ERROR: calpolicy traceability check failed:")
    return [line for line in outcome.errlines[start + 1 :] if line.startswith("  ")]


def _whole_suite_line(root: Path, tested: set[str]) -> str:
    missing = [cid for cid in KNOWN if cid not in tested]
    return (
        f"  the whole policy suite ({root}) was collected, but {len(missing)} checklist ID(s) have no test: "
        + ", ".join(missing)
    )


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


# ------------------------------------------------------------------------------------ the whole-suite rule


def test_a_whole_policy_suite_with_untested_ids_is_refused_naming_each_missing_id_in_checklist_order(
    pytester: pytest.Pytester,
) -> None:
    root = _suite(pytester, "desk_a", {"test_a.py": ("S.a",), "test_b.py": ("S.b", "P0.1.a")})
    outcome = _run(pytester, "desk_a/policy_tests")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert _refusal(outcome) == [_whole_suite_line(root, {"S.a", "S.b", "P0.1.a"})]


def test_part_of_a_policy_suite_is_not_judged_whole(pytester: pytest.Pytester) -> None:
    _suite(pytester, "desk_a", {"test_a.py": ("S.a",), "test_b.py": ("S.b",)})
    assert _run(pytester, "desk_a/policy_tests/test_a.py").ret == pytest.ExitCode.OK


def test_a_suite_whose_module_failed_to_import_is_not_judged_whole(pytester: pytest.Pytester) -> None:
    root = _suite(pytester, "desk_a", {"test_a.py": ("S.a",)})
    (root / "test_broken.py").write_text("import no_such_module_here\n")
    outcome = _run(pytester, "desk_a/policy_tests")
    assert outcome.ret == pytest.ExitCode.INTERRUPTED  # pytest's own collection error, not the traceability rule
    assert "calpolicy traceability check failed" not in "\n".join(outcome.errlines + outcome.outlines)


def test_each_policy_suite_of_a_run_is_judged_on_its_own(pytester: pytest.Pytester) -> None:
    """A part of one suite does not stop a second, whole suite from being judged (and vice versa)."""
    _suite(pytester, "desk_a", {"test_a.py": ("S.a",), "test_b.py": ("S.b",)})
    whole = _suite(pytester, "desk_b", {"test_c.py": ("S.c",)})
    outcome = _run(pytester, "desk_a/policy_tests/test_a.py", "desk_b/policy_tests")
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert _refusal(outcome) == [_whole_suite_line(whole, {"S.c"})]  # S.a (the other suite's) is no test of it


def test_a_policy_tests_folder_that_is_not_a_package_is_not_the_policy_suite(pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("policy_tests")
    _test_file(folder, "test_a.py", "S.a")
    assert _run(pytester, "policy_tests").ret == pytest.ExitCode.OK


def test_the_whole_suite_is_judged_by_the_runs_own_python_files_patterns(pytester: pytest.Pytester) -> None:
    root = _suite(pytester, "desk_a", {"check_a.py": ("S.a",), "test_b.py": ("S.b",)})
    pytester.makeini("[pytest]\npython_files = check_*.py\n")
    outcome = _run(pytester, "desk_a/policy_tests")  # test_b.py is not a test module under this ini
    assert outcome.ret == pytest.ExitCode.USAGE_ERROR
    assert _refusal(outcome) == [_whole_suite_line(root, {"S.a"})]


# ------------------------------------------------------------------------------------ --calpolicy-trace


def test_the_trace_lists_every_collected_tests_control_ids_even_when_the_run_is_refused(
    pytester: pytest.Pytester,
) -> None:
    """``calpolicy controls`` reads it: an untested ID shows as such, not as a crash of the listing."""
    _suite(pytester, "desk_a", {"test_a.py": ("S.a", "S.b")})
    trace = pytester.path / "trace.json"
    assert _run(pytester, "desk_a/policy_tests", "--calpolicy-trace", str(trace)).ret == pytest.ExitCode.USAGE_ERROR
    assert json.loads(trace.read_text()) == {
        "desk_a/policy_tests/test_a.py::test_S_a": ["S.a"],
        "desk_a/policy_tests/test_a.py::test_S_b": ["S.b"],
    }


# ------------------------------------------------------------------------------------ --job and --job-wait


def test_without_job_there_is_no_job_folder(pytester: pytest.Pytester) -> None:
    assert job_dir(pytester.parseconfig()) is None


def test_a_job_without_job_wait_is_used_at_once_manifest_or_not(pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("job")
    started = time.monotonic()
    assert job_dir(pytester.parseconfig("--job", str(folder))) == folder
    assert time.monotonic() - started < 0.5


def test_a_job_whose_manifest_is_there_is_used_at_once_even_with_a_wait(pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("job")
    (folder / "manifest.json").write_text("{}")
    started = time.monotonic()
    assert job_dir(pytester.parseconfig("--job", str(folder), "--job-wait", "1")) == folder
    assert time.monotonic() - started < 0.5


def test_job_wait_waits_for_the_manifest_and_returns_soon_after_it_appears(pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("job")
    config = pytester.parseconfig("--job", str(folder), "--job-wait", "3")
    writer = threading.Timer(0.2, (folder / "manifest.json").write_text, args=("{}",))
    started = time.monotonic()
    writer.start()
    try:
        assert job_dir(config) == folder
    finally:
        writer.cancel()
    elapsed = time.monotonic() - started
    assert (folder / "manifest.json").is_file()  # it did wait for it
    assert 0.15 < elapsed < 0.8  # polled often, not once a second


def test_job_wait_without_a_manifest_is_could_not_check_after_the_wait(pytester: pytest.Pytester) -> None:
    folder = pytester.mkdir("job")
    (folder / "MANIFEST.JSON").write_text("{}")  # not the manifest: the name is exact
    config = pytester.parseconfig("--job", str(folder), "--job-wait", "0.3")
    started = time.monotonic()
    with pytest.raises(CouldNotCheck) as caught:
        job_dir(config)
    assert time.monotonic() - started >= 0.3
    assert str(caught.value) == f"the job folder {folder} got no manifest.json within 0.3 s"


def test_job_wait_is_a_number_of_seconds_checked_when_the_options_are_parsed(pytester: pytest.Pytester) -> None:
    assert pytester.parseconfig("--job-wait", "2.5").getoption("--job-wait") == 2.5
    assert pytester.parseconfig().getoption("--job-wait") == 0.0
    with pytest.raises(pytest.UsageError):
        pytester.parseconfig("--job-wait", "soon")
