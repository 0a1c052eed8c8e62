"""Replay: queue a dead or delivered delivery again; route unroutable events once resolved.

Shared by `POST /v1/deliveries/{id}/replay` and `gateway replay`. Every function works inside
the caller's transaction and audits what it changes (docs/architecture.md), with the caller
as actor.

A replayed delivery keeps its id, ordering key and idempotency key, so a case system that
already holds the record recognises it; its retry budget starts again (`attempt_floor`).
An unroutable event becomes a new delivery, in event order for its (episode, council), once
its council is onboarded; a council name that matched none is read again with the names
table first (`gateway.delivery.unroutable.resolve_names`), and waits on as a row for the
council it now names.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select, update

from adapters.compact.councils import NameTable
from gateway import audit
from gateway.delivery import unroutable as unroutables
from gateway.delivery.deadlines import Deadlines
from gateway.delivery.enqueue import route_unroutable
from gateway.routing import RoutingTable
from gateway.store import locks
from gateway.store.schema import deliveries, events, unroutable

REPLAYABLE = ("dead", "delivered")


class NotReplayable(Exception):
    """The delivery is queued, in flight or awaiting an acknowledgement: leave it be."""

    def __init__(self, delivery_id: str, status: str) -> None:
        super().__init__(
            f"delivery {delivery_id} is {status}; only dead or delivered deliveries are replayed"
        )
        self.delivery_id = delivery_id
        self.status = status


def replay(
    connection: Connection,
    delivery_id: str,
    *,
    actor: str,
    now: datetime,
    via: str,
    reason: str | None = None,
) -> str:
    """Queue a dead or delivered delivery again, due now; returns its status before.

    `reason`, why the caller replays it, is recorded in the audit entry.

    Raises:
        LookupError: there is no such delivery.
        NotReplayable: its status is not one of `REPLAYABLE` (nothing is changed).
    """
    locks.take(connection, locks.Level.DELIVERY)
    row = connection.execute(
        select(deliveries.c.status, deliveries.c.council).where(deliveries.c.id == delivery_id)
    ).first()
    if row is None:
        raise LookupError(f"no delivery {delivery_id}")
    if row.status not in REPLAYABLE:
        raise NotReplayable(delivery_id, row.status)
    changed = connection.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.status == row.status)
        .values(
            status="pending",
            next_attempt_at=now,
            lease_until=None,
            attempt_floor=deliveries.c.attempts,
            updated_at=now,
        )
    ).rowcount
    if changed != 1:  # PostgreSQL: another transaction moved it on between read and update
        current = connection.execute(
            select(deliveries.c.status).where(deliveries.c.id == delivery_id)
        ).scalar_one()
        raise NotReplayable(delivery_id, current)
    audit.append(
        connection,
        actor=actor,
        action=audit.Action.REPLAYED,
        subject=delivery_id,
        details={
            "previous_status": row.status,
            "council": row.council,
            "via": via,
            **({"reason": reason} if reason is not None else {}),
        },
        at=now,
    )
    return str(row.status)


def replayable(
    connection: Connection,
    *,
    statuses: Iterable[str] = ("dead",),
    council: str | None = None,
    since: datetime | None = None,
) -> list[str]:
    """Ids of the deliveries a bulk replay would queue again, oldest first."""
    wanted = sorted(set(statuses))
    unknown = set(wanted) - set(REPLAYABLE)
    if unknown:
        raise ValueError(f"not replayable statuses: {', '.join(sorted(unknown))}")
    query = select(deliveries.c.id).where(deliveries.c.status.in_(wanted))
    if council is not None:
        query = query.where(deliveries.c.council == council)
    if since is not None:
        query = query.where(deliveries.c.created_at >= since)
    rows = connection.execute(query.order_by(deliveries.c.created_at, deliveries.c.id))
    return [str(r.id) for r in rows]


def _routable(
    routing_table: RoutingTable, council: str | None, since: datetime | None
) -> Select[Any]:
    """Unresolved unroutable rows whose council is onboarded now, in event order."""
    query = (
        select(
            unroutable.c.id,
            unroutable.c.event_id,
            unroutable.c.episode_id,
            unroutable.c.council,
            events.c.seq.label("event_seq"),
        )
        .join(events, events.c.id == unroutable.c.event_id)
        .where(
            unroutable.c.resolved_at.is_(None),
            unroutable.c.council.in_(sorted(routing_table.councils)),
        )
        .order_by(events.c.seq, unroutable.c.id)
    )
    if council is not None:
        query = query.where(unroutable.c.council == council)
    if since is not None:
        query = query.where(unroutable.c.created_at >= since)
    return query


def routable_rows(
    connection: Connection,
    routing_table: RoutingTable,
    *,
    council: str | None = None,
    since: datetime | None = None,
) -> list[Any]:
    """The unroutable rows `replay_unroutable` would deliver now, in event order (a dry run)."""
    return list(connection.execute(_routable(routing_table, council, since)).all())


def count_routable(
    connection: Connection,
    routing_table: RoutingTable,
    *,
    council: str | None = None,
    since: datetime | None = None,
) -> int:
    """How many unroutable events `replay_unroutable` would deliver now."""
    query = _routable(routing_table, council, since).order_by(None).subquery()
    return int(connection.execute(select(func.count()).select_from(query)).scalar_one())


def replay_unroutable(
    connection: Connection,
    routing_table: RoutingTable,
    *,
    council: str | None = None,
    actor: str,
    now: datetime,
    deadlines: Deadlines,
    since: datetime | None = None,
    limit: int | None = None,
    names: NameTable | None = None,
    reason: str | None = None,
) -> list[str]:
    """Deliver unroutable events to the councils onboarded since; returns the new delivery ids.

    With `names`, the waiting council names are read again with that table first, so a name
    an operator has added a variant for counts as its council. Rows are taken in event order,
    each with any earlier row of its (episode, council) that `since` left out
    (`route_unroutable`), so each council gets its deliveries numbered in the order its events
    happened. Each row is resolved once: a row another transaction (or an ingest for the same
    episode and council) resolved first is skipped. `limit` bounds the rows one call selects
    (callers loop for batches, and give `names` to the first call only). `reason` is recorded
    in each replay's audit entry.
    """
    if names is not None:
        unroutables.resolve_names(connection, names, now=now, actor=actor)
    query = _routable(routing_table, council, since)
    if limit is not None:
        query = query.limit(limit)
    created: list[str] = []
    for row in connection.execute(query).all():
        route = routing_table.route(row.council)
        if route is None:
            continue
        created += route_unroutable(
            connection,
            episode_id=row.episode_id,
            council=row.council,
            system=route.system,
            through=row.event_seq,
            actor=actor,
            now=now,
            deadlines=deadlines,
            reason=reason,
        )
    return created
