"""Inbound: police systems push notifications; police read their receipts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from adapters import registry
from gateway import metrics
from gateway.api.deps import IdPath, PrincipalDep, ServicesDep, require
from gateway.api.problems import ApiProblem
from gateway.api.schemas import Problem, Receipt
from gateway.errors import InboundRejected, PayloadTooLarge, UnsupportedMediaType
from gateway.ingest.prepare import Received
from gateway.keys import Principal, Role
from gateway.store.engine import reading
from gateway.store.schema import deliveries, messages

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text, "content": {"application/problem+json": {}}}
    for status, text in {
        400: (
            "Not well-formed XML, a DOCTYPE or entities, an unsupported encoding, a relative "
            "namespace URI, or over a document limit (elements, attributes, namespace "
            "declarations, depth)"
        ),
        401: "Missing or unknown API key",
        403: "Wrong role, or another force's message",
        409: "Same message id with different content",
        413: "Body over the size limit",
        415: "Not application/xml, or a compressed body",
        422: "Well-formed but invalid: schema or semantic rule (with located errors)",
        503: (
            "The database kept aborting the transaction under load (nothing stored), or the "
            "ingest process stopped mid-batch (perhaps stored); send it again"
        ),
    }.items()
}
_XML_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
    }
}


async def read_bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refusing compression, other media types and oversize bodies early."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/xml":
        raise UnsupportedMediaType(
            f"send Content-Type: application/xml (got {media_type or 'none'!r})"
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in {"", "identity"}:
        raise UnsupportedMediaType(
            "compressed bodies are refused; send the XML uncompressed", code="compressed-body"
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    return bytes(body)


async def _submit(
    source: str, request: Request, services: ServicesDep, principal: Principal
) -> JSONResponse:
    require(principal, Role.POLICE, Role.OPERATOR)
    try:
        body = await read_bounded_body(request, services.settings.max_body_bytes)
        outcome = await services.ingest.submit(Received(source, body, principal))
    except InboundRejected as exc:
        metrics.REJECTED.labels(source=source, reason=exc.code).inc()
        raise
    accepted = outcome.status_code == 202
    metrics.RECEIVED.labels(source=source, outcome="accepted" if accepted else "duplicate").inc()
    if accepted:
        services.wake()
    return JSONResponse(outcome.receipt, status_code=outcome.status_code)


def _submit_endpoint(source: str) -> Callable[..., Awaitable[JSONResponse]]:
    async def submit(
        request: Request, services: ServicesDep, principal: PrincipalDep
    ) -> JSONResponse:
        return await _submit(source, request, services, principal)

    return submit


def router() -> APIRouter:
    """The inbound routes, built from the registry when the app is created.

    `POST /v1/inbound/<name>` for each registered police source, then the receipts route.
    """
    routes = APIRouter(tags=["inbound"])
    for adapter in registry.INBOUND.values():
        routes.add_api_route(
            f"/v1/inbound/{adapter.name}",
            _submit_endpoint(adapter.name),
            methods=["POST"],
            name=f"submit_{adapter.name}",
            status_code=202,
            response_model=Receipt,
            openapi_extra=_XML_BODY,
            responses={
                200: {"model": Receipt, "description": "A resend: the original receipt"},
                **_ERRORS,
            },
            summary=adapter.summary,
            description=adapter.description,
        )
    routes.add_api_route(
        "/v1/receipts/{source}/{message_id}",
        get_receipt,
        methods=["GET"],
        response_model=Receipt,
        responses={
            401: _ERRORS[401],
            403: _ERRORS[403],
            404: {"model": Problem, "description": "No such receipt for this caller"},
        },
        summary="Read a receipt again, with live delivery statuses",
    )
    return routes


def get_receipt(
    source: IdPath, message_id: IdPath, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The receipt of an accepted message (police: own force only)."""
    require(principal, Role.POLICE, Role.OPERATOR)
    query = select(messages.c.receipt, messages.c.force).where(
        messages.c.source == source, messages.c.message_id == message_id
    )
    if principal.role is Role.POLICE:
        query = query.where(messages.c.force == principal.force)
    with reading(services.engine) as connection:
        row = connection.execute(query.limit(1)).first()
        if row is None:
            raise ApiProblem(404, "not-found", "no receipt for that source and message id")
        receipt = dict(row.receipt)
        ids = [d["delivery_id"] for d in receipt["deliveries"]]
        status = {
            row.id: row.status
            for row in connection.execute(
                select(deliveries.c.id, deliveries.c.status).where(deliveries.c.id.in_(ids))
            )
        }
    receipt["deliveries"] = [
        {**d, "status": status.get(d["delivery_id"], d["status"])} for d in receipt["deliveries"]
    ]
    return receipt
