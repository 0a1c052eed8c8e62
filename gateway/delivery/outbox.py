"""The outbox: claiming due deliveries and recording how each attempt ended (DESIGN.md §1.2).

A delivery is claimable when it is due (`pending`/`retrying` past `next_attempt_at`, or
`in_flight` past its lease: its worker died) and every earlier delivery of the same episode to
the same council is settled (`delivered`, `sent`, `cancelled`). That is the ordering key: a
`found` never overtakes the `reported` it closes, whatever the priorities. Among claimable
deliveries, higher risk goes first. PostgreSQL workers claim with `FOR UPDATE SKIP LOCKED`;
SQLite transactions are `BEGIN IMMEDIATE`, one writer at a time.

Each step is its own short transaction, so nothing is held open while a case system answers.
Each is a unit of work that names its locks (gateway/store/locks.py gives their order): the
steps of several workers run side by side, and take the audit chain's lock only at commit.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.base import Ack, Payload, SendResult
from gateway import audit
from gateway.delivery.enqueue import RISK_BY_PRIORITY
from gateway.delivery.retry import GiveUp, RetryPolicy, next_attempt
from gateway.errors import DeliveryError, PermanentDelivery
from gateway.store import locks
from gateway.store.schema import (
    ack_cursors,
    attempts,
    case_records,
    deliveries,
    episodes,
    events,
)
from gateway.store.work import unit_of_work

SETTLED = ("delivered", "sent", "cancelled")
DUE = ("pending", "retrying")
PURPOSE = "safeguarding notification of a missing child (DPA 2018 Part 3, s.62)"
_CLAIM_LOCKS = (locks.Level.BREAKER, locks.Level.DELIVERY)
_FINISH_LOCKS = (locks.Level.DELIVERY, locks.Level.CASE_RECORD)
_ACK_LOCKS = (locks.Level.ACK_FEED, locks.Level.DELIVERY, locks.Level.CASE_RECORD)


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery a worker has claimed for one attempt."""

    delivery_id: str
    council: str
    system: str
    episode_id: str
    event_id: str
    seq: int
    idempotency_key: str
    attempt: int  # this attempt's number (1-based, over the delivery's whole life)
    budget_used: int  # attempts since creation or the last replay, this one included
    created_at: datetime
    canonical_event: dict[str, Any]
    episode_state: dict[str, Any]
    flags: list[dict[str, Any]]
    council_role: str | None = None  # None: a delivery queued before roles were kept


@dataclass(frozen=True, slots=True)
class Finished:
    """How an attempt ended, as recorded."""

    status: str  # the delivery's status afterwards, or "superseded" (lease lost meanwhile)
    next_attempt_at: datetime | None = None


def claim(
    engine: Engine,
    *,
    capacity: Mapping[str, int] | Callable[[Connection], Mapping[str, int]],
    limit: int,
    now: datetime,
    lease: Callable[[str], timedelta],
    actor: str,
) -> list[Claim]:
    """Claim due deliveries, at most `capacity[council]` per council, highest risk first.

    Args:
        engine: the database.
        capacity: free slots per council; councils not named are not claimed. A callable is
            asked inside the claim's transaction, before any delivery is read (the worker's
            breakers, gateway/delivery/slots.py: it takes the `BREAKER` lock level).
        limit: at most this many claims in all.
        now: the current time.
        lease: how long a claim on a council's delivery lasts before another worker may retry it.
        actor: the worker, for the audit log.
    """
    if limit <= 0 or not (callable(capacity) or any(n > 0 for n in capacity.values())):
        return []
    with unit_of_work(engine, audits=True, locks=_CLAIM_LOCKS) as connection:
        free = capacity(connection) if callable(capacity) else capacity
        wanted = {c: n for c, n in free.items() if n > 0}
        if not wanted:
            return []
        locks.take(connection, locks.Level.DELIVERY)
        rows = _claimable(connection, list(wanted), min(limit, sum(wanted.values())), now)
        chosen: list[Any] = []
        for row in rows:
            if len(chosen) < limit and wanted.get(row.council, 0) > 0:
                wanted[row.council] -= 1
                chosen.append(row)
        return [_take(connection, row, now, lease(row.council), actor) for row in chosen]


