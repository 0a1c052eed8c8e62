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
from gateway.audit import checkpoints
from gateway.delivery import unroutable as unroutables
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
    summary="Verify the audit hash chain and its checkpoints (operators)",
)
def verify_audit(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """`ok`, the entries, head and newest checkpoint, and each problem with what to do."""
    require(principal, Role.OPERATOR)
    with services.engine.connect() as connection:
        report = audit.verify(connection, checkpoints.attached(services.engine))
    newest = report.checkpoint
    first = report.problems[0] if report.problems else None
    return {
        "ok": report.ok,
        "entries": report.entries,
        "head": report.head.hash if report.head else None,
        "checkpoint": newest
        and {
            "entry": newest.seq,
            "hash": newest.hash,
            "written_at": newest.written_at,
            "writer": newest.writer,
        },
        "problems": [
            {"problem": p.code, "entry": p.entry, "detail": p.detail, "action": p.action}
            for p in report.problems
        ],
        "notes": report.notes,
        "broken_entry": first.entry if first else None,
        "reason": first.detail if first else None,
    }
