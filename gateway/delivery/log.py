"""The delivery log's queries, shared by the JSON API (`/v1/deliveries`) and the web page (`/ui`).

A council sees only deliveries addressed to its council; an operator sees every delivery. A
delivery the caller may not see does not exist for it: `read` and `replay_visible` raise
`LookupError`, exactly as for an unknown id, so neither caller can reveal it.

Pages are newest first (`created_at`, then id, descending) and use keyset pagination: the
opaque cursor holds the last item's `created_at` and id, with a checksum so a damaged or edited
cursor is refused rather than silently paging from somewhere else. Visibility is applied to
every page, so a cursor grants nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Select, and_, not_, or_, select

from gateway import audit, visibility
from gateway.delivery import replay as replays
from gateway.delivery.enqueue import RISK_BY_PRIORITY
from gateway.keys import Principal
from gateway.store.cursors import decode_cursor, encode_cursor
from gateway.store.schema import attempts, deliveries, events

CONSULT_PURPOSE = "delivery_log"
SETTLED = ("delivered", "cancelled")  # never overdue once in one of these
_COLUMNS: tuple[Any, ...] = (
    deliveries.c.id,
    deliveries.c.episode_id,
    deliveries.c.event_id,
    events.c.type.label("event_type"),
    deliveries.c.council,
    deliveries.c.system,
    deliveries.c.seq,
    deliveries.c.status,
    deliveries.c.priority,
    deliveries.c.attempts,
    deliveries.c.created_at,
    deliveries.c.updated_at,
    deliveries.c.next_attempt_at,
    deliveries.c.deadline_at,
    deliveries.c.sent_at,
    deliveries.c.delivered_at,
    deliveries.c.target_reference,
    deliveries.c.last_error,
    deliveries.c.flags,
)


class Filters(Protocol):
    """What narrows the log, read-only (the API's `DeliveryFilters` query model is one)."""

    @property
    def status(self) -> str | None:  # noqa: D102 - the names say it
        ...

    @property
    def council(self) -> str | None:  # noqa: D102 - the names say it
        ...

    @property
    def system(self) -> str | None:  # noqa: D102 - the names say it
        ...

    @property
    def episode_id(self) -> str | None:  # noqa: D102 - the names say it
        ...

    @property
    def overdue(self) -> bool | None:  # noqa: D102 - the names say it
        ...

    @property
    def since(self) -> datetime | None:  # noqa: D102 - the names say it
        ...

    @property
    def until(self) -> datetime | None:  # noqa: D102 - the names say it
        ...

    @property
    def limit(self) -> int:  # noqa: D102 - the names say it
        ...

    @property
    def cursor(self) -> str | None:  # noqa: D102 - the names say it
        ...


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the log: items as `item` shapes them, and the cursor of the next page."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def visible_to(query: Select[Any], principal: Principal) -> Select[Any]:
    """Only what the caller may see (`gateway.visibility`): a council its own deliveries."""
    return visibility.deliveries_visible(query, principal)


def _overdue(now: datetime) -> Any:
    return and_(deliveries.c.status.not_in(SETTLED), deliveries.c.deadline_at < now)


def _filtered(query: Select[Any], filters: Filters, now: datetime) -> Select[Any]:
    for column, value in (
        (deliveries.c.status, filters.status),
        (deliveries.c.council, filters.council),
        (deliveries.c.system, filters.system),
        (deliveries.c.episode_id, filters.episode_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if filters.overdue is not None:
        query = query.where(_overdue(now) if filters.overdue else not_(_overdue(now)))
    if filters.since is not None:
        query = query.where(deliveries.c.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(deliveries.c.created_at < filters.until)
    return query


def _after(query: Select[Any], cursor: str) -> Select[Any]:
    """Only the items after the cursor's (raises ValueError for a cursor not issued here)."""
    at, delivery_id = decode_cursor(cursor)
    return query.where(
        or_(
            deliveries.c.created_at < at,
            and_(deliveries.c.created_at == at, deliveries.c.id < delivery_id),
        )
    )


def item(row: Any, now: datetime, ack_after: timedelta) -> dict[str, Any]:
    """A delivery row as the log shows it, with `overdue` and `ack_overdue` as of `now`."""
    return {
        "delivery_id": row.id,
        "episode_id": row.episode_id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "council": row.council,
        "system": row.system,
        "seq": row.seq,
        "status": row.status,
        "priority": row.priority,
        "risk": str(RISK_BY_PRIORITY[row.priority]),
        "attempt_count": row.attempts,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "next_attempt_at": row.next_attempt_at,
        "deadline_at": row.deadline_at,
        "overdue": row.status not in SETTLED and now > row.deadline_at,
        "sent_at": row.sent_at,
        "ack_overdue": row.status == "sent"
        and row.sent_at is not None
        and now > row.sent_at + ack_after,
        "delivered_at": row.delivered_at,
        "target_reference": row.target_reference,
        "last_error": row.last_error,
        "flags": list(row.flags or []),
    }


def _one(connection: Connection, principal: Principal, delivery_id: str, *extra: Any) -> Any:
    """The delivery if the caller may see it.

    Raises:
        LookupError: no such delivery, or one the caller may not see (indistinguishable).
    """
    if "\x00" in delivery_id:  # PostgreSQL refuses NUL in text: no delivery has one
        raise LookupError("no delivery with that id")
    query = (
        select(*_COLUMNS, *extra)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(deliveries.c.id == delivery_id)
    )
    row = connection.execute(visible_to(query, principal)).first()
    if row is None:
        raise LookupError(f"no delivery {delivery_id} for this caller")
    return row


def list_page(
    connection: Connection,
    principal: Principal,
    filters: Filters,
    *,
    now: datetime,
    ack_after: timedelta,
) -> Page:
    """One page of the deliveries the caller may see, newest first (not audited: no payload).

    Raises:
        ValueError: the filters' cursor is not one this log issued.
    """
    query = select(*_COLUMNS).join(events, events.c.id == deliveries.c.event_id)
    query = _filtered(visible_to(query, principal), filters, now)
    if filters.cursor is not None:
        query = _after(query, filters.cursor)
    query = query.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
    rows = connection.execute(query.limit(filters.limit + 1)).all()
    page, more = rows[: filters.limit], len(rows) > filters.limit
    return Page(
        items=[item(row, now, ack_after) for row in page],
        next_cursor=encode_cursor(page[-1].created_at, page[-1].id) if more else None,
    )


def read(
    connection: Connection,
    principal: Principal,
    delivery_id: str,
    *,
    now: datetime,
    ack_after: timedelta,
    via: str,
) -> dict[str, Any]:
    """The delivery, its attempts and its payload as sent; audited as a consultation.

    Call inside a transaction (the audit entry is written with the read).

    Raises:
        LookupError: no such delivery for this caller.
    """
    extra = (deliveries.c.idempotency_key, deliveries.c.payload, deliveries.c.payload_media_type)
    row = _one(connection, principal, delivery_id, *extra)
    tried = connection.execute(
        select(attempts).where(attempts.c.delivery_id == delivery_id).order_by(attempts.c.number)
    ).all()
    audit.append(
        connection,
        actor=principal.actor,
        action=audit.Action.CONSULTED,
        subject=delivery_id,
        details={"what": "delivery", "purpose": CONSULT_PURPOSE, "via": via},
        at=now,
    )
    return {
        **item(row, now, ack_after),
        "idempotency_key": row.idempotency_key,
        "attempts": [
            {
                "number": a.number,
                "started_at": a.started_at,
                "finished_at": a.finished_at,
                "outcome": a.outcome,
                "http_status": a.http_status,
                "error": a.error,
                "target_reference": a.target_reference,
            }
            for a in tried
        ],
        "payload": payload(row.payload, row.payload_media_type),
    }


def payload(body: bytes | None, media_type: str | None) -> dict[str, Any]:
    """The payload as sent: text when it is UTF-8 (every case system's is), else base64.

    A media type without a body is a purged payload: rendering sets both, the retention purge
    (gateway/retention.py) blanks only the body.
    """
    if body is None:
        purged = media_type is not None
        return {"media_type": media_type, "encoding": None, "body": None, "purged": purged}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        encoded = base64.b64encode(body).decode("ascii")
        return {"media_type": media_type, "encoding": "base64", "body": encoded, "purged": False}
    return {"media_type": media_type, "encoding": "utf-8", "body": text, "purged": False}


def replay_visible(
    connection: Connection,
    principal: Principal,
    delivery_id: str,
    *,
    now: datetime,
    ack_after: timedelta,
    via: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Queue a delivery the caller may see again (see `replay.replay`); returns its new item.

    Call inside a transaction; the replay is audited with the caller and `reason`.

    Raises:
        LookupError: no such delivery for this caller.
        replay.NotReplayable: it is not dead or delivered (nothing is changed).
    """
    _one(connection, principal, delivery_id)
    replays.replay(connection, delivery_id, actor=principal.actor, now=now, via=via, reason=reason)
    return item(_one(connection, principal, delivery_id), now, ack_after)
