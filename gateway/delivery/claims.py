"""Claiming due deliveries for an attempt (the outbox's first half; `outcomes` is the second).

A delivery is claimable when it is due (`pending`/`retrying` past `next_attempt_at`, or
`in_flight` past its lease: its worker died) and every earlier delivery of the same episode to
the same council is settled (`delivered`, `sent`, `cancelled`). That is the ordering key: a
`found` never overtakes the `reported` it closes, whatever the priorities. Among claimable
deliveries, higher risk goes first. PostgreSQL workers claim with `FOR UPDATE SKIP LOCKED`;
SQLite transactions are `BEGIN IMMEDIATE`, one writer at a time.

A claim of a whole batch is four statements: the candidates (every range in one), one
`UPDATE` and one attempt `INSERT` for every claimed row (executemany), and one read of their
events. The statements are built once: building them per call cost more than running them.
It runs alone (`claim`) or in the caller's unit of work (`claim_in`: the worker's round).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    bindparam,
    exists,
    select,
    union_all,
    update,
)

from gateway import audit
from gateway.canonical import RiskLevel
from gateway.delivery.enqueue import RISK_BY_PRIORITY
from gateway.store import locks
from gateway.store.dialects import constants, in_list, unindexed
from gateway.store.prepared import Prepared
from gateway.store.schema import attempts, deliveries, episodes, events
from gateway.store.work import unit_of_work

# Free slots per council, or what gives them inside the claim's transaction (the breakers).
Capacity = Mapping[str, int] | Callable[[Connection], Mapping[str, int]]
CLAIM_LOCKS = (locks.Level.BREAKER, locks.Level.DELIVERY)

SETTLED = ("delivered", "sent", "cancelled")
DUE = ("pending", "retrying")


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
    high_risk: bool = False  # its event is high risk (its retries wait less: delivery/retry.py)


def _candidates(*where: Any) -> Select[Any]:
    earlier = deliveries.alias("earlier")
    blocked = exists().where(
        earlier.c.episode_id == deliveries.c.episode_id,
        earlier.c.council == deliveries.c.council,
        earlier.c.seq < deliveries.c.seq,
        earlier.c.status.not_in(constants(SETTLED)),
    )
    return (
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
        .where(
            *where,
            in_list(unindexed(deliveries.c.council), "councils"),
            ~blocked,
        )
        .limit(bindparam("want"))
    )


def _ranges() -> Any:
    """Every range a claim reads, as one statement.

    Expired leases, then each (status, priority) in due order, each range stopping after
    `want` rows. Each is its own common table expression, so PostgreSQL can lock inside each
    (`FOR UPDATE SKIP LOCKED`, which a UNION refuses; SQLite has no row locks and drops the
    clause), and the claim is one round trip.
    """
    expired = _candidates(
        deliveries.c.status == "in_flight", deliveries.c.lease_until < bindparam("now")
    )
    parts = [expired] + [
        _candidates(
            deliveries.c.status == status,
            deliveries.c.priority == priority,
            deliveries.c.next_attempt_at <= bindparam("now"),
        ).order_by(deliveries.c.next_attempt_at, deliveries.c.created_at)
        for priority in sorted(RISK_BY_PRIORITY)  # 0, high risk, first
        for status in DUE  # both, so a retry is not starved by a flood of new ones
    ]
    # Rows another worker is claiming are skipped, not waited for.
    parts = [part.with_for_update(skip_locked=True, of=deliveries) for part in parts]
    ctes = [part.cte(f"range_{n}") for n, part in enumerate(parts)]
    return union_all(*(select(*cte.c) for cte in ctes))


_RANGES = Prepared(_ranges())
_TAKE = Prepared(update(deliveries).where(deliveries.c.id == bindparam("row_id")))
_START = Prepared(attempts.insert())
_EVENTS = Prepared(
    select(events.c.id, events.c.canonical, episodes.c.state)
    .join(episodes, episodes.c.id == events.c.episode_id)
    .where(in_list(events.c.id, "ids"))
)
_ABANDON = Prepared(
    update(attempts).where(
        attempts.c.delivery_id == bindparam("row_id"),
        attempts.c.number == bindparam("attempt_no"),
        attempts.c.finished_at.is_(None),
    )
)
ABANDONED = "the worker stopped before the outcome was known; resent with the same key"


def claim(
    engine: Engine,
    *,
    capacity: Capacity,
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
    with unit_of_work(engine, audits=True, locks=CLAIM_LOCKS) as connection:
        return claim_in(
            connection, capacity=capacity, limit=limit, now=now, lease=lease, actor=actor
        )


def claim_in(
    connection: Connection,
    *,
    capacity: Capacity,
    limit: int,
    now: datetime,
    lease: Callable[[str], timedelta],
    actor: str,
) -> list[Claim]:
    """`claim` inside the caller's unit of work, which names the levels of `CLAIM_LOCKS`."""
    if limit <= 0:
        return []
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
    return _take(connection, chosen, now, lease, actor)


def _claimable(connection: Connection, councils: list[str], slots: int, now: datetime) -> list[Any]:
    """Due deliveries whose earlier ones are settled: higher risk first, then longest waiting.

    One index range per (status, priority) rather than one query over every due row: with a
    backlog of 100 000, sorting them all on every claim is what slowed the drain (bench/), while
    each range read here stops after `want` rows. Expired leases (a worker died) are read too.
    The ranges are read in one statement (`_ranges`).
    """
    want = slots * 4  # councils at capacity are skipped by the caller: read a few more
    found = _RANGES.rows(connection, {"councils": councils, "want": want, "now": now})
    return sorted(found, key=lambda r: (r.priority, r.next_attempt_at or now, r.created_at))


def _take(
    connection: Connection,
    rows: list[Any],
    now: datetime,
    lease: Callable[[str], timedelta],
    actor: str,
) -> list[Claim]:
    if not rows:
        return []
    _TAKE.run(
        connection,
        [
            {
                "row_id": row.id,
                "status": "in_flight",
                "lease_until": now + lease(row.council),
                "attempts": row.attempts + 1,
                "updated_at": now,
            }
            for row in rows
        ],
    )
    for row in rows:
        if row.status == "in_flight":
            _abandon(connection, row.id, row.attempts, now, actor)
    _START.run(
        connection,
        [{"delivery_id": row.id, "number": row.attempts + 1, "started_at": now} for row in rows],
    )
    wanted = sorted({row.event_id for row in rows})
    found = {e.id: e for e in _EVENTS.rows(connection, {"ids": wanted})}
    return [_claim_of(row, found[row.event_id]) for row in rows]


def _claim_of(row: Any, event: Any) -> Claim:
    number = row.attempts + 1
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
        high_risk=RISK_BY_PRIORITY[row.priority] is RiskLevel.HIGH,
    )


def _abandon(
    connection: Connection, delivery_id: str, number: int, now: datetime, actor: str
) -> None:
    """Close the attempt of a worker that died mid-send: its outcome is unknown."""
    _ABANDON.run(
        connection,
        {
            "row_id": delivery_id,
            "attempt_no": number,
            "finished_at": now,
            "outcome": "abandoned",
            "error": ABANDONED,
        },
    )
    audit.append(
        connection,
        actor=actor,
        action=audit.Action.ATTEMPTED,
        subject=delivery_id,
        details={"attempt": number, "outcome": "abandoned"},
        at=now,
    )