def _claimable(connection: Connection, councils: list[str], slots: int, now: datetime) -> list[Any]:
    """Due deliveries whose earlier ones are settled: higher risk first, then longest waiting.

    One index range per (status, priority) rather than one query over every due row: with a
    backlog of 100 000, sorting them all on every claim is what slowed the drain (bench/), while
    each range read here stops after `want` rows. Expired leases (a worker died) are read too.
    """
    want = slots * 4  # councils at capacity are skipped by the caller: read a few more
    expired = _candidates(connection, councils, want, deliveries.c.status == "in_flight")
    found: list[Any] = list(connection.execute(expired.where(deliveries.c.lease_until < now)))
    for priority in sorted(RISK_BY_PRIORITY):  # 0, high risk, first
        if len(found) >= want:
            break
        for status in DUE:  # both, so a retry is not starved by a flood of new ones
            due = _candidates(
                connection,
                councils,
                want,
                deliveries.c.status == status,
                deliveries.c.priority == priority,
                deliveries.c.next_attempt_at <= now,
            )
            found += connection.execute(
                due.order_by(deliveries.c.next_attempt_at, deliveries.c.created_at)
            ).all()
    return sorted(found, key=lambda r: (r.priority, r.next_attempt_at or now, r.created_at))


def _candidates(connection: Connection, councils: list[str], want: int, *where: Any) -> Any:
    earlier = deliveries.alias("earlier")
    blocked = exists().where(
        earlier.c.episode_id == deliveries.c.episode_id,
        earlier.c.council == deliveries.c.council,
        earlier.c.seq < deliveries.c.seq,
        earlier.c.status.not_in(SETTLED),
    )
    stmt = (
        select(
            deliveries.c.id,
            deliveries.c.council,
            deliveries.c.system,
            deliveries.c.episode_id,
            deliveries.c.event_id,
            deliveries.c.seq,
            deliveries.c.status,
            deliveries.c.priority,
            deliveries.c.next_attempt_at,
            deliveries.c.idempotency_key,
            deliveries.c.attempts,
            deliveries.c.attempt_floor,
            deliveries.c.created_at,
            deliveries.c.flags,
            deliveries.c.council_role,
        )
        .where(*where, deliveries.c.council.in_(councils), ~blocked)
        .limit(want)
    )
    if connection.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=deliveries)
    return stmt


def _take(connection: Connection, row: Any, now: datetime, lease: timedelta, actor: str) -> Claim:
    number = row.attempts + 1
    connection.execute(
        update(deliveries)
        .where(deliveries.c.id == row.id)
        .values(status="in_flight", lease_until=now + lease, attempts=number, updated_at=now)
    )
    if row.status == "in_flight":
        _abandon(connection, row.id, row.attempts, now, actor)
    connection.execute(insert(attempts).values(delivery_id=row.id, number=number, started_at=now))
    event = connection.execute(
        select(events.c.canonical, episodes.c.state)
        .join(episodes, episodes.c.id == events.c.episode_id)
        .where(events.c.id == row.event_id)
    ).one()
    return Claim(
        delivery_id=row.id,
        council=row.council,
        system=row.system,
        episode_id=row.episode_id,
        event_id=row.event_id,
        seq=row.seq,
        idempotency_key=row.idempotency_key,
        attempt=number,
        budget_used=number - row.attempt_floor,
        created_at=row.created_at,
        canonical_event=dict(event.canonical),
        episode_state=dict(event.state or {}),
        flags=list(row.flags or []),
        council_role=row.council_role,
    )


