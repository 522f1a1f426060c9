"""``dumps_toml``, calpolicy's one TOML writer (tomli-w): what it writes reads back as the same values.

``run_job(Config)`` hands its child processes the effective config as a TOML file written here, and the
local environment and the tests write their ``calpolicy.toml`` with it. A value that does not survive the
trip (a quote or backslash in a path, a key with a dot, a table two levels deep) would make a child judge
with a config other than the one the operator's run was given, so the trip is tested, not assumed.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from calpolicy.localenv.environment import LocalEnvironment
from calpolicy.vocabulary.config import Config, dumps_toml, load_config

HOSTILE_DIR = 'we"ird \\ dir\t\x7f\u2028 ü'  # a quote, a backslash, a tab, DEL, a line separator, non-ASCII

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_scalar = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    _text,
    _text.map(PurePosixPath),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


def _expected(value: Any) -> Any:
    """What TOML gives back: paths as strings, tuples as lists, everything else itself."""
    if isinstance(value, dict):
        return {key: _expected(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_expected(item) for item in value]
    return str(value) if isinstance(value, PurePosixPath) else value


@given(st.dictionaries(_text, st.dictionaries(_text, _value, max_size=4), max_size=4))
@example({"a b": {"k.e.y": {"x": {"deep": [1.5]}}}})  # a section name with a space, a dotted key, nesting
@example({"paths": {"clm_file": PurePosixPath(f"/srv/{HOSTILE_DIR}/clm.jsonl")}})
@example({"s": {"v": "\x7f"}})  # DEL: TOML forbids it raw in a string (the hand-written writer put it raw)
def test_any_tree_reads_back_as_itself(tree: dict[str, dict[str, Any]]) -> None:
    assert tomllib.loads(dumps_toml(tree)) == _expected(tree)


def test_infinity_reads_back_and_nan_stays_nan() -> None:
    back = tomllib.loads(dumps_toml({"s": {"up": math.inf, "down": -math.inf, "nan": math.nan}}))["s"]
    assert (back["up"], back["down"]) == (math.inf, -math.inf)
    assert math.isnan(back["nan"])


@pytest.mark.parametrize(
    ("tree", "where"),
    [
        ({"paths": {"clm_file": None}}, "paths.clm_file"),
        ({"redis": {"halt_keys": {"quantum:kill": None}}}, "redis.halt_keys.quantum:kill"),
        ({"paths": {"model_weights": ["/a", None]}}, r"paths.model_weights\[1\]"),
    ],
)
def test_none_is_refused_with_its_key_named(tree: dict[str, Any], where: str) -> None:
    """TOML has no null; leaving the key out would let the default stand in for a value nobody chose."""
    with pytest.raises(TypeError, match=rf"^{where} is None, which TOML cannot write \(it has no null\)$"):
        dumps_toml(tree)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)  # load_config refuses a file its group or others could write, whatever the umask
    return path


def test_an_effective_config_survives_the_trip_to_a_child(tmp_path: Path) -> None:
    """What ``run_job(Config)`` writes for its children loads back as the very same config."""
    site = tmp_path / HOSTILE_DIR
    config = Config().with_overrides(
        {
            "paths.clm_file": site / "clm.jsonl",
            "paths.jobs_dir": site / "jobs",
            "paths.protected_paths": (site / "models", site / 'a"b'),
            "redis.halt_keys": {**Config().redis.halt_keys, 'odd "key"\\': ("1", "on")},
            "redis.max_latency_ms": 80.0,
            "waivers.redis.max_latency_ms": {"by": "ops", "why": "a slow bus", "until": "2100-01-01T00:00:00+00:00"},
        },
        "test",
    )
    back = load_config(_write(tmp_path / "calpolicy.toml", dumps_toml(config.as_dict())), environ={})
    assert back.as_dict() == config.as_dict()
    assert back.paths.clm_file == site / "clm.jsonl"


def test_the_local_environments_config_loads(tmp_path: Path) -> None:
    """``LocalEnvironment.write_config`` (tests and ``calpolicy demo``): nested halt keys and a waiver as a
    dotted override, under a folder whose name needs escaping."""
    env = LocalEnvironment(tmp_path / HOSTILE_DIR, systemd=False)
    env.workdir.mkdir()
    waiver = {"by": "unit tests", "why": "a loaded CI machine", "until": "2100-01-01T00:00:00+00:00"}
    path = env.write_config(overrides={"redis.max_latency_ms": 500.0, "waivers.redis.max_latency_ms": waiver})
    config = load_config(path, environ={})
    assert config.paths.clm_file == env.clm_file
    assert config.redis.max_latency_ms == 500.0
    assert config.waivers["redis.max_latency_ms"].by == "unit tests"
    assert config.redis.halt_keys == Config().redis.halt_keys
