"""The delivery log: list, read and replay deliveries (operators: all; a council: its own).

A council key sees only deliveries addressed to its council. Another council's delivery does
not exist for it: reading or replaying one answers `404`, exactly as an unknown id, and a
`council` filter naming another council gives an empty page. Police keys are refused (`403`).

Pages are newest first (`created_at`, then id, descending) and use keyset pagination: the
opaque cursor holds the last item's `created_at` and id, with a checksum so a damaged or edited
cursor is refused rather than silently paging from somewhere else. Authorisation is applied to
every page, so a cursor grants nothing.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import Connection, Select, and_, not_, or_, select

from gateway import audit
from gateway.api.deps import PrincipalDep, ServicesDep, require
from gateway.api.problems import ApiProblem
from gateway.api.schemas import DeliveryDetail, DeliveryItem, DeliveryPage, DeliveryStatus, Problem
from gateway.canonical import utc_now
from gateway.delivery import replay as replays
from gateway.delivery.enqueue import RISK_BY_PRIORITY
from gateway.keys import Principal, Role
from gateway.store.schema import attempts, deliveries, events

router = APIRouter(tags=["deliveries"])
CONSULT_PURPOSE = "delivery_log"
_OPEN = ("delivered", "cancelled")  # not overdue once in one of these


def _problem(text: str) -> dict[str, Any]:
    return {"model": Problem, "description": text, "content": {"application/problem+json": {}}}


_AUTH: dict[int | str, dict[str, Any]] = {
    401: _problem("Missing or unknown API key"),
    403: _problem("Not an operator or council key"),
}
_NOT_FOUND = _problem("No such delivery for this caller (another council's is not revealed)")
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


class DeliveryFilters(BaseModel):
    """The delivery log's query parameters."""

    status: DeliveryStatus | None = Field(default=None, description="Only this status")
    council: str | None = Field(
        default=None,
        pattern=r"^[0-9]{3}$",
        description="Only this council (DfE LA code); for a council key, another council's "
        "code gives an empty page",
    )
    system: Literal["mosaic", "fwi", "protocol"] | None = None
    episode_id: str | None = None
    overdue: bool | None = Field(
        default=None,
        description="true: not delivered (nor cancelled) by its deadline; false: the others",
    )
    since: AwareDatetime | None = Field(
        default=None, description="Created at or after (ISO 8601 with a UTC offset)"
    )
    until: AwareDatetime | None = Field(
        default=None, description="Created before (ISO 8601 with a UTC offset)"
    )
    limit: int = Field(default=50, ge=1, le=500, description="Page size")
    cursor: str | None = Field(default=None, description="The previous page's `next_cursor`")