def _abandon(
    connection: Connection, delivery_id: str, number: int, now: datetime, actor: str
) -> None:
    """Close the attempt of a worker that died mid-send: its outcome is unknown."""
    connection.execute(
        update(attempts)
        .where(
            attempts.c.delivery_id == delivery_id,
            attempts.c.number == number,
            attempts.c.finished_at.is_(None),
        )
        .values(
            finished_at=now,
            outcome="abandoned",
            error="the worker stopped before the outcome was known; resent with the same key",
        )
    )
    audit.append(
        connection,
        actor=actor,
        action=audit.Action.ATTEMPTED,
        subject=delivery_id,
        details={"attempt": number, "outcome": "abandoned"},
        at=now,
    )


def finish(
    engine: Engine,
    claimed: Claim,
    outcome: SendResult | DeliveryError,
    *,
    payload: Payload | None,
    policy: RetryPolicy,
    now: datetime,
    actor: str,
    rand: Callable[[], float] = random.random,
) -> Finished:
    """Record the attempt and move the delivery on: delivered, sent, retrying or dead.

    When the claim's lease ran out and another worker claimed the delivery meanwhile, only the
    attempt is recorded ("superseded"); the other worker's attempt decides, with the same key.
    """
    with unit_of_work(engine, audits=True, locks=_FINISH_LOCKS) as connection:
        locks.take(connection, locks.Level.DELIVERY)
        # Locked: an acknowledgement applied meanwhile decides, and this attempt is superseded.
        current = connection.execute(
            select(deliveries.c.status, deliveries.c.attempts)
            .where(deliveries.c.id == claimed.delivery_id)
            .with_for_update()
        ).one()
        ours = current.status == "in_flight" and current.attempts == claimed.attempt
        finished = (
            _settle(
                connection, claimed, outcome, payload=payload, policy=policy, now=now, rand=rand
            )
            if ours
            else None
        )
        _record_attempt(connection, claimed, outcome, now)
        audit.append(
            connection,
            actor=actor,
            action=audit.Action.ATTEMPTED,
            subject=claimed.delivery_id,
            details=_attempt_details(claimed, outcome),
            at=now,
        )
        if finished is None:
            return Finished("superseded")
        _audit_outcome(connection, claimed, outcome, finished, actor=actor, now=now)
        return finished


def _settle(
    connection: Connection,
    claimed: Claim,
    outcome: SendResult | DeliveryError,
    *,
    payload: Payload | None,
    policy: RetryPolicy,
    now: datetime,
    rand: Callable[[], float],
) -> Finished:
    values: dict[str, Any] = {"lease_until": None, "updated_at": now}
    if payload is not None:
        values |= {"payload": payload.body, "payload_media_type": payload.media_type}
    if isinstance(outcome, SendResult):
        status = "delivered" if outcome.acknowledged else "sent"
        values |= {"status": status, "target_reference": outcome.target_reference}
        values |= {"last_error": None, "next_attempt_at": None}
        values["delivered_at" if outcome.acknowledged else "sent_at"] = now
        finished = Finished(status)
    else:
        when = next_attempt(
            policy,
            outcome,
            attempts=claimed.budget_used,
            created_at=claimed.created_at,
            now=now,
            rand=rand,
        )
        if isinstance(when, GiveUp):
            values |= {"status": "dead", "last_error": when.reason, "next_attempt_at": None}
            finished = Finished("dead")
        else:
            values |= {"status": "retrying", "last_error": outcome.reason, "next_attempt_at": when}
            finished = Finished("retrying", when)
    connection.execute(
        update(deliveries).where(deliveries.c.id == claimed.delivery_id).values(**values)
    )
    if isinstance(outcome, SendResult) and (outcome.person_id or outcome.episode_ref):
        save_case_record(
            connection,
            claimed.episode_id,
            claimed.council,
            claimed.system,
            person_id=outcome.person_id,
            case_episode_id=outcome.episode_ref,
            now=now,
        )
    return finished


