"""The delivery log API: list, read and replay deliveries (operators: all; a council: its own).

The queries, visibility rule and cursor are `gateway.delivery.log`'s, shared with the web page
at `/ui`. Here they become HTTP: another council's delivery answers `404`, exactly as an unknown
id; a `council` filter naming another council gives an empty page; police keys are refused
(`403`); a cursor this API did not issue is a `422` naming the parameter.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, Field

from adapters import registry
from gateway.api.deps import PLAIN_TEXT, IdPath, PrincipalDep, ServicesDep, require
from gateway.api.problems import ApiProblem
from gateway.api.schemas import DeliveryDetail, DeliveryItem, DeliveryPage, DeliveryStatus, Problem
from gateway.canonical import utc_now
from gateway.delivery import log
from gateway.delivery import replay as replays
from gateway.keys import Role
from gateway.store.locks import Level
from gateway.store.work import unit_of_work

router = APIRouter(tags=["deliveries"])


def _problem(text: str) -> dict[str, Any]:
    return {"model": Problem, "description": text, "content": {"application/problem+json": {}}}


_AUTH: dict[int | str, dict[str, Any]] = {
    401: _problem("Missing or unknown API key"),
    403: _problem("Not an operator or council key"),
}
_NOT_FOUND = _problem("No such delivery for this caller (another council's is not revealed)")


class DeliveryFilters(BaseModel):
    """The delivery log's query parameters."""

    status: DeliveryStatus | None = Field(default=None, description="Only this status")
    council: str | None = Field(
        default=None,
        pattern=r"^[0-9]{3}$",
        description="Only this council (DfE LA code); for a council key, another council's "
        "code gives an empty page",
    )
    system: registry.SystemName | None = None
    episode_id: str | None = Field(default=None, pattern=PLAIN_TEXT)
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


class ReplayRequest(BaseModel):
    """Why the delivery is replayed: recorded in the audit log with the caller."""

    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        pattern=PLAIN_TEXT,
        description="Why it is replayed, e.g. 'Mosaic back after the outage, INC-1234'",
    )


def _invalid_parameter(name: str, message: str) -> RequestValidationError:
    """A 422 problem naming the query parameter, the same shape as FastAPI's own."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": None}]
    )


def _ack_after(services: ServicesDep) -> timedelta:
    """How long a Protocol delivery may await its acknowledgement before it is overdue."""
    return timedelta(seconds=services.settings.ack_overdue_s)


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
    with services.engine.connect() as connection:
        try:
            page = log.list_page(
                connection, principal, filters, now=utc_now(), ack_after=_ack_after(services)
            )
        except ValueError as exc:  # only the cursor can be wrong once the filters validated
            raise _invalid_parameter(
                "cursor", f"{exc}; ask again without a cursor to start from the newest"
            ) from exc
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/v1/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    responses={**_AUTH, 404: _NOT_FOUND},
    summary="Read a delivery with its attempts and payload",
)
def get_delivery(
    delivery_id: IdPath, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The delivery, its attempts and its payload as sent; audited as a consultation."""
    require(principal, Role.OPERATOR, Role.COUNCIL)
    with unit_of_work(services.engine, audits=True) as connection:
        try:
            return log.read(
                connection,
                principal,
                delivery_id,
                now=utc_now(),
                ack_after=_ack_after(services),
                via="api",
            )
        except LookupError as exc:
            raise ApiProblem(404, "not-found", "no such delivery") from exc


@router.post(
    "/v1/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryItem,
    responses={
        **_AUTH,
        400: _problem("The body cannot be read as JSON (e.g. it is not UTF-8)"),
        404: _NOT_FOUND,
        409: _problem("Not dead or delivered: it is queued, in flight or awaiting an ack"),
        422: _problem("A parameter or the body is not valid (each one is named)"),
    },
    summary="Queue a dead or delivered delivery again, with the same idempotency key",
)
def replay_delivery(
    delivery_id: IdPath,
    services: ServicesDep,
    principal: PrincipalDep,
    body: Annotated[ReplayRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Queue the delivery again, due now, with a fresh retry budget.

    Audited with the caller and the body's `reason` (give one: it tells whoever reads the
    audit log later why the delivery went out again).
    """
    require(principal, Role.OPERATOR, Role.COUNCIL)
    with unit_of_work(services.engine, audits=True, locks=(Level.DELIVERY,)) as connection:
        try:
            replayed = log.replay_visible(
                connection,
                principal,
                delivery_id,
                now=utc_now(),
                ack_after=_ack_after(services),
                via="api",
                reason=body.reason if body is not None else None,
            )
        except LookupError as exc:
            raise ApiProblem(404, "not-found", "no such delivery") from exc
        except replays.NotReplayable as exc:
            raise ApiProblem(
                409,
                "not-replayable",
                f"the delivery is {exc.status}; only dead or delivered deliveries can be replayed",
            ) from exc
    services.wake()
    return replayed
