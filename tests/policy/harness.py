"""A gateway with a controllable clock: ingest messages and run the policy timer at set times."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from adapters import registry
from gateway import routing
from gateway.ingest.batching import Ingestor
from gateway.keys import Principal, Role
from gateway.policy.timer import PolicyTimer
from gateway.settings import DEMO_ROUTING
from gateway.store import migrate
from gateway.store.schema import deliveries, policy_flags
from tests.policy_messages import Child, Report

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


# --- assertions shared by the per-council tests --------------------------------------------

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def rules(gw: Gateway, episode: str, council: str | None = None) -> list[tuple[str, int]]:
    """(rule, period) of every flag raised on the episode (optionally for one council)."""
    return [(f.rule, f.period) for f in gw.flags(episode) if council in (None, f.council)]


def raised(gw: Gateway, episode: str, council: str | None = None) -> set[str]:
    """The rule ids raised on the episode (optionally for one council)."""
    return {rule for rule, _ in rules(gw, episode, council)}


def fires_at(
    gw: Gateway, episode: str, rule: str, at: datetime, *, council: str, period: int = 0
) -> None:
    """The timer raises (rule, period) at `at`, not a second before, once, across a restart."""
    gw.tick(at - SECOND)
    assert (rule, period) not in rules(gw, episode, council), f"{rule} fired before {at}"
    gw.restart()
    gw.tick(at)
    flagged = [f for f in gw.flags(episode, rule) if f.period == period and f.council == council]
    assert len(flagged) == 1, f"{rule} did not fire at {at}"
    assert flagged[0].due_at == at
    gw.restart()
    gw.tick(at + SECOND)
    gw.tick(at + HOUR)
    assert len([f for f in gw.flags(episode, rule) if f.period == period]) == 1
    sent = [f for f in gw.delivered_flags(episode, council) if f["rule"] == rule]
    assert [f["period"] for f in sent].count(period) == 1


def fires_with_message(gw: Gateway, episode: str, rule: str, council: str) -> None:
    """The rule fired on the message just sent and travels with its delivery to the council."""
    assert rules(gw, episode, council).count((rule, 0)) == 1
    with gw.engine.connect() as connection:
        last = connection.execute(
            select(deliveries.c.flags)
            .where(deliveries.c.episode_id == episode, deliveries.c.council == council)
            .order_by(deliveries.c.seq.desc())
            .limit(1)
        ).scalar_one()
    assert rule in [f["rule"] for f in last]


def never(gw: Gateway, episode: str, rule: str, *, until: datetime) -> None:
    """The rule has not fired by `until`."""
    gw.tick(until)
    assert rule not in raised(gw, episode)


def series(
    gw: Gateway, council: str, start: datetime, offsets: list[timedelta], **kw: Any
) -> list[str]:
    """One child's episodes reported at `start` + each offset; returns their episode ids."""
    child = Child()
    return [
        gw.send(Report(council=council, reported=start + o, child=child, **kw)) for o in offsets
    ]


def found_at(gw: Gateway, report: Report, at: datetime) -> None:
    """The police say the child was found at `at` (the message sent then)."""
    gw.send(replace(report, located=at), "LOCATED", at=at)
