"""Queueing a delivery: one outbox row per (event, target council), shared by ingest and replay.

The row's `seq` is the next number for its (episode, council): the ordering key the outbox
claims by, so an episode's deliveries to a council must be numbered in event order. Events
that named a council before it was onboarded wait on the `unroutable` list; whichever comes
first for that (episode, council), a new event (`enqueue`) or `gateway replay`
(`route_unroutable`), queues the waiting ones first, oldest event first, so a council never
gets a newer event before an older one it was not yet onboarded for.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from gateway import audit
from gateway.canonical import RiskLevel
from gateway.ids import new_id
from gateway.store.prepared import Prepared
from gateway.store.schema import deliveries, episodes, events, unroutable

if TYPE_CHECKING:  # ingest imports this module; the type alone is needed here
    from gateway.ingest import Deadlines

PRIORITY = {RiskLevel.HIGH: 0, RiskLevel.MEDIUM: 1, RiskLevel.LOW: 2, RiskLevel.NO_APPARENT_RISK: 3}
RISK_BY_PRIORITY = {priority: risk for risk, priority in PRIORITY.items()}

# Prepared once (gateway/store/prepared.py): they run on the ingest hot path.
_EVENT_SEQ = Prepared(select(events.c.seq).where(events.c.id == bindparam("event")))
_WAITING = Prepared(
    select(unroutable.c.id, unroutable.c.event_id, events.c.canonical)
    .join(events, events.c.id == unroutable.c.event_id)
    .where(
        unroutable.c.episode_id == bindparam("episode"),
        unroutable.c.council == bindparam("council"),
        unroutable.c.resolved_at.is_(None),
        events.c.seq < bindparam("before"),
    )
    .order_by(events.c.seq, unroutable.c.id)
)
_RESOLVE = Prepared(
    update(unroutable)
    .where(unroutable.c.id == bindparam("row"), unroutable.c.resolved_at.is_(None))
    .values(resolved_at=bindparam("now"))
)
# FOR NO KEY UPDATE, as ingest locks an episode (see gateway/ingest.py: _LINK).
_LOCK_EPISODE = Prepared(
    select(episodes.c.id)
    .where(episodes.c.id == bindparam("episode"))
    .with_for_update(key_share=True)
)
_LAST_SEQ = Prepared(
    select(func.coalesce(func.max(deliveries.c.seq), 0)).where(
        deliveries.c.episode_id == bindparam("episode"),
        deliveries.c.council == bindparam("council"),
    )
)
_INSERT = Prepared(insert(deliveries))


@dataclass(frozen=True, slots=True)
class _Stream:
    """One (episode, council) ordering stream, and what its new deliveries are stamped with."""

    episode_id: str
    council: str
    system: str
    now: datetime
    deadlines: Deadlines


def enqueue(
    connection: Connection,
    *,
    episode_id: str,
    event_id: str,
    council: str,
    system: str,
    risk: RiskLevel,
    now: datetime,
    deadlines: Deadlines,
    actor: str,
    flags: Sequence[Mapping[str, Any]] = (),
    event_seq: int | None = None,
    new_episode: bool = False,
    first: bool = False,
) -> str:
    """Insert a pending delivery, due now, inside the caller's transaction; returns its id.

    Its priority and deadline follow the event's risk level; its idempotency key is derived
    from its id and never changes, whatever retries and replays follow. `flags` are the council
    policy flags this delivery raises with the council (gateway/policy). Earlier events of the
    episode still waiting on the unroutable list for this council are queued first (see
    `route_unroutable`), so they keep their place before this one. Audited as routed by `actor`.
    `event_seq` is the event's number in its episode (read when not given); `new_episode` says
    the episode was created in this transaction, so nothing of it can be waiting; `first`, that
    this is also its first event, so the council's stream of it is empty (not read).
    """
    stream = _Stream(episode_id, council, system, now, deadlines)
    if not new_episode:
        if event_seq is None:
            event_seq = _EVENT_SEQ.scalar(connection, {"event": event_id})
        _route_waiting(connection, stream, before=event_seq, actor=actor)
    delivery_id = _insert(connection, stream, event_id, risk, flags, after=0 if first else None)
    audit.append(
        connection,
        actor=actor,
        action=audit.Action.ROUTED,
        subject=delivery_id,
        details={"event_id": event_id, "council": council, "system": system},
        at=now,
    )
    return delivery_id


def route_unroutable(
    connection: Connection,
    *,
    episode_id: str,
    council: str,
    system: str,
    through: int,
    actor: str,
    now: datetime,
    deadlines: Deadlines,
    reason: str | None = None,
) -> list[str]:
    """Queue the episode's unroutable events for a council onboarded since, in event order.

    Every unresolved row of (episode, council) whose event is numbered `through` or earlier
    (`events.seq`) is resolved, gets a delivery and is audited as routed and replayed (from
    `unroutable`) by `actor`, inside the caller's transaction. A row another transaction
    resolved first is skipped. `reason`, why the caller replays, is recorded with the replay.

    Returns:
        The new delivery ids, oldest event first.
    """
    stream = _Stream(episode_id, council, system, now, deadlines)
    # The episode's lock, as ingest takes it: one writer numbers its deliveries at a time.
    _LOCK_EPISODE.run(connection, {"episode": episode_id})
    return _route_waiting(connection, stream, before=through + 1, actor=actor, reason=reason)


def _route_waiting(
    connection: Connection,
    stream: _Stream,
    *,
    before: int,
    actor: str,
    reason: str | None = None,
) -> list[str]:
    waiting = _WAITING.rows(
        connection, {"episode": stream.episode_id, "council": stream.council, "before": before}
    )
    created: list[str] = []
    for row in waiting:
        claimed = _RESOLVE.run(connection, {"row": row.id, "now": stream.now})
        if claimed != 1:
            continue
        risk = RiskLevel(row.canonical["episode"]["risk_level"])
        delivery_id = _insert(connection, stream, row.event_id, risk, ())
        _audit_routed(
            connection,
            stream,
            delivery_id,
            event_id=row.event_id,
            unroutable_id=row.id,
            actor=actor,
            reason=reason,
        )
        created.append(delivery_id)
    return created


def _audit_routed(
    connection: Connection,
    stream: _Stream,
    delivery_id: str,
    *,
    event_id: str,
    unroutable_id: int,
    actor: str,
    reason: str | None = None,
) -> None:
    details = {"event_id": event_id, "council": stream.council, "system": stream.system}
    replayed = {**details, "previous_status": "unroutable", "unroutable_id": unroutable_id}
    if reason is not None:
        replayed["reason"] = reason
    audit.append(
        connection,
        actor=actor,
        action=audit.Action.ROUTED,
        subject=delivery_id,
        details=details,
        at=stream.now,
    )
    audit.append(
        connection,
        actor=actor,
        action=audit.Action.REPLAYED,
        subject=delivery_id,
        details=replayed,
        at=stream.now,
    )


def _insert(
    connection: Connection,
    stream: _Stream,
    event_id: str,
    risk: RiskLevel,
    flags: Sequence[Mapping[str, Any]],
    *,
    after: int | None = None,
) -> str:
    """Insert the stream's next delivery; `after`: its last number when the caller knows it."""
    seq = after
    if seq is None:
        seq = _LAST_SEQ.scalar(
            connection, {"episode": stream.episode_id, "council": stream.council}
        )
    delivery_id = new_id()
    now = stream.now
    _INSERT.run(
        connection,
        {
            "id": delivery_id,
            "event_id": event_id,
            "episode_id": stream.episode_id,
            "council": stream.council,
            "system": stream.system,
            "seq": seq + 1,
            "status": "pending",
            "priority": PRIORITY[risk],
            "idempotency_key": uuid.UUID(delivery_id).hex,
            "created_at": now,
            "deadline_at": now + stream.deadlines.for_risk(risk),
            "next_attempt_at": now,
            "attempts": 0,
            "attempt_floor": 0,
            "updated_at": now,
            "flags": [dict(flag) for flag in flags],
        },
    )
    return delivery_id
