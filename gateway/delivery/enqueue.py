"""Queueing a delivery: one outbox row per (event, target council), shared by ingest and replay.

The row's `seq` is the next number for its (episode, council): the ordering key the outbox
claims by, so an episode's deliveries to a council must be numbered in event order. Events
that named a council before it was onboarded wait on the `unroutable` list, and so do events
that named it by a name the names table did not know then; whichever comes first for that
(episode, council), a new event (`enqueue`) or `gateway replay` (`route_unroutable`), queues
the waiting ones first, oldest event first, so a council never gets a newer event before an
older one it was not yet onboarded for, or not yet known by that name. A waiting name is
read again with the names table of this process: one that now names the council is its.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, insert, or_, select, update

from adapters.compact import councils as names_table
from gateway import audit
from gateway.canonical import CouncilRole, RiskLevel
from gateway.delivery.deadlines import Deadlines
from gateway.ids import new_id
from gateway.store import locks
from gateway.store.prepared import Prepared
from gateway.store.schema import deliveries, episodes, events, unroutable

PRIORITY = {RiskLevel.HIGH: 0, RiskLevel.MEDIUM: 1, RiskLevel.LOW: 2, RiskLevel.NO_APPARENT_RISK: 3}
RISK_BY_PRIORITY = {priority: risk for risk, priority in PRIORITY.items()}
# A delivery's statuses until it is settled (delivered, cancelled) or dead.
UNSETTLED = ("pending", "retrying", "in_flight", "sent")

# Prepared once (gateway/store/prepared.py): they run on the ingest hot path.
_EVENT_SEQ = Prepared(select(events.c.seq).where(events.c.id == bindparam("event")))
# The council's waiting rows, and the episode's waiting names (`council` None), which may be
# the council's too: one query either way, on the episode's index.
_WAITING = Prepared(
    select(
        unroutable.c.id,
        unroutable.c.event_id,
        unroutable.c.council,
        unroutable.c.name,
        unroutable.c.role,
        events.c.canonical,
    )
    .join(events, events.c.id == unroutable.c.event_id)
    .where(
        unroutable.c.episode_id == bindparam("episode"),
        or_(unroutable.c.council == bindparam("council"), unroutable.c.council.is_(None)),
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
# A waiting name claimed for the council it now names (still unclaimed: see `_claim_name`).
_RESOLVE_NAME = Prepared(
    update(unroutable)
    .where(
        unroutable.c.id == bindparam("row"),
        unroutable.c.resolved_at.is_(None),
        unroutable.c.council.is_(None),
    )
    .values(resolved_at=bindparam("now"), council=bindparam("council"))
)
_TOLD = Prepared(
    select(
        or_(
            exists().where(
                deliveries.c.event_id == bindparam("event"),
                deliveries.c.council == bindparam("council"),
            ),
            exists().where(
                unroutable.c.event_id == bindparam("event"),
                unroutable.c.council == bindparam("council"),
            ),
        )
    )
)
# FOR NO KEY UPDATE, as ingest locks an episode (gateway/store/messages.py: FIND_WITH_LINK).
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
    role: CouncilRole | None = None,
    event_seq: int | None = None,
    new_episode: bool = False,
    first: bool = False,
    rows: list[dict[str, Any]] | None = None,
) -> str:
    """Insert a pending delivery, due now, inside the caller's transaction; returns its id.

    Its priority and deadline follow the event's risk level; its idempotency key is derived
    from its id and never changes, whatever retries and replays follow. `flags` are the council
    policy flags this delivery raises with the council (gateway/policy); `role` is why the
    council is told (None: its role in the event's snapshot, as the renderer reads it).
    Earlier events of the episode still waiting on the unroutable list for this council are
    queued first (see `route_unroutable`), so they keep their place before this one. Audited
    as routed by `actor`.
    `event_seq` is the event's number in its episode (read when not given); `new_episode` says
    the episode was created in this transaction, so nothing of it can be waiting; `first`, that
    this is also its first event, so the council's stream of it is empty (not read).
    `rows`: where to leave the delivery's row instead of inserting it, so that one event's
    deliveries are inserted in one statement (`insert_rows`) once each council is queued;
    the caller inserts them before anything reads the council's stream again.
    """
    stream = _Stream(episode_id, council, system, now, deadlines)
    if not new_episode:
        if event_seq is None:
            event_seq = _EVENT_SEQ.scalar(connection, {"event": event_id})
        _route_waiting(connection, stream, before=event_seq, actor=actor)
    delivery_id = _insert(
        connection, stream, event_id, risk, flags, role=role, after=0 if first else None, rows=rows
    )
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
    (`events.seq`), and every waiting name of the episode that now names the council, is
    resolved, gets a delivery in the row's role and is audited as routed and replayed (from
    `unroutable`) by `actor`, inside the caller's transaction. A row another transaction
    resolved first is skipped. `reason`, why the caller replays, is recorded with the replay.

    Returns:
        The new delivery ids, oldest event first.
    """
    stream = _Stream(episode_id, council, system, now, deadlines)
    # The episode's lock, as ingest takes it: one writer numbers its deliveries at a time.
    locks.take(connection, locks.Level.EPISODE)
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
        if row.council is None:
            if names_table.lookup(row.name) != stream.council:
                continue  # still unresolved, or another council's
            if not _claim_name(connection, stream, row):
                continue
        elif _RESOLVE.run(connection, {"row": row.id, "now": stream.now}) != 1:
            continue
        risk = RiskLevel(row.canonical["episode"]["risk_level"])
        role = CouncilRole(row.role)
        delivery_id = _insert(connection, stream, row.event_id, risk, (), role=role)
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


def already_told(connection: Connection, event_id: str, council: str) -> bool:
    """Whether the event has a delivery to `council`, or waits for it by its code."""
    return bool(_TOLD.scalar(connection, {"event": event_id, "council": council}))


def _claim_name(connection: Connection, stream: _Stream, row: Any) -> bool:
    """Resolve a waiting name to the stream's council; False: nothing left to deliver.

    An event that already reached the council (or waits for it by code: the message named it
    twice, once by a name not known then) is told once: the name is resolved without a
    delivery, and the council keeps the one it has.
    """
    if already_told(connection, row.event_id, stream.council):
        _RESOLVE.run(connection, {"row": row.id, "now": stream.now})
        return False
    changed = _RESOLVE_NAME.run(
        connection, {"row": row.id, "now": stream.now, "council": stream.council}
    )
    return bool(changed == 1)


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
    role: CouncilRole | None = None,
    after: int | None = None,
    rows: list[dict[str, Any]] | None = None,
) -> str:
    """Insert the stream's next delivery; `after`: its last number when the caller knows it.

    `rows`: leave the row there instead, for `insert_rows` (see `enqueue`).
    """
    seq = after
    if seq is None:
        seq = _LAST_SEQ.scalar(
            connection, {"episode": stream.episode_id, "council": stream.council}
        )
    delivery_id = new_id()
    now = stream.now
    row = {
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
        "council_role": str(role) if role else None,
    }
    if rows is None:
        _INSERT.run(connection, row)
    else:
        rows.append(row)
    return delivery_id


def insert_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the deliveries `enqueue` left in `rows`, in one statement, and empty it."""
    _INSERT.run(connection, rows)
    rows.clear()
