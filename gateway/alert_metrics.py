"""The figures the alert rules page on (deploy/prometheus/), read from the database at scrape.

Like the queue figures of `gateway.metrics`, these are the true state of the shared database,
so every gateway process reports the same values (take `max` across processes, not `sum`):

- `gateway_deliveries_overdue_by_risk{council,system,risk}`: unsettled deliveries past their
  deadline, by the risk level that set it (a high-risk one overdue means phoning the MASH);
- `gateway_dead_letters{council,system}`: deliveries the gateway stopped trying, until replayed;
- `gateway_acks_overdue{council,system}`: Protocol drops whose acknowledgement is later than
  `GATEWAY_ACK_OVERDUE_S`;
- `gateway_unroutable_waiting{kind}` and `gateway_unroutable_oldest_age_seconds{kind}`: events
  waiting on the unroutable list (`gateway.waiting`), and how long the oldest has waited, for
  each kind (0 when none waits). `UnroutableFigures` is a collector of its own: a registry
  must hold only one collector of those two names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, and_, case, func
from sqlalchemy.sql.expression import CompoundSelect

from gateway.canonical import utc_now
from gateway.delivery.enqueue import RISK_BY_PRIORITY
from gateway.overview import standing
from gateway.routing import RoutingTable
from gateway.store.engine import reading
from gateway.store.schema import deliveries


class AlertCollector(Collector):
    """Overdue deliveries by risk, dead letters and late Protocol acknowledgements."""

    def __init__(
        self,
        engine: Engine,
        routing: RoutingTable,
        *,
        ack_after: timedelta,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.routing = routing
        self.ack_after = ack_after
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Every family, even with no samples, so the alert rules always find their names."""
        now = self.clock()
        with reading(self.engine) as connection:
            rows = connection.execute(_by_state(now, now - self.ack_after)).all()
        overdue: Counter[tuple[str, str, str]] = Counter()
        dead: Counter[tuple[str, str]] = Counter()
        acks: Counter[tuple[str, str]] = Counter()
        for council, system, status, priority, count, late, ack_late in rows:
            if status == "dead":
                dead[(council, system)] += count
            if late:
                overdue[(council, system, str(RISK_BY_PRIORITY[priority]))] += late
            if ack_late:
                acks[(council, system)] += ack_late
        yield _family(
            "gateway_deliveries_overdue_by_risk",
            "Unsettled deliveries past their deadline, by risk level",
            ["council", "system", "risk"],
            overdue,
        )
        yield _family(
            "gateway_dead_letters",
            "Deliveries dead-lettered and not replayed",
            ["council", "system"],
            dead,
        )
        yield _family(
            "gateway_acks_overdue",
            "Protocol drops whose acknowledgement is later than GATEWAY_ACK_OVERDUE_S",
            ["council", "system"],
            acks,
        )


def _family(
    name: str, documentation: str, labels: list[str], values: Counter[Any]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _by_state(now: datetime, ack_cutoff: datetime) -> CompoundSelect[Any]:
    """The overview's standing deliveries (`overview.standing`), with acknowledgements overdue."""
    ack_late = and_(deliveries.c.status == "sent", deliveries.c.sent_at < ack_cutoff)
    return standing(now, func.sum(case((ack_late, 1), else_=0)))
