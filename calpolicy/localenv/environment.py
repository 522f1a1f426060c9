"""The whole local environment the preflight needs, up on loopback, and a ``calpolicy.toml`` for it.

One object owns every piece (redis-server, readiness server, systemd namespace, sample CLM log,
execution log file) so tests and ``calpolicy demo`` can bring it up healthy, break one thing, run the
preflight against it, and tear it all down — killing only what it started.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from calpolicy.localenv.readiness_server import READY_BODY, ReadinessServer, Reply
from calpolicy.localenv.redis_server import HALT_KEYS_CLEAR, MarketRefresher, RedisServer, publish_market_state
from calpolicy.localenv.sample_log import write_sample_log
from calpolicy.localenv.systemd_ns import QUANTUM_UNITS, SystemdNamespace, SystemdUnavailable
from calpolicy.review.signing import generate_keypair
from calpolicy.vocabulary.config import RedisConfig, dumps_toml

BACKLOG_STREAM = "quantum:stream:trade.closed"
BACKLOG_GROUP = "clm-recorder"
MARKET_SYMBOLS = ("BTCUSDT", "ETHUSDT")


class LocalEnvironment:
    """``start()`` brings everything up healthy; ``write_config()`` points calpolicy at it.

    ``systemd=None`` boots a namespace when this machine can (root) and otherwise records in
    ``systemd_note`` why the unit checks cannot run; ``systemd=True`` makes that an error.
    """

    def __init__(
        self,
        workdir: Path,
        systemd: bool | None = None,
        latency_duration_s: float = 0.25,
        latency_samples: int = 50,
        n_trades: int = 300,
    ) -> None:
        self.workdir = Path(workdir)
        self.want_systemd = systemd
        self.latency_duration_s = latency_duration_s
        self.latency_samples = latency_samples
        self.n_trades = n_trades
        self.redis = RedisServer()
        self.market = MarketRefresher(self.redis, MARKET_SYMBOLS)
        self.readiness = ReadinessServer()
        self.systemd: SystemdNamespace | None = None
        self.systemd_note: str | None = None
        self.clm_file = self.workdir / "clm_trades.jsonl"
        self.execution_log = self.workdir / "execution.log"
        self.live_dir = self.workdir / "live"  # the live system's files a run must never change
        self.jobs_dir = self.workdir / "calpolicy_jobs"
        self.signing_key = self.workdir / "keys" / "signing.key"
        self.trusted_keys = self.workdir / "keys" / "trusted"

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> LocalEnvironment:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.signing_key.exists():  # the environment's own key: its jobs are signed and verifiable
            generate_keypair(self.signing_key, self.trusted_keys)
        try:
            self.redis.start()
            self.readiness.start()
            self.market.start()
            if self.want_systemd is not False:
                try:
                    self.systemd = SystemdNamespace().boot()
                except SystemdUnavailable as error:
                    if self.want_systemd:
                        raise
                    self.systemd_note = f"unit and journal checks cannot run here: {error}"
            else:
                self.systemd_note = "unit and journal checks cannot run: no systemd namespace was requested"
            self.make_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.systemd is not None:
            self.systemd.shutdown()
            self.systemd = None
        self.market.stop()
        self.readiness.stop()
        self.redis.stop()

    def __enter__(self) -> LocalEnvironment:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ states

    def make_healthy(self, now: datetime | None = None) -> None:
        """Every target in its GO state: units active and quiet, bus calm, cadence ready, data valid."""
        now = now or datetime.now(UTC)
        client = self.redis.client()
        with self.market.lock:  # as the real host publishes: market hash + history stream, halt values as strings
            client.flushall()
            client.xadd(BACKLOG_STREAM, {"trade_id": "sample_trade_000001"})
            client.xgroup_create(BACKLOG_STREAM, BACKLOG_GROUP, id="$")
            publish_market_state(client, MARKET_SYMBOLS, now.timestamp())
            client.mset(HALT_KEYS_CLEAR)
        self.market.resume()
        client.close()
        self.readiness.reply = Reply(body=dict(READY_BODY))
        write_sample_log(self.clm_file, n_trades=self.n_trades, now=now)
        stamp = (now - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
        self.execution_log.write_text(f"{stamp} INFO execution service running\n", encoding="utf-8")
        self._write_live_files()
        if self.systemd is not None:
            for unit in QUANTUM_UNITS:
                self.systemd.remove_unit(unit)
            self.systemd.clear_journal()
            for unit in QUANTUM_UNITS:
                self.systemd.start_healthy(unit)

    def _write_live_files(self) -> None:
        """Stand-ins for the live engine's config, archive, model weights and Meta-Agent parameters."""
        config = self.live_dir / "config"
        (config / "calibration_archive").mkdir(parents=True, exist_ok=True)
        (config / "calibration.json").write_text(
            '{"version": "cal_20260206_060303", "ensemble_weights": {"enabled": false}}\n', encoding="utf-8"
        )
        for model in ("xgb", "lgbm", "nhits", "patchtst"):
            (self.live_dir / "models" / model).mkdir(parents=True, exist_ok=True)
            (self.live_dir / "models" / model / "model.bin").write_bytes(model.encode() * 64)
        (self.live_dir / "meta_agent").mkdir(parents=True, exist_ok=True)
        (self.live_dir / "meta_agent" / "policy_params.json").write_text('{"epsilon": 0.05}\n', encoding="utf-8")

    def add_backlog(self, entries: int) -> None:
        """Entries nobody in the consumer group has read: the bus is falling behind."""
        client = self.redis.client()
        for i in range(entries):
            client.xadd(BACKLOG_STREAM, {"trade_id": f"late_{i}"})
        client.close()

    def set_halt(self, key: str = "quantum:global:kill_switch", value: str = "true") -> None:
        client = self.redis.client()
        client.set(key, value)
        client.close()

    # ------------------------------------------------------------------------------ config

    def config_values(self) -> dict[str, dict[str, Any]]:
        prefix = list(self.systemd.prefix) if self.systemd is not None else []
        return {
            "paths": {
                "clm_file": str(self.clm_file),
                "config_dir": str(self.live_dir / "config"),
                "calibration_file": str(self.live_dir / "config" / "calibration.json"),
                "archive_dir": str(self.live_dir / "config" / "calibration_archive"),
                "jobs_dir": str(self.jobs_dir),
                "model_weights": [str(self.live_dir / "models")],
                "meta_agent_params": [str(self.live_dir / "meta_agent")],
            },
            "systemd": {
                "command_prefix": prefix,
                "execution_log_files": [str(self.execution_log)],
            },
            "redis": {
                "url": self.redis.url,
                "latency_samples": self.latency_samples,
                "latency_duration_s": self.latency_duration_s,
                "backlog_streams": [BACKLOG_STREAM],
                "halt_keys": {k: list(v) for k, v in RedisConfig().halt_keys.items()},
            },
            "readiness": {"url": self.readiness.url},
            "market": {"symbols": list(MARKET_SYMBOLS)},
            "signing": {"private_key": str(self.signing_key), "trusted_keys_dir": str(self.trusted_keys)},
        }

    def write_config(self, path: Path | None = None, overrides: dict[str, Any] | None = None) -> Path:
        """Write ``calpolicy.toml`` for this environment; ``overrides`` are dotted keys (``"redis.url"``)."""
        tree = self.config_values()
        for dotted, value in (overrides or {}).items():
            section, _, key = dotted.partition(".")
            tree.setdefault(section, {})[key] = value
        target = Path(path) if path is not None else self.workdir / "calpolicy.toml"
        target.write_text(dumps_toml(tree), encoding="utf-8")
        target.chmod(0o644)  # calpolicy refuses a config its group or others could write, whatever the umask
        return target


@contextlib.contextmanager
def local_environment(workdir: Path, **kwargs: Any) -> Any:
    with LocalEnvironment(workdir, **kwargs) as env:
        yield env