def _record_attempt(
    connection: Connection, claimed: Claim, outcome: SendResult | DeliveryError, now: datetime
) -> None:
    if isinstance(outcome, SendResult):
        values: dict[str, Any] = {
            "outcome": "delivered" if outcome.acknowledged else "sent",
            "http_status": outcome.http_status,
            "target_reference": outcome.target_reference,
        }
    else:
        kind = "permanent" if isinstance(outcome, PermanentDelivery) else "retryable"
        values = {"outcome": kind, "http_status": outcome.http_status, "error": outcome.reason}
    connection.execute(
        update(attempts)
        .where(attempts.c.delivery_id == claimed.delivery_id, attempts.c.number == claimed.attempt)
        .values(finished_at=now, **values)
    )


def _attempt_details(claimed: Claim, outcome: SendResult | DeliveryError) -> dict[str, Any]:
    details: dict[str, Any] = {
        "attempt": claimed.attempt,
        "council": claimed.council,
        "system": claimed.system,
        "http_status": outcome.http_status,
    }
    if isinstance(outcome, SendResult):
        details["outcome"] = "delivered" if outcome.acknowledged else "sent"
    else:
        details["outcome"] = "permanent" if isinstance(outcome, PermanentDelivery) else "retryable"
    return details


def _audit_outcome(
    connection: Connection,
    claimed: Claim,
    outcome: SendResult | DeliveryError,
    finished: Finished,
    *,
    actor: str,
    now: datetime,
) -> None:
    if isinstance(outcome, SendResult):
        # The payload has left the gateway: a disclosure to the council (DESIGN.md §4).
        audit.append(
            connection,
            actor=actor,
            action=audit.Action.DISCLOSED,
            subject=claimed.delivery_id,
            details={
                "recipient": claimed.council,
                "system": claimed.system,
                "episode_id": claimed.episode_id,
                "purpose": PURPOSE,
            },
            at=now,
        )
    if finished.status == "delivered":
        audit.append(
            connection,
            actor=actor,
            action=audit.Action.DELIVERED,
            subject=claimed.delivery_id,
            details={"council": claimed.council, "target_reference": _ref(outcome)},
            at=now,
        )
    elif finished.status == "dead":
        audit.append(
            connection,
            actor=actor,
            action=audit.Action.DEAD_LETTERED,
            subject=claimed.delivery_id,
            details={"council": claimed.council, "attempts": claimed.attempt},
            at=now,
        )


def _ref(outcome: SendResult | DeliveryError) -> str | None:
    return outcome.target_reference if isinstance(outcome, SendResult) else None


def save_case_record(
    connection: Connection,
    episode_id: str,
    council: str,
    system: str,
    *,
    person_id: str | None,
    case_episode_id: str | None,
    now: datetime,
) -> None:
    """Keep the ids the council's case system gave the child and the episode (for SSDA903).

    One statement (an upsert), so two steps recording the same episode and council at once
    (an attempt's outcome and an acknowledgement) both succeed; an id not given keeps its value.
    """
    locks.take(connection, locks.Level.CASE_RECORD)
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    new = dialect.insert(case_records).values(
        episode_id=episode_id,
        council=council,
        system=system,
        person_id=person_id,
        case_episode_id=case_episode_id,
        updated_at=now,
    )
    kept = {
        name: func.coalesce(func.nullif(new.excluded[name], ""), case_records.c[name])
        for name in ("person_id", "case_episode_id")
    }
    connection.execute(
        new.on_conflict_do_update(
            index_elements=[case_records.c.episode_id, case_records.c.council],
            set_={**kept, "updated_at": new.excluded.updated_at},
        )
    )


# --- asynchronous acknowledgements (Protocol) ------------------------------------------------


