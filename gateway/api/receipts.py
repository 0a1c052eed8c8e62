"""`GET /v1/receipts`: the messages a force sent, each with every council told and its state.

A police key lists its own force's messages only (a `force` naming another force is `403`);
an operator lists every force's, or one with `force`. The statuses are defined in
`gateway.receipt_list` and published in openapi.yaml and docs/police-it.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, Field

from gateway import receipt_list
from gateway.api.deps import PrincipalDep, ServicesDep, require
from gateway.api.problems import ApiProblem
from gateway.api.schemas import DeliveryStatus, Problem
from gateway.canonical import utc_now
from gateway.keys import Role
from gateway.store.engine import reading

router = APIRouter(tags=["inbound"])

MessageStatus = Literal["delivered", "pending", "overdue", "unroutable", "dead", "stale"]
CouncilState = Literal["delivered", "cancelled", "pending", "overdue", "unroutable", "dead"]
STATUS_HELP = (
    "The message's most urgent council state: `dead` if any delivery is dead (the gateway "
    "stopped trying), else `unroutable` if a council that must be told is not onboarded, else "
    "`overdue` if any delivery is past its deadline, else `pending` if any is on its way, else "
    "`delivered` (every delivery delivered or cancelled). `stale`: an older version than one "
    "already accepted, which creates no delivery."
)


def _problem(text: str) -> dict[str, Any]:
    return {"model": Problem, "description": text, "content": {"application/problem+json": {}}}


class ReceiptCouncil(BaseModel):
    """A council told of the message: its delivery, or its place on the unroutable list."""

    council: str | None = Field(
        description="DfE LA code; null for a council the police named by a name that matches "
        "no council (its name is `council_name`, verbatim)"
    )
    council_name: str | None
    system: Literal["mosaic", "fwi", "protocol"] | None = Field(
        description="The council's case system; null while it is not onboarded"
    )
    role: Literal["responsible", "home", "host"] | None = Field(
        description="The council's role in the episode when the event happened"
    )
    event_type: str
    delivery_id: str | None = Field(description="Null while the council waits unroutable")
    delivery_status: DeliveryStatus | None
    state: CouncilState = Field(
        description="delivered; cancelled; dead (stopped trying: phone the council); overdue "
        "(past its deadline, still trying: phone the council's MASH for a missing child); "
        "pending (on its way); unroutable (not onboarded: waits for an operator)"
    )
    deadline_at: datetime | None = Field(description="Delivered by then, or it is overdue")
    delivered_at: datetime | None


class ReceiptSummary(BaseModel):
    """A message the force sent, with where each council's delivery stands now."""

    receipt_id: str
    source: Literal["merlin", "compact"]
    force: str
    message_id: str
    received_at: datetime
    episode_id: str | None
    event_types: list[str]
    stale: bool
    status: MessageStatus = Field(description=STATUS_HELP)
    councils: list[ReceiptCouncil]


class ReceiptList(BaseModel):
    """A page of receipts, newest first."""

    items: list[ReceiptSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


class ReceiptQuery(BaseModel):
    """The receipt list's query parameters."""

    since: AwareDatetime | None = Field(
        default=None, description="Received at or after (ISO 8601 with a UTC offset)"
    )
    until: AwareDatetime | None = Field(
        default=None, description="Received before (ISO 8601 with a UTC offset)"
    )
    status: MessageStatus | None = Field(default=None, description="Only messages in this status")
    source: Literal["merlin", "compact"] | None = None
    force: str | None = Field(
        default=None,
        pattern=r"^[0-9]{2}$",
        description="Operators: only this force. A police key may give only its own force",
    )
    limit: int = Field(default=50, ge=1, le=500, description="Page size")
    cursor: str | None = Field(default=None, description="The previous page's `next_cursor`")


@router.get(
    "/v1/receipts",
    response_model=ReceiptList,
    responses={
        401: _problem("Missing or unknown API key"),
        403: _problem("Not a police or operator key, or another force's receipts"),
        422: _problem("A parameter is not valid (each one is named)"),
    },
    summary="List the receipts of what a force sent, with every council's delivery state",
)
def list_receipts(
    services: ServicesDep, principal: PrincipalDep, query: Annotated[ReceiptQuery, Query()]
) -> dict[str, Any]:
    """Newest first: a police key its own force's messages, an operator any force's."""
    require(principal, Role.POLICE, Role.OPERATOR)
    force = query.force
    if principal.role is Role.POLICE:
        if force is not None and force != principal.force:
            raise ApiProblem(
                403, "forbidden-force", f"this key reads force {principal.force}'s receipts only"
            )
        force = principal.force
    filters = receipt_list.ReceiptFilters(
        force=force,
        source=query.source,
        since=query.since,
        until=query.until,
        status=query.status,
        limit=query.limit,
        cursor=query.cursor,
    )
    with reading(services.engine) as connection:
        try:
            page = receipt_list.list_page(
                connection, filters, now=utc_now(), routing=services.routing
            )
        except ValueError as exc:  # only the cursor can be wrong once the query validated
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("query", "cursor"),
                        "msg": f"{exc}; ask again without a cursor to start from the newest",
                        "input": None,
                    }
                ]
            ) from exc
    return {"items": page.items, "next_cursor": page.next_cursor}
