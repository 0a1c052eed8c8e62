"""FastAPI dependencies as `Annotated` aliases: the services and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from gateway import keys
from gateway.api.auth_failures import AuthFailures
from gateway.api.key_cache import KeyCache
from gateway.api.problems import ApiProblem
from gateway.audit_monitor import AuditMonitor
from gateway.delivery.worker import Worker
from gateway.ingest.batching import Ingestor
from gateway.ingest.processes import Lanes
from gateway.keys import Principal, Role
from gateway.routing import RoutingTable
from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes need, built once per app."""

    settings: Settings
    engine: Engine
    routing: RoutingTable
    ingestor: Ingestor  # the server's own: scripts, tests, and the lane of `ingest_processes=0`
    # Where the HTTP routes ingest: processes beside the server, or a lane in this process
    # (gateway/ingest/processes.py; started and closed with the app).
    ingest: Lanes
    metrics: CollectorRegistry
    worker: Worker | None = None
    # Walks the audit chain on a timer while the app serves (its result is in /metrics).
    audit_monitor: AuditMonitor | None = None

    def wake(self) -> None:
        """After a commit that queued deliveries (ingest, replay): wake the in-process worker."""
        if self.worker is not None:
            self.worker.wake()


async def _services(request: Request) -> Services:
    # async: FastAPI runs a plain function dependency on the thread pool, a hop per request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]
# PostgreSQL text cannot hold NUL: such an id is a bad parameter (422), not a failed query (500).
PLAIN_TEXT = r"^[^\x00]*$"
IdPath = Annotated[str, Path(pattern=PLAIN_TEXT)]
_bearer = HTTPBearer(auto_error=False, description="An API key issued by `gateway keys create`.")


def client_address(request: Request) -> str:
    """The client's address (as a trusted proxy forwards it; see gateway/server.py)."""
    return request.client.host if request.client is not None else "unknown"


def auth_failures(request: Request) -> AuthFailures:
    """The app's failed-authentication counts."""
    failures: AuthFailures = request.app.state.auth_failures
    return failures


def too_many_failures(wait: int) -> ApiProblem:
    """The 429 for a client address or a key over its failed-authentication limit."""
    return ApiProblem(
        429,
        "too-many-failed-authentications",
        f"too many failed authentications; try again in {wait} s",
        headers={"Retry-After": str(wait)},
    )


async def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    failures, address = auth_failures(request), client_address(request)
    if (wait := failures.address_wait(address)) is not None:
        raise too_many_failures(wait)
    if credentials is None or credentials.scheme.lower() != "bearer":
        checked: Principal | keys.Refused = keys.Refused("missing")
        detail = "send an API key as 'Authorization: Bearer <key>'"
    else:
        cache: KeyCache = request.app.state.key_cache
        found = cache.cached(credentials.credentials)
        if found is None:  # not in memory, or too old: read on the thread pool
            found = await run_in_threadpool(cache.check, credentials.credentials)
        checked = found
        detail = "the API key is unknown or revoked"
    if isinstance(checked, Principal):
        return checked
    if (wait := failures.failed(address, checked, via="api", path=request.url.path)) is not None:
        raise too_many_failures(wait)
    raise ApiProblem(401, "unauthenticated", detail, headers={"WWW-Authenticate": "Bearer"})


PrincipalDep = Annotated[Principal, Depends(_principal)]


def require(principal: Principal, *roles: Role) -> None:
    """Refuse a caller whose role may not use this endpoint (403)."""
    if principal.role not in roles:
        allowed = ", ".join(str(r) for r in roles)
        raise ApiProblem(403, "forbidden-role", f"this endpoint is for {allowed} keys")
