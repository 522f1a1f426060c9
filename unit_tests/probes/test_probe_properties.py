"""Property tests of the probes' small parsers and maths: the halt vocabulary, the action classes, the
nearest-rank percentile the latency rule rests on."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from calpolicy.preflight.probes.readiness import classify_action
from calpolicy.preflight.probes.redis.halt import boolean_halt
from calpolicy.vocabulary.config import ReadinessConfig
from calpolicy.vocabulary.decisions import _quantile, quantile_rank

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off", "")


def _case_mix(word: str, flips: list[bool]) -> str:
    return "".join(c.upper() if flip else c for c, flip in zip(word, flips + [False] * len(word), strict=False))


@given(st.sampled_from(TRUE), st.lists(st.booleans(), max_size=5), st.sampled_from(["", " ", "\t", "\n"]))
def test_every_spelling_of_a_halt_value_halts(word: str, flips: list[bool], pad: str) -> None:
    assert boolean_halt(pad + _case_mix(word, flips) + pad, TRUE, FALSE) is True


@given(st.sampled_from(FALSE), st.lists(st.booleans(), max_size=5), st.sampled_from(["", " ", "\t"]))
def test_every_spelling_of_a_clear_value_is_clear(word: str, flips: list[bool], pad: str) -> None:
    assert boolean_halt(pad + _case_mix(word, flips) + pad, TRUE, FALSE) is False


@given(st.text(max_size=20))
def test_any_other_value_cannot_be_judged_and_nothing_raises(value: str) -> None:
    word = value.strip().casefold()
    expected = True if word in TRUE else False if word in FALSE else None
    assert boolean_halt(value, TRUE, FALSE) is expected


@given(
    st.text(min_size=0, max_size=8),
    st.sampled_from(["train", "weight", "promot", "deploy", "rollout"]),
    st.text(max_size=8),
)
def test_a_name_containing_a_forbidden_part_is_forbidden(before: str, part: str, after: str) -> None:
    name = before + part + after
    config = ReadinessConfig()
    if name.strip().casefold() in ("calibration", "shadow"):
        return  # cannot happen with these parts, but the allowed list is matched first by design
    assert classify_action(name, config) == "forbidden"
    assert classify_action(name.upper(), config) == "forbidden"


@given(st.sampled_from(["calibration", "shadow"]), st.lists(st.booleans(), max_size=12))
def test_the_allowed_actions_in_any_case_are_allowed(word: str, flips: list[bool]) -> None:
    assert classify_action(_case_mix(word, flips), ReadinessConfig()) == "allowed"


@given(
    st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=120),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_the_nearest_rank_percentile_has_at_least_q_of_the_samples_at_or_below_it(
    values: list[float], q: float
) -> None:
    ordered = sorted(values)
    chosen = _quantile(ordered, q)
    n = len(ordered)
    assert sum(v <= chosen for v in ordered) >= q * n - 1e-9
    assert sum(v < chosen for v in ordered) < q * n + 1e-9
    assert quantile_rank(n, q) == min(n, max(1, math.ceil(q * n)))


@given(st.integers(min_value=20, max_value=5000))
def test_from_twenty_samples_one_spike_never_decides_p95(n: int) -> None:
    values = [0.4] * (n - 1) + [500.0]
    assert _quantile(sorted(values), 0.95) == 0.4