def encode_cursor(created_at: datetime, delivery_id: str) -> str:
    """The opaque cursor that continues after this item."""
    body = f"{created_at.isoformat()}|{delivery_id}"
    check = hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
    return base64.urlsafe_b64encode(f"{body}|{check}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The `created_at` and id a cursor continues after.

    Raises:
        ValueError: not a cursor this API issued (malformed, damaged or edited).
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        at, delivery_id, check = raw.split("|")
        when = datetime.fromisoformat(at)
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ValueError("the cursor is not one this API issued") from exc
    expected = hashlib.sha256(f"{at}|{delivery_id}".encode()).hexdigest()[:16]
    if check != expected or when.tzinfo is None:
        raise ValueError("the cursor is not one this API issued")
    return when, delivery_id


def _invalid_parameter(name: str, message: str) -> RequestValidationError:
    """A 422 problem naming the query parameter, the same shape as FastAPI's own."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": None}]
    )


def _visible_to(query: Select[Any], principal: Principal) -> Select[Any]:
    """Only what the caller may see: a council its own deliveries, an operator everything."""
    if principal.role is Role.OPERATOR:
        return query
    return query.where(deliveries.c.council == principal.council)


def _overdue(now: datetime) -> Any:
    return and_(deliveries.c.status.not_in(_OPEN), deliveries.c.deadline_at < now)


def _filtered(query: Select[Any], filters: DeliveryFilters, now: datetime) -> Select[Any]:
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
    try:
        at, delivery_id = decode_cursor(cursor)
    except ValueError as exc:
        raise _invalid_parameter(
            "cursor", f"{exc}; ask again without a cursor to start from the newest"
        ) from exc
    return query.where(
        or_(
            deliveries.c.created_at < at,
            and_(deliveries.c.created_at == at, deliveries.c.id < delivery_id),
        )
    )


def _item(row: Any, now: datetime, ack_after: timedelta) -> dict[str, Any]:
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
        "overdue": row.status not in _OPEN and now > row.deadline_at,
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
    """The delivery if the caller may see it; otherwise 404, as for an id that does not exist."""
    query = (
        select(*_COLUMNS, *extra)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(deliveries.c.id == delivery_id)
    )
    row = connection.execute(_visible_to(query, principal)).first()
    if row is None:
        raise ApiProblem(404, "not-found", "no such delivery")
    return row


@router.get(
    "/v1/deliveries",
    response_model=DeliveryPage,
    responses={**_AUTH, 422: _problem("A parameter is not valid (each one is named)")},
    summary="List deliveries, newest first",
)
def list_deliveries(
    services: ServicesDep,
    principal: PrincipalDep,
    filters: Annotated[DeliveryFilters, Query()],
) -> dict[str, Any]:
    """The delivery log: operators see every delivery, a council its own."""
    require(principal, Role.OPERATOR, Role.COUNCIL)
    now = utc_now()
    query = select(*_COLUMNS).join(events, events.c.id == deliveries.c.event_id)
    query = _filtered(_visible_to(query, principal), filters, now)
    if filters.cursor is not None:
        query = _after(query, filters.cursor)
    query = query.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
    with services.engine.connect() as connection:
        rows = connection.execute(query.limit(filters.limit + 1)).all()
    page, more = rows[: filters.limit], len(rows) > filters.limit
    ack_after = timedelta(seconds=services.settings.ack_overdue_s)
    return {
        "items": [_item(row, now, ack_after) for row in page],
        "next_cursor": encode_cursor(page[-1].created_at, page[-1].id) if more else None,
    }


@router.get(
    "/v1/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    responses={**_AUTH, 404: _NOT_FOUND},
    summary="Read a delivery with its attempts and payload",
)
def get_delivery(
    delivery_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The delivery, its attempts and its payload as sent; audited as a consultation."""
    require(principal, Role.OPERATOR, Role.COUNCIL)
    now = utc_now()
    extra = (deliveries.c.idempotency_key, deliveries.c.payload, deliveries.c.payload_media_type)
    with services.engine.begin() as connection:
        row = _one(connection, principal, delivery_id, *extra)
        tried = connection.execute(
            select(attempts)
            .where(attempts.c.delivery_id == delivery_id)
            .order_by(attempts.c.number)
        ).all()
        audit.append(
            connection,
            actor=principal.actor,
            action=audit.Action.CONSULTED,
            subject=delivery_id,
            details={"what": "delivery", "purpose": CONSULT_PURPOSE, "via": "api"},
            at=now,
        )
    return {
        **_item(row, now, timedelta(seconds=services.settings.ack_overdue_s)),
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
        "payload": _payload(row.payload, row.payload_media_type),
    }


def _payload(body: bytes | None, media_type: str | None) -> dict[str, Any]:
    """The payload as sent: text when it is UTF-8 (every case system's is), else base64."""
    if body is None:
        return {"media_type": media_type, "encoding": None, "body": None}
    try:
        return {"media_type": media_type, "encoding": "utf-8", "body": body.decode("utf-8")}
    except UnicodeDecodeError:
        encoded = base64.b64encode(body).decode("ascii")
        return {"media_type": media_type, "encoding": "base64", "body": encoded}


@router.post(
    "/v1/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryItem,
    responses={
        **_AUTH,
        404: _NOT_FOUND,
        409: _problem("Not dead or delivered: it is queued, in flight or awaiting an ack"),
    },
    summary="Queue a dead or delivered delivery again, with the same idempotency key",
)
def replay_delivery(
    delivery_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Queue the delivery again, due now, with a fresh retry budget; audited with the caller."""
    require(principal, Role.OPERATOR, Role.COUNCIL)
    now = utc_now()
    with services.engine.begin() as connection:
        _one(connection, principal, delivery_id)
        try:
            replays.replay(connection, delivery_id, actor=principal.actor, now=now, via="api")
        except replays.NotReplayable as exc:
            raise ApiProblem(
                409,
                "not-replayable",
                f"the delivery is {exc.status}; only dead or delivered deliveries can be replayed",
            ) from exc
        row = _one(connection, principal, delivery_id)
    services.wake()
    return _item(row, now, timedelta(seconds=services.settings.ack_overdue_s))
