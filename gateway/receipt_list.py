"""Receipts as a list: what a force sent, every council told, and where each delivery stands.

Police IT ask "what did we send since 08:00, and has every council got it?"; this module
answers from the database, newest message first, a page at a time (the delivery log's opaque
keyset cursor, on the message's `received_at` and receipt id).

Where a council's delivery stands (`state`):
- `delivered`: the case system confirmed it (Protocol: its acknowledgement arrived);
- `cancelled`: the gateway withdrew it (nothing more will be sent);
- `dead`: the gateway stopped trying (refused, or out of attempts): it waits for a replay;
- `overdue`: not yet delivered and past its deadline (15 min high risk, 1 h medium, else 4 h);
- `pending`: on its way (queued, in flight, retrying, or awaiting Protocol's acknowledgement);
- `unroutable`: the council must be told but is not onboarded: it waits on the operators'
  unroutable list and is delivered once the council is onboarded and the event replayed.

A message's `status` is its most urgent council state: `dead` if any delivery is dead, else
`unroutable` if any council waits on the unroutable list, else `overdue` if any delivery is
past its deadline, else `pending` if any is still on its way, else `delivered` (every delivery
delivered or cancelled). A stale message (an older version than one already accepted) creates
no delivery by design: its status is `stale`. Docs: docs/police-it.md; decision 0030.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
)

from adapters.compact.councils import official_name
from gateway.delivery.enqueue import UNSETTLED
from gateway.delivery.log import SETTLED
from gateway.routing import RoutingTable
from gateway.store.cursors import decode_cursor, encode_cursor
from gateway.store.schema import deliveries, events, messages, unroutable

MESSAGE_STATUSES = ("delivered", "pending", "overdue", "unroutable", "dead", "stale")
COUNCIL_STATES = ("delivered", "cancelled", "pending", "overdue", "unroutable", "dead")
# The rank of each message status: a message takes the highest of its deliveries'.
_RANK = {"stale": -1, "delivered": 0, "pending": 1, "overdue": 2, "unroutable": 3, "dead": 4}
_STATUS_OF_RANK = {rank: status for status, rank in _RANK.items()}


@dataclass(frozen=True, slots=True)
class ReceiptFilters:
    """What narrows the list: the force (None: every force, operators only), times, status."""

    force: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiptPage:
    """One page of the list, newest message first, and the cursor of the next page."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def council_state(status: str, deadline_at: datetime, now: datetime) -> str:
    """Where one delivery stands, from its status and deadline (see the module docstring)."""
    if status in ("delivered", "cancelled", "dead"):
        return status
    return "overdue" if deadline_at < now else "pending"


