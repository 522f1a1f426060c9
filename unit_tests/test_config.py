"""The config: checklist defaults, layering, provenance and errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calpolicy.vocabulary.config import ConfigError, load_config
from unit_tests.conftest import run_cli


def test_defaults_are_the_checklist_values() -> None:
    config = load_config(environ={})
    assert config.cadence.min_trades == 50
    assert config.cadence.min_symbols == 2
    assert config.redis.max_latency_ms == 50
    assert config.systemd.journal_window_minutes == 30
    assert config.systemd.execution_error_window_minutes == 60
    assert config.data.starvation_hours == 2
    assert config.market.max_volume_ratio == 3.0
    assert config.calibration.max_confidence_change == 0.15
    assert config.calibration.min_improvement == 0.05
    assert config.calibration.max_degradation == 0.0
    assert config.watch.pnl_drift_sd == 0.10
    assert config.watch.win_rate_delta == 0.05
    assert config.watch.hold_rate_increase == 0.50
    assert config.watch.confidence_range == (0.50, 0.95)
    assert config.readiness.url == "http://localhost:8003/api/learning/readiness/simple"


def test_toml_then_environment_override_and_are_traced(tmp_path: Path) -> None:
    toml = tmp_path / "site.toml"
    toml.write_text("[cadence]\nmin_trades = 200\n[redis]\nmax_latency_ms = 40\n")
    config = load_config(toml, environ={"CALPOLICY_REDIS__MAX_LATENCY_MS": "20"})
    assert config.cadence.min_trades == 200
    assert config.redis.max_latency_ms == 20
    assert config.sources["cadence.min_trades"] == str(toml)
    assert config.sources["redis.max_latency_ms"] == "environment CALPOLICY_REDIS__MAX_LATENCY_MS"
    shown = config.show()
    assert f"cadence.min_trades = 200  # {toml}" in shown
    assert "cadence.min_symbols = 2  # default" in shown


def test_config_path_from_environment_variable(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("[cadence]\nmin_symbols = 3\n")
    assert load_config(environ={"CALPOLICY_CONFIG": str(toml)}).cadence.min_symbols == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[cadence]\nmin_trade = 5\n", "unknown config key 'cadence.min_trade'"),
        ("[cadnce]\nmin_trades = 5\n", "unknown config key 'cadnce'"),
        ('[cadence]\nmin_trades = "many"\n', "config key 'cadence.min_trades'"),
        ("[cadence]\nmin_trades = 0\n", "config key 'cadence.min_trades'"),
        ("[calibration]\nmax_confidence_change = 1.5\n", "config key 'calibration.max_confidence_change'"),
        ("[watch]\nconfidence_range = [0.9, 0.5]\n", "config key 'watch'"),
        ("[cadence\n", "is not valid TOML"),
    ],
)
def test_bad_config_is_a_clear_error_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(toml, environ={})


def test_bad_environment_value_names_the_variable_key() -> None:
    with pytest.raises(ConfigError, match=r"cadence\.min_trades' \(from environment CALPOLICY_CADENCE__MIN_TRADES\)"):
        load_config(environ={"CALPOLICY_CADENCE__MIN_TRADES": "-3"})


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", environ={})


def test_cli_config_show_and_usage_error(tmp_path: Path) -> None:
    good = run_cli("config", "show", cwd=tmp_path)
    assert good.returncode == 0
    assert "cadence.min_trades = 50  # default" in good.stdout
    (tmp_path / "calpolicy.toml").write_text("[cadence]\nbogus = 1\n")
    bad = run_cli("config", "show", cwd=tmp_path)
    assert bad.returncode == 2
    assert "unknown config key 'cadence.bogus' (from calpolicy.toml)" in bad.stderr


def test_the_shipped_example_for_the_real_host_is_valid() -> None:
    example = Path(__file__).parent.parent / "docs" / "calpolicy.example.toml"
    config = load_config(example, environ={})
    assert config.readiness.url == "http://127.0.0.1:8003/readiness/simple"
    assert config.sources["readiness.url"] == str(example)
