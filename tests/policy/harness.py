"""A gateway with a controllable clock: ingest messages and run the policy timer at set times."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from adapters import registry
from gateway import routing
from gateway.ingest import Ingestor
from gateway.keys import Principal, Role
from gateway.policy.timer import PolicyTimer
from gateway.settings import DEMO_ROUTING
from gateway.store import migrate
from gateway.store.schema import deliveries, policy_flags
from tests.policy_messages import Report

OPERATOR = Principal(key_id="policytest", role=Role.OPERATOR)
SECOND = timedelta(seconds=1)


class Gateway:
    """Ingestor and policy timer over one database, both reading `now`."""

    def __init__(
        self, engine: Engine, now: datetime, table: routing.RoutingTable | None = None
    ) -> None:
        migrate.upgrade(engine)
        self.engine = engine
        self.routing = table or routing.load(DEMO_ROUTING)
        self.now = now
        self.versions: dict[str, int] = {}
        self.restart()

    def restart(self) -> None:
        """New ingestor and timer objects: all a process restart leaves is the database."""
        clock = lambda: self.now  # noqa: E731
        self.ingestor = Ingestor(self.engine, self.routing, clock=clock)
        self.timer = PolicyTimer(self.engine, self.routing, clock=clock)

    def send(self, report: Report, event: str = "NEW", *, at: datetime | None = None) -> str:
        """Ingest the report's next message at `at` (default: now); returns the episode id."""
        if at is not None:
            self.now = at
        version = self.versions.get(report.case, 0) + 1
        self.versions[report.case] = version
        source, body = report.message(version, event)
        outcome = self.ingestor.ingest(registry.INBOUND[source], body, OPERATOR)
        assert outcome.status_code == 202, outcome.receipt
        return str(outcome.receipt["episode_id"])

    def tick(self, at: datetime) -> int:
        """Run the policy timer at `at`; returns the flags it raised."""
        self.now = at
        return self.timer.run()

    def flags(self, episode_id: str, rule: str | None = None) -> list[Any]:
        """The flags raised on an episode (optionally one rule's), oldest first."""
        query = select(policy_flags).where(policy_flags.c.episode_id == episode_id)
        if rule is not None:
            query = query.where(policy_flags.c.rule == rule)
        with self.engine.connect() as connection:
            return list(connection.execute(query.order_by(policy_flags.c.id)))

    def delivered_flags(self, episode_id: str, council: str) -> list[dict[str, Any]]:
        """Every flag queued for delivery to a council on this episode, in delivery order."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(deliveries.c.flags)
                .where(deliveries.c.episode_id == episode_id, deliveries.c.council == council)
                .order_by(deliveries.c.seq)
            )
            return [flag for row in rows for flag in row.flags]
