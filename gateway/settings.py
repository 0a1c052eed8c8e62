"""One typed settings object, read from `GATEWAY_*` environment variables and a `.env` file."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

import mappings

DEMO_ROUTING = mappings.path("routing/demo.yaml")


class Settings(BaseSettings):
    """Gateway settings (docs/operations.md); every field has the documented default."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    routing_file: Path = DEMO_ROUTING
    simulators: bool | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # How long a request body may take to arrive, whole (a slow sender holds a connection).
    body_timeout_s: float = Field(default=30.0, gt=0, le=600)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Messages stored together in one transaction at most (gateway/ingest/batching.py); 1: each
    # message in a transaction of its own.
    ingest_batch: int = Field(default=32, ge=1, le=256)
    # Processes beside the server that parse, map and store inbound messages
    # (gateway/ingest/processes.py); 0: in the serving process; unset: 1 on SQLite (one
    # writer at a time anyway), 2 on PostgreSQL.
    ingest_processes: int | None = Field(default=None, ge=0, le=16)
    # Delivery deadlines by risk (docs/operations.md), in seconds.
    deadline_high_s: int = 15 * 60
    deadline_medium_s: int = 60 * 60
    deadline_other_s: int = 4 * 60 * 60
    # Delivery engine (docs/architecture.md): retry schedule, dead letters, breaker, workers.
    worker: bool = True  # `gateway serve` runs a delivery worker in-process
    worker_concurrency: int = Field(default=8, ge=1, le=256)
    worker_poll_s: float = Field(default=0.5, gt=0)
    retry_base_s: float = Field(default=2.0, gt=0)
    retry_cap_s: float = Field(default=600.0, gt=0)
    retry_high_risk_cap_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=25, ge=1)
    max_age_s: int = Field(default=72 * 3600, ge=60)
    # Each council's circuit breaker (gateway/delivery/breaker.py): it opens when, over the
    # window, at least `breaker_min_calls` attempts ended and `breaker_failure_rate` of them
    # failed; stays open `breaker_open_s`, doubled on each re-opening up to
    # `breaker_open_max_s`; then lets `breaker_probes` attempts through. No pause of a council
    # with high-risk work due lasts longer than `breaker_high_risk_pause_s`.
    breaker_window_s: float = Field(default=60.0, gt=0, le=3600)
    breaker_min_calls: int = Field(default=10, ge=1, le=10_000)
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    breaker_open_s: float = Field(default=10.0, gt=0, le=3600)
    breaker_open_max_s: float = Field(default=60.0, gt=0, le=3600)
    breaker_probes: int = Field(default=3, ge=1, le=64)
    breaker_high_risk_pause_s: float = Field(default=30.0, gt=0, le=900)
    ack_poll_s: float = Field(default=5.0, gt=0)
    ack_overdue_s: int = Field(default=15 * 60, ge=1)  # a Protocol ack: overdue after 15 minutes
    # Council policy packs (docs/policy-packs.md): how often the timer looks for flags due.
    policy_poll_s: float = Field(default=15.0, gt=0)
    # Retention (docs/decisions/0009): raw bodies and sent payloads older than
    # this are purged by the worker every `purge_interval_s`, `purge_batch` rows a transaction.
    retention_days: int = Field(default=90, ge=1)
    purge_interval_s: float = Field(default=3600.0, gt=0)
    purge_batch: int = Field(default=500, ge=1, le=10_000)
    # Each `gateway serve` process walks the audit chain for /metrics (gateway/audit_monitor.py):
    # first this long after it starts, then every interval; an interval of 0 switches it off.
    audit_verify_first_s: float = Field(default=60.0, ge=0)
    audit_verify_interval_s: float = Field(default=3600.0, ge=0)
    # The council web page at /ui: the key that signs its session cookies (default: random per
    # process, so sessions end on restart; set it when several processes share the load) and
    # how long a session lasts before the council signs in again.
    ui_session_secret: SecretStr | None = None
    ui_session_ttl_s: int = Field(default=3600, ge=60, le=24 * 3600)
    # The audit chain's checkpoints (docs/decisions/0028): the key that signs them (required
    # outside the demo, where one is generated in the data directory), the directory they are
    # appended to (keep it out of the database administrators' reach), and at most how often a
    # process writes one (0: after every commit that appends).
    audit_key: SecretStr | None = None
    audit_checkpoint_dir: Path | None = None
    audit_checkpoint_interval_s: float = Field(default=1.0, ge=0, le=60)
    # Base URL the demo routing's `{simulators}` placeholder stands for (the in-process simulators).
    public_url: str = "http://127.0.0.1:8080"
    # The HTTP server (gateway/server.py): how long a request's head may take to arrive, how long
    # an idle kept-alive connection stays open, connections served at once (more get 503), and
    # the proxies whose X-Forwarded-For names the client (comma-separated addresses, or *).
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    keep_alive_s: int = Field(default=5, ge=1, le=300)
    max_connections: int = Field(default=256, ge=8, le=100_000)
    forwarded_allow_ips: str = "127.0.0.1"
    # Failed authentications (gateway/api/auth_failures.py): this many within the window from
    # one client address, or naming one key, and further attempts are answered 429.
    auth_failure_limit: int = Field(default=10, ge=1, le=100_000)
    auth_failure_window_s: float = Field(default=60.0, gt=0, le=86_400)
    # How long a process answers from its cache of an API key before reading the key again
    # (gateway/api/key_cache.py): a revoked key is refused everywhere within this time; 0
    # reads the key on every request.
    key_cache_s: float = Field(default=10.0, ge=0, le=300)
    # `gateway serve` with the demo routing or the simulators on a non-loopback --host.
    allow_demo_on_network: bool = False

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    @property
    def resolved_audit_checkpoint_dir(self) -> Path:
        """Where audit checkpoints are written (default: `audit-checkpoints` in the data dir)."""
        return self.audit_checkpoint_dir or self.data_dir / "audit-checkpoints"

    @property
    def resolved_ingest_processes(self) -> int:
        """How many ingest processes to run beside the server (see `ingest_processes`)."""
        if self.ingest_processes is not None:
            return self.ingest_processes
        return 1 if self.resolved_database_url.startswith("sqlite") else 2

    @property
    def is_demo_routing(self) -> bool:
        """Whether the bundled demo routing (pointing at the bundled simulators) is in use."""
        return self.routing_file.resolve() == DEMO_ROUTING.resolve()

    @property
    def serve_simulators(self) -> bool:
        """Whether `gateway serve` also serves the simulators (default: with demo routing)."""
        return self.is_demo_routing if self.simulators is None else self.simulators
