"""Prometheus metrics (`/metrics`, openapi.yaml): counters in-process, queue figures from the DB.

Counters and the latency histogram count what this process did; a deployment of several
processes sums them in Prometheus. Queue depth, oldest pending age and overdue counts are read
from the database at scrape time, so every process reports the same, true backlog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, func, select

from gateway.canonical import utc_now
from gateway.delivery import unroutable as unroutables
from gateway.delivery.enqueue import UNSETTLED
from gateway.store.dialects import each_status
from gateway.store.schema import deliveries

RECEIVED = Counter(
    "gateway_messages_received", "Messages accepted (202) or resent (200)", ["source", "outcome"]
)
REJECTED = Counter("gateway_messages_rejected", "Messages refused, by reason", ["source", "reason"])
DELIVERED = Counter("gateway_deliveries_delivered", "Deliveries delivered", ["system", "council"])
SENT = Counter("gateway_deliveries_sent", "Deliveries sent, ack awaited", ["system", "council"])
RETRIED = Counter(
    "gateway_delivery_retries", "Attempts that will be retried", ["system", "council"]
)
DEAD = Counter("gateway_deliveries_dead", "Deliveries dead-lettered", ["system", "council"])
LATENCY = Histogram(
    "gateway_delivery_latency_seconds",
    "From acceptance to the case system's confirmation",
    ["system"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600),
)
_PROCESS_METRICS = (RECEIVED, REJECTED, DELIVERED, SENT, RETRIED, DEAD, LATENCY)


def delivery_finished(system: str, council: str, status: str, latency_s: float | None) -> None:
    """Count how an attempt ended (status after it: delivered, sent, retrying, dead)."""
    counter = {"delivered": DELIVERED, "sent": SENT, "retrying": RETRIED, "dead": DEAD}.get(status)
    if counter is not None:
        counter.labels(system=system, council=council).inc()
    if status == "delivered" and latency_s is not None:
        LATENCY.labels(system=system).observe(latency_s)


class QueueCollector(Collector):
    """Backlog per target, read from the database when scraped."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Queue depth by status, oldest waiting age and overdue count, per council and system."""
        labels = ["council", "system"]
        depth = GaugeMetricFamily(
            "gateway_queue_depth", "Deliveries not yet settled", labels=[*labels, "status"]
        )
        oldest = GaugeMetricFamily(
            "gateway_oldest_pending_age_seconds",
            "Age of the oldest unsettled delivery",
            labels=labels,
        )
        overdue = GaugeMetricFamily(
            "gateway_deliveries_overdue", "Unsettled deliveries past their deadline", labels=labels
        )
        now = self.clock()
        first: dict[tuple[str, str], datetime] = {}
        late: dict[tuple[str, str], int] = {}
        with self.engine.connect() as connection:
            grouped = select(
                deliveries.c.council,
                deliveries.c.system,
                deliveries.c.status,
                func.count(),
                func.min(deliveries.c.created_at),
                func.sum(case((deliveries.c.deadline_at < now, 1), else_=0)),
            ).group_by(deliveries.c.council, deliveries.c.system, deliveries.c.status)
            rows = connection.execute(each_status(grouped, deliveries.c.status, UNSETTLED)).all()
        for council, system, status, count, created, overdue_count in rows:
            depth.add_metric([council, system, status], count)
            key = (council, system)
            first[key] = min(created, first.get(key, created))
            late[key] = late.get(key, 0) + int(overdue_count or 0)
        for (council, system), created in sorted(first.items()):
            oldest.add_metric([council, system], max(0.0, (now - created).total_seconds()))
            overdue.add_metric([council, system], late[(council, system)])
        yield from (depth, oldest, overdue)


class UnroutableCollector(Collector):
    """What waits on the unroutable list, by kind, read from the database when scraped.

    Both kinds are always reported (0 when none waits), so an alert on the oldest item's age
    (`gateway_unroutable_oldest_age_seconds > 3600`, say) can page someone whatever the kind.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Waiting count and oldest waiting age, per kind (`not_onboarded`, `unresolved_name`)."""
        waiting = GaugeMetricFamily(
            "gateway_unroutable_waiting",
            "Events waiting for an operator: council not onboarded, or its name unresolved",
            labels=["kind"],
        )
        oldest = GaugeMetricFamily(
            "gateway_unroutable_oldest_age_seconds",
            "How long the oldest event of the kind has waited (0: none waits)",
            labels=["kind"],
        )
        now = self.clock()
        with self.engine.connect() as connection:
            counts = unroutables.waiting_by_kind(connection)
        for kind, (count, since) in sorted(counts.items()):
            waiting.add_metric([kind], count)
            age = (now - since).total_seconds() if since is not None else 0.0
            oldest.add_metric([kind], max(0.0, age))
        yield from (waiting, oldest)


def registry(engine: Engine) -> CollectorRegistry:
    """A registry of this process's counters and the database's queue and unroutable figures."""
    found = CollectorRegistry(auto_describe=False)
    for metric in _PROCESS_METRICS:
        found.register(metric)
    found.register(QueueCollector(engine))
    found.register(UnroutableCollector(engine))
    return found
