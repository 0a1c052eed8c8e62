"""Bulk replay, planned first: what `gateway replay` and the operators' overview queue again.

A plan is read in one transaction and changes nothing: `gateway replay --dry-run` prints it,
and the overview shows it before it asks for a reason. Running a replay reads what to do again,
a batch per transaction (short locks, and progress that survives a failure), so whatever
changed since the plan was shown is taken as it now stands: a delivery a worker or another
replay moved on meanwhile is skipped and counted. Every replay's audit entry names the actor,
the way in (`via`) and the reason.

`before` is a step a replay takes first, in its own transaction, such as reading waiting
council names again with the names table as it is now: `preview` takes it too, and rolls it
back, so the plan shows what it would make routable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from gateway.canonical import utc_now
from gateway.delivery import replay as replays
from gateway.delivery.deadlines import Deadlines
from gateway.routing import RoutingTable
from gateway.store.engine import reading
from gateway.store.locks import Level
from gateway.store.schema import deliveries
from gateway.store.work import unit_of_work
from gateway.waiting import WaitingGroup, list_waiting

BATCH = 100  # deliveries (or unroutable rows) per transaction


@dataclass(frozen=True, slots=True)
class Scope:
    """Which replays: one council or all, the delivery statuses to queue again, a start time."""

    council: str | None = None
    statuses: tuple[str, ...] = ("dead",)
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What a replay would do now, by council, oldest first."""

    deliveries: dict[str, list[tuple[str, str]]]  # council -> (delivery id, status)
    events: dict[str, list[str]]  # council -> ids of waiting events it would deliver now
    still_waiting: list[WaitingGroup] = field(default_factory=list)  # not routable yet

    @property
    def delivery_count(self) -> int:
        """Deliveries that would be queued again."""
        return sum(len(ids) for ids in self.deliveries.values())

    @property
    def event_count(self) -> int:
        """Unroutable events that would be delivered."""
        return sum(len(ids) for ids in self.events.values())

    @property
    def total(self) -> int:
        """Everything the replay would queue."""
        return self.delivery_count + self.event_count

    def councils(self) -> list[str]:
        """Every council the replay would queue something for, in code order."""
        return sorted(set(self.deliveries) | set(self.events))


def plan(connection: Connection, routing: RoutingTable, scope: Scope) -> Plan:
    """What a replay of `scope` would queue now; reads only."""
    ids = set(
        replays.replayable(
            connection, statuses=scope.statuses, council=scope.council, since=scope.since
        )
    )
    found: dict[str, list[tuple[str, str]]] = {}
    if ids:
        rows = connection.execute(
            select(deliveries.c.id, deliveries.c.council, deliveries.c.status)
            .where(deliveries.c.id.in_(sorted(ids)))
            .order_by(deliveries.c.created_at, deliveries.c.id)
        ).all()
        for row in rows:
            found.setdefault(row.council, []).append((row.id, row.status))
    events: dict[str, list[str]] = {}
    for row in replays.routable_rows(connection, routing, council=scope.council, since=scope.since):
        events.setdefault(row.council, []).append(row.event_id)
    still = [
        group
        for group in list_waiting(connection, routing)
        if not group.routable and scope.council in (None, group.key)
    ]
    return Plan(deliveries=found, events=events, still_waiting=still)


class _RolledBack(Exception):
    """Ends a preview's unit of work without committing what `before` did."""


def preview(
    engine: Engine,
    routing: RoutingTable,
    scope: Scope,
    *,
    before: Callable[[Connection], object] | None = None,
) -> Plan:
    """The plan as it would be once `before` had run, in a unit of work rolled back after."""
    if before is None:
        with reading(engine) as connection:  # SQLite: no write lock for a read
            return plan(connection, routing, scope)
    planned: list[Plan] = []
    try:
        with unit_of_work(engine, audits=True, locks=(Level.EPISODE,)) as connection:
            before(connection)
            planned.append(plan(connection, routing, scope))
            raise _RolledBack
    except _RolledBack:
        return planned[0]


def run(
    engine: Engine,
    routing: RoutingTable,
    scope: Scope,
    *,
    actor: str,
    via: str,
    reason: str,
    deadlines: Deadlines,
    batch: int = BATCH,
    progress: Callable[[int], object] | None = None,
    before: Callable[[Connection], object] | None = None,
) -> Counter[str]:
    """Replay `scope`: counts by previous status (`dead`, `delivered`), `unroutable`, `skipped`.

    `before` runs first, in a transaction of its own; `progress` is told how many items each
    batch handled.
    """
    if before is not None:
        with unit_of_work(engine, audits=True, locks=(Level.EPISODE,)) as connection:
            before(connection)
    with engine.connect() as connection:
        ids = replays.replayable(
            connection, statuses=scope.statuses, council=scope.council, since=scope.since
        )
    counts: Counter[str] = Counter()
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        with unit_of_work(engine, audits=True, locks=(Level.DELIVERY,)) as connection:
            now = utc_now()
            for delivery_id in chunk:
                try:
                    previous = replays.replay(
                        connection, delivery_id, actor=actor, now=now, via=via, reason=reason
                    )
                except (replays.NotReplayable, LookupError):
                    previous = "skipped"  # a worker or another replay moved it on meanwhile
                counts[previous] += 1
        if progress is not None:
            progress(len(chunk))
    while True:
        with unit_of_work(engine, audits=True, locks=(Level.EPISODE,)) as connection:
            created = replays.replay_unroutable(
                connection,
                routing,
                council=scope.council,
                actor=actor,
                now=utc_now(),
                deadlines=deadlines,
                since=scope.since,
                limit=batch,
                reason=reason,
            )
        if not created:
            return counts
        counts["unroutable"] += len(created)
        if progress is not None:
            progress(len(created))