def _of_message(message: Any, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """Rows of the message's own events (through the episode's event index)."""
    return and_(
        events.c.episode_id == message.c.episode_id,
        events.c.message_row_id == message.c.id,
        *conditions,
    )


def _rank(now: datetime, message: Any) -> ColumnElement[int]:
    """The status rank of each row of `message` (the table, or a page of it), by the database."""
    unsettled = deliveries.c.status.not_in(SETTLED)
    delivery_rank = (
        select(
            func.coalesce(
                func.max(
                    case(
                        (deliveries.c.status == "dead", _RANK["dead"]),
                        (and_(unsettled, deliveries.c.deadline_at < now), _RANK["overdue"]),
                        (unsettled, _RANK["pending"]),
                        else_=_RANK["delivered"],
                    )
                ),
                _RANK["delivered"],
            )
        )
        .select_from(deliveries.join(events, events.c.id == deliveries.c.event_id))
        .where(deliveries.c.episode_id == message.c.episode_id, _of_message(message))
        .scalar_subquery()
    )
    waiting = exists(
        select(literal(1))
        .select_from(unroutable.join(events, events.c.id == unroutable.c.event_id))
        .where(_of_message(message, unroutable.c.resolved_at.is_(None)))
    )
    return case(
        (message.c.stale, _RANK["stale"]),
        (delivery_rank == _RANK["dead"], _RANK["dead"]),
        (waiting, _RANK["unroutable"]),
        else_=delivery_rank,
    )


_LISTED = (
    messages.c.id,
    messages.c.source,
    messages.c.force,
    messages.c.message_id,
    messages.c.received_at,
    messages.c.episode_id,
    messages.c.stale,
    messages.c.receipt,
)


def _query(filters: ReceiptFilters, now: datetime) -> Select[Any]:
    """The page's messages with their status rank, newest first, after the cursor.

    Without a status filter the page is chosen first and the rank computed for its rows only;
    with one, the database computes it for each message in order until the page is full.
    """
    inner = select(*_LISTED)
    for column, value in ((messages.c.force, filters.force), (messages.c.source, filters.source)):
        if value is not None:
            inner = inner.where(column == value)
    if filters.since is not None:
        inner = inner.where(messages.c.received_at >= filters.since)
    if filters.until is not None:
        inner = inner.where(messages.c.received_at < filters.until)
    if filters.cursor is not None:
        at, receipt_id = decode_cursor(filters.cursor)
        inner = inner.where(
            or_(
                messages.c.received_at < at,
                and_(messages.c.received_at == at, messages.c.id < receipt_id),
            )
        )
    newest = (messages.c.received_at.desc(), messages.c.id.desc())
    if filters.status is None:
        page = inner.order_by(*newest).limit(filters.limit + 1).subquery()
        ranked = select(page, _rank(now, page).label("rank"))
        return ranked.order_by(page.c.received_at.desc(), page.c.id.desc())
    candidates = _candidates(filters.status, now)
    if candidates is not None:
        inner = inner.where(candidates)
    rank = _rank(now, messages)
    filtered = inner.add_columns(rank.label("rank")).where(rank == _RANK[filters.status])
    return filtered.order_by(*newest).limit(filters.limit + 1)


def _candidates(status: str, now: datetime) -> ColumnElement[bool] | None:
    """A condition every message in `status` meets, cheap to test (None: no such shortcut).

    A dead, overdue or pending message has a delivery in that state, found through the
    deliveries' status index; an unroutable one has an unresolved unroutable row. So asking for
    the few problem messages of a long period does not compute every message's status.
    """
    states: dict[str, ColumnElement[bool]] = {
        "dead": deliveries.c.status == "dead",
        "overdue": and_(deliveries.c.status.in_(UNSETTLED), deliveries.c.deadline_at < now),
        "pending": deliveries.c.status.in_(UNSETTLED),
    }
    if status in states:
        having = (
            select(events.c.message_row_id)
            .select_from(deliveries)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(states[status])
        )
        return messages.c.id.in_(having)
    if status == "unroutable":
        waiting = (
            select(events.c.message_row_id)
            .join(unroutable, unroutable.c.event_id == events.c.id)
            .where(unroutable.c.resolved_at.is_(None))
        )
        return messages.c.id.in_(waiting)
    if status == "stale":
        return messages.c.stale.is_(True)
    return None


def list_page(
    connection: Connection, filters: ReceiptFilters, *, now: datetime, routing: RoutingTable
) -> ReceiptPage:
    """One page of receipts with every council told and where its delivery stands.

    Raises:
        ValueError: the cursor is not one this list issued, or the status is unknown.
    """
    if filters.status is not None and filters.status not in _RANK:
        raise ValueError(f"unknown message status {filters.status!r}")
    rows = connection.execute(_query(filters, now)).all()
    page, more = rows[: filters.limit], len(rows) > filters.limit
    told = _councils_told(connection, page, now, routing)
    items = [
        {
            "receipt_id": r.id,
            "source": r.source,
            "force": r.force,
            "message_id": r.message_id,
            "received_at": r.received_at,
            "episode_id": r.episode_id,
            "event_types": list(r.receipt.get("event_types", [])),
            "stale": bool(r.stale),
            "status": _STATUS_OF_RANK[int(r.rank)],
            "councils": told.get(r.id, []),
        }
        for r in page
    ]
    cursor = encode_cursor(page[-1].received_at, page[-1].id) if more else None
    return ReceiptPage(items=items, next_cursor=cursor)


def _councils_told(
    connection: Connection, page: Sequence[Any], now: datetime, routing: RoutingTable
) -> dict[str, list[dict[str, Any]]]:
    """Each page message's councils: one entry per delivery, then each waiting council."""
    ids = [r.id for r in page]
    episodes = sorted({r.episode_id for r in page if r.episode_id is not None})
    found: dict[str, list[dict[str, Any]]] = {}
    if not ids or not episodes:
        return found
    mine = and_(events.c.episode_id.in_(episodes), events.c.message_row_id.in_(ids))
    sent = connection.execute(
        select(
            events.c.message_row_id,
            events.c.type,
            deliveries.c.council_role.label("role"),
            deliveries.c.id,
            deliveries.c.council,
            deliveries.c.system,
            deliveries.c.status,
            deliveries.c.deadline_at,
            deliveries.c.delivered_at,
        )
        .join(events, events.c.id == deliveries.c.event_id)
        .where(deliveries.c.episode_id.in_(episodes), mine)
        .order_by(events.c.seq, deliveries.c.council)
    ).all()
    for d in sent:
        found.setdefault(d.message_row_id, []).append(
            _entry(d, routing, d.system)
            | {
                "delivery_id": d.id,
                "delivery_status": d.status,
                "state": council_state(d.status, d.deadline_at, now),
                "deadline_at": d.deadline_at,
                "delivered_at": d.delivered_at,
            }
        )
    waiting = connection.execute(
        select(
            events.c.message_row_id,
            events.c.type,
            unroutable.c.council,
            unroutable.c.name,
            unroutable.c.role,
        )
        .join(events, events.c.id == unroutable.c.event_id)
        .where(mine, unroutable.c.resolved_at.is_(None))
        .order_by(events.c.seq, unroutable.c.council, unroutable.c.name)
    ).all()
    for w in waiting:
        found.setdefault(w.message_row_id, []).append(
            _entry(w, routing, None)
            | {
                "delivery_id": None,
                "delivery_status": None,
                "state": "unroutable",
                "deadline_at": None,
                "delivered_at": None,
            }
        )
    return found


def _entry(row: Any, routing: RoutingTable, system: str | None) -> dict[str, Any]:
    """The council, its name, system and role in the event (what every entry shares).

    A waiting council name that matched no council has no code: its name is the one the
    police wrote, verbatim.
    """
    if row.council is None:
        council_name = getattr(row, "name", None)
    elif (route := routing.route(row.council)) is not None:
        council_name = route.name
    else:
        council_name = official_name(row.council)
    return {
        "council": row.council,
        "council_name": council_name,
        "system": system,
        "role": row.role,
        "event_type": row.type,
    }
