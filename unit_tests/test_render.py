"""The verdict text: one set of item counts, one line per cause, never "(1 items)"."""

from __future__ import annotations

import pytest

from calpolicy.localenv.systemd_ns import SystemdUnavailable, unit_interpreter
from calpolicy.vocabulary.render import headline, item_lines, render_verdict
from calpolicy.vocabulary.verdict import Finding, Verdict


def _verdict(*rows: tuple[str, str, str]) -> Verdict:
    return Verdict(tuple(Finding(i, s, m, {}) for i, s, m in rows))


def test_items_are_counted_once_and_apart() -> None:
    verdict = _verdict(
        ("P0.1.b", "fail", "quantum-execution is FAILED"),
        ("S.e", "fail", "kill switch set"),
        ("S.e", "pass", "mode key NORMAL"),  # a fail and a pass on one item: the item failed
        ("P0.3.a", "error", "could not check the API"),
        ("P0.3.b", "error", "could not check the API"),
        ("S.a", "pass", "ok"),
    )
    assert headline(verdict, "t") == (
        "STOP — t: 2 of 5 items failed (P0.1.b, S.e); 2 could not be checked (P0.3.a, P0.3.b); 1 passed"
    )
    assert [line.split()[:2] for line in item_lines(verdict)] == [
        ["FAIL", "P0.1.b"], ["FAIL", "S.e"], ["ERROR", "P0.3.a"], ["ERROR", "P0.3.b"], ["PASS", "S.a"],
    ]  # fmt: skip


def test_only_unknown_items_say_so_with_the_total() -> None:
    verdict = _verdict(("P0.3.a", "error", "x"), ("S.a", "pass", "ok"))
    assert headline(verdict, "t") == "STOP (could not check) — t: 1 of 2 items could not be checked (P0.3.a); 1 passed"


def test_go_and_nothing_ran() -> None:
    assert headline(_verdict(("S.a", "pass", "ok"), ("S.a", "pass", "ok2")), "t") == "GO — t: all 1 item passed"
    assert "no check ran" in headline(Verdict(()), "t")


def test_one_item_with_two_findings_is_not_called_one_items() -> None:
    text = render_verdict(_verdict(("S.a", "fail", "too few trades"), ("S.a", "fail", "too few trades")), "t")
    assert "(1 items)" not in text
    assert text.count("FAIL  S.a") == 2


def test_the_namespace_units_never_run_an_interpreter_under_tmp() -> None:
    chosen = unit_interpreter("/tmp/venv-x/bin/python")
    assert not chosen.startswith(("/tmp/", "/var/tmp/"))
    with pytest.raises(SystemdUnavailable, match="lives under /tmp or /var/tmp"):
        unit_interpreter("/tmp/venv-x/bin/python", which=lambda name: "/var/tmp/py/bin/python3")
