"""Protocol's asynchronous acknowledgements: which councils await one, and applying a page.

An acknowledgement settles the delivery it is about whatever the gateway recorded (a drop
whose answer was lost is still acknowledged by the case system), in one unit of work per page
that also moves the council's cursor on. One worker applies a council's feed at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from adapters.base import Ack
from gateway import audit
from gateway.delivery.outcomes import save_case_record
from gateway.store import locks
from gateway.store.dialects import constant
from gateway.store.schema import ack_cursors, deliveries
from gateway.store.work import unit_of_work

ACK_LOCKS = (locks.Level.ACK_FEED, locks.Level.DELIVERY, locks.Level.CASE_RECORD)


def awaiting_ack(engine: Engine) -> list[str]:
    """Councils with deliveries sent and not yet acknowledged.

    `status = 'sent'` is written into the SQL, not bound, so that the partial index of the few
    `sent` rows (`ix_deliveries_sent`) can serve it: with a parameter SQLite walked the council
    index, every delivery kept, at every poll (docs/decisions/0039).
    """
    sent = deliveries.c.status == constant("sent")
    with engine.connect() as connection:
        rows = connection.execute(select(deliveries.c.council).where(sent).distinct())
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
    with unit_of_work(engine, audits=True, locks=ACK_LOCKS) as connection:
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
