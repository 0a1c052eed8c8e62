"""The audit chain verified on a timer, with the result in `/metrics` (docs/decisions/0031).

`gateway audit verify` walks the chain when someone runs it; nothing pages anyone when it would
fail. Each `gateway serve` process therefore walks the chain itself, `GATEWAY_AUDIT_VERIFY_FIRST_S`
after it starts and then every `GATEWAY_AUDIT_VERIFY_INTERVAL_S` (0: never), in a thread of its
own, on a connection of its own that only reads (on SQLite a deferred transaction, which never
holds the write lock). The latest result is exposed as:

- `gateway_audit_chain_ok`: 1 when the last walk verified the chain, 0 when it found a broken
  entry (absent until the first walk has finished);
- `gateway_audit_chain_entries`: the entries the last walk read;
- `gateway_audit_chain_broken_entry`: the first broken entry's number (0 when none);
- `gateway_audit_chain_last_run_timestamp_seconds`: when the last walk finished, so an alert
  can tell a verifier that stopped running from one that passes;
- `gateway_audit_chain_verify_errors`: walks that could not finish (the database failed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway import audit
from gateway.audit.checkpoints import CheckpointLog
from gateway.logs import get_logger
from gateway.store.engine import reading

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Walk:
    """The result of one walk of the chain."""

    ok: bool
    entries: int
    broken_entry: int
    finished_at: float  # Unix time


class AuditMonitor(Collector):
    """Walks the audit chain every `interval` (after `first`); a Prometheus collector of it."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval: timedelta,
        first: timedelta,
        checkpoints: CheckpointLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.checkpoints = checkpoints
        self.interval = interval
        self.first = first
        self.clock = clock
        self.last: Walk | None = None
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Walk | None:
        """Walk the chain now; the result, or None when the database failed mid-walk."""
        try:
            with reading(self.engine) as connection:
                report = audit.verify(connection, self.checkpoints)
        except SQLAlchemyError as exc:
            self.errors += 1
            log.warning("audit_verify_failed", error=type(exc).__name__)
            return None
        first = report.problems[0] if report.problems else None
        walk = Walk(report.ok, report.entries, (first.entry or 0) if first else 0, self.clock())
        if first is not None:
            log.error("audit_chain_broken", code=first.code, entry=first.entry)
        self.last = walk
        return walk

    def start(self) -> None:
        """Walk in a daemon thread until `stop` (nothing when the interval is 0)."""
        if self.interval.total_seconds() <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="audit-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (a walk under way finishes first, up to `timeout`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        wait = self.first.total_seconds()
        while not self._stop.wait(wait):
            self.run_once()
            wait = self.interval.total_seconds()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The last walk's result (the ok gauge only once a walk has finished)."""
        ok = GaugeMetricFamily(
            "gateway_audit_chain_ok", "1: the last walk verified the audit chain; 0: broken"
        )
        entries = GaugeMetricFamily(
            "gateway_audit_chain_entries", "Audit entries the last walk of the chain read"
        )
        broken = GaugeMetricFamily(
            "gateway_audit_chain_broken_entry", "The first broken audit entry found (0: none)"
        )
        finished = GaugeMetricFamily(
            "gateway_audit_chain_last_run_timestamp_seconds",
            "When the last walk of the audit chain finished (Unix time)",
        )
        errors = GaugeMetricFamily(
            "gateway_audit_chain_verify_errors",
            "Walks of the audit chain that could not finish since the process started",
        )
        errors.add_metric([], self.errors)
        if self.last is not None:
            ok.add_metric([], 1 if self.last.ok else 0)
            entries.add_metric([], self.last.entries)
            broken.add_metric([], self.last.broken_entry)
            finished.add_metric([], self.last.finished_at)
        yield from (ok, entries, broken, finished, errors)
