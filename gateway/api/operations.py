"""Operations: health, readiness, the unroutable list and audit verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from gateway import audit
from gateway.api.deps import PrincipalDep, ServicesDep, require
from gateway.api.schemas import AuditVerification, Health, Problem, UnroutableList
from gateway.delivery import unroutable as unroutables
from gateway.errors import AuditChainBroken
from gateway.keys import Role
from gateway.store import migrate

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz", response_model=Health, response_model_exclude_none=True, summary="The process is up"
)
def healthz() -> dict[str, str]:
    """Liveness: answers while the process runs."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health}},
    summary="The database is reachable and migrated",
)
def readyz(services: ServicesDep) -> Any:
    """Readiness: the database answers and its schema is at the newest migration."""
    try:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = migrate.is_current(services.engine)
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JSONResponse({"status": "unavailable", "detail": "database unreachable"}, 503)
    if not current:
        return JSONResponse({"status": "unavailable", "detail": "migrations pending"}, 503)
    return {"status": "ok"}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
def prometheus_metrics(services: ServicesDep) -> Response:
    """Received, rejected, delivered, retried, dead; queue depth and oldest age per target."""
    return Response(generate_latest(services.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/v1/unroutable",
    response_model=UnroutableList,
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        422: {"model": Problem, "description": "A parameter is not valid (each one is named)"},
    },
    summary="What waits for an operator: councils not onboarded, names unresolved (operators)",
)
def list_unroutable(
    services: ServicesDep,
    principal: PrincipalDep,
    include_resolved: bool = False,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="The previous page's `next_cursor`")
    ] = None,
) -> dict[str, Any]:
    """Unroutable events, oldest first, a page at a time; resolved ones only when asked."""
    require(principal, Role.OPERATOR)
    with services.engine.connect() as connection:
        try:
            page = unroutables.page(
                connection, limit=limit, cursor=cursor, include_resolved=include_resolved
            )
        except ValueError as exc:  # only the cursor can be wrong once the query validated
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("query", "cursor"),
                        "msg": f"{exc}; ask again without a cursor to start from the oldest",
                        "input": None,
                    }
                ]
            ) from exc
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/v1/audit/verify",
    response_model=AuditVerification,
    responses={401: {"model": Problem}, 403: {"model": Problem}},
    summary="Walk the audit hash chain (operators)",
)
def verify_audit(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """`ok` with the entry count and head hash, or the first broken entry."""
    require(principal, Role.OPERATOR)
    with services.engine.connect() as connection:
        try:
            verified = audit.verify(connection)
        except AuditChainBroken as exc:
            return {
                "ok": False,
                "entries": audit.count(connection),
                "broken_entry": exc.entry,
                "reason": exc.reason,
            }
    return {"ok": True, "entries": verified.entries, "head": verified.head}