def awaiting_ack(engine: Engine) -> list[str]:
    """Councils with deliveries sent and not yet acknowledged."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(deliveries.c.council).where(deliveries.c.status == "sent").distinct()
        )
        return sorted(r.council for r in rows)


def ack_cursor(engine: Engine, council: str) -> str | None:
    """Where the council's acknowledgement feed was last read up to."""
    with engine.connect() as connection:
        return connection.execute(
            select(ack_cursors.c.cursor).where(ack_cursors.c.council == council)
        ).scalar()


def apply_acks(
    engine: Engine,
    council: str,
    system: str,
    acks: list[Ack],
    cursor: str | None,
    *,
    now: datetime,
    actor: str,
) -> dict[str, int]:
    """Settle the sent deliveries the acks are about, and move the council's cursor on."""
    counts = {"delivered": 0, "dead": 0, "unknown": 0}
    with unit_of_work(engine, audits=True, locks=_ACK_LOCKS) as connection:
        locks.hold(connection, locks.Space.ACK_FEED, council)  # one worker per feed at a time
        locks.take(connection, locks.Level.DELIVERY)
        records: list[dict[str, Any]] = []
        for ack in acks:
            status = _apply_ack(
                connection, council, system, ack, now=now, actor=actor, records=records
            )
            counts[status] += 1
        for record in records:  # after every delivery's lock, as `finish` takes them
            save_case_record(connection, **record)
        _save_cursor(connection, council, system, cursor, now)
    return counts


def _apply_ack(
    connection: Connection,
    council: str,
    system: str,
    ack: Ack,
    *,
    now: datetime,
    actor: str,
    records: list[dict[str, Any]],
) -> str:
    # The ack settles the delivery whatever the gateway recorded: a drop whose answer was lost
    # (timeout, or a kill before the outcome was saved) is still acknowledged by the system.
    which = (
        deliveries.c.idempotency_key == ack.idempotency_key
        if ack.idempotency_key
        else deliveries.c.target_reference == ack.target_reference
    )
    row = connection.execute(
        select(deliveries.c.id, deliveries.c.episode_id).where(
            deliveries.c.council == council,
            which,
            deliveries.c.status.not_in(("delivered", "cancelled")),
        )
    ).first()
    if row is None:
        return "unknown"  # an ack already applied, or about a file the gateway never sent
    if ack.accepted:
        connection.execute(
            update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(
                status="delivered",
                delivered_at=now,
                updated_at=now,
                lease_until=None,
                next_attempt_at=None,
                last_error=None,
                target_reference=ack.target_reference,
            )
        )
        records.append(
            {
                "episode_id": row.episode_id,
                "council": council,
                "system": system,
                "person_id": ack.person_id,
                "case_episode_id": ack.reference,
                "now": now,
            }
        )
        action, status = audit.Action.DELIVERED, "delivered"
    else:
        reason = "rejected by the case system: " + "; ".join(ack.errors or ["no reason given"])
        connection.execute(
            update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(
                status="dead",
                last_error=reason[:2000],
                updated_at=now,
                lease_until=None,
                next_attempt_at=None,
                target_reference=ack.target_reference,
            )
        )
        action, status = audit.Action.DEAD_LETTERED, "dead"
    audit.append(
        connection,
        actor=actor,
        action=action,
        subject=row.id,
        details={"council": council, "acknowledgement": ack.target_reference},
        at=now,
    )
    return status


def _save_cursor(
    connection: Connection, council: str, system: str, cursor: str | None, now: datetime
) -> None:
    exists_row = connection.execute(
        select(ack_cursors.c.council).where(ack_cursors.c.council == council)
    ).first()
    if exists_row is None:
        connection.execute(
            insert(ack_cursors).values(
                council=council, system=system, cursor=cursor, updated_at=now
            )
        )
    else:
        connection.execute(
            update(ack_cursors)
            .where(ack_cursors.c.council == council)
            .values(cursor=cursor, updated_at=now)
        )
