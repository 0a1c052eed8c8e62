"""The operators' pages at `/ui/overview`: every council at a glance, and replay with a reason.

For operator keys only (a council's session gets a 403 page). The overview's figures come from
`gateway.overview`, the unroutable list from `gateway.waiting`, the charts are SVG drawn here
(`chart.py`). A replay is shown before it is done (`bulk_replay.plan`, which changes nothing),
asks why, and audits each replay with the operator's key and that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from adapters.compact import councils
from gateway import overview
from gateway.api.deps import Services, ServicesDep
from gateway.canonical import utc_now
from gateway.delivery import bulk_replay
from gateway.delivery import unroutable as unroutables
from gateway.keys import Role
from gateway.logs import get_logger
from gateway.store.engine import reading
from gateway.ui import chart, session
from gateway.ui.pages import render
from gateway.ui.router import SignedIn, SignedInDep, message

router = APIRouter(prefix="/ui", include_in_schema=False)
logger = get_logger(__name__)
FormField = Annotated[str, Form()]
REASON_MAX = 500
SYSTEM_NAMES = {"mosaic": "Mosaic", "fwi": "FWi", "protocol": "Protocol"}


def _refused(request: Request, signed_in: SignedIn) -> HTMLResponse | None:
    """A 403 page for anyone but an operator; None for an operator."""
    if signed_in.principal.role is Role.OPERATOR:
        return None
    return message(
        request,
        403,
        "This page is for operators",
        "The overview shows every council. Sign in with an operator key to see it, or go to "
        "your council's deliveries.",
        signed_in=signed_in,
    )


@router.get("/overview")
def overview_page(
    request: Request,
    services: ServicesDep,
    signed_in: SignedInDep,
    replayed: int | None = None,
    skipped: int | None = None,
) -> HTMLResponse:
    """Each council's figures, what waits on the unroutable list, and the last 24 hours."""
    if (refused := _refused(request, signed_in)) is not None:
        return refused
    now = utc_now()
    with reading(services.engine) as connection:
        councils, waiting = overview.councils(connection, services.routing, now)
        steps = overview.history(connection, now)
    start = now - overview.DAY
    charts = [
        chart.latency_chart(
            start,
            now,
            [(s.end, s.p50_s) for s in steps],
            [(s.end, s.p95_s) for s in steps],
            deadline_s=services.settings.deadline_high_s,
        ),
        chart.queue_chart(start, now, [(s.end, float(s.queue)) for s in steps]),
    ]
    context = {
        "title": "Overview",
        "section": "overview",
        "signed_in": signed_in,
        "now": now,
        "councils": councils,
        "waiting": waiting,
        "totals": _totals(councils, waiting, now),
        "charts": charts,
        "steps": steps,
        "duration": chart.duration,
        "system_names": SYSTEM_NAMES,
        "replayed": replayed,
        "skipped": skipped,
    }
    return render(request, "overview.html", context)


def _totals(
    councils: list[overview.CouncilFigures], waiting: list[Any], now: Any
) -> dict[str, Any]:
    """The figures at the top of the page."""
    oldest = min((group.oldest for group in waiting), default=None)
    return {
        "high_overdue": sum(c.overdue["high"] for c in councils),
        "overdue": sum(c.overdue_total for c in councils),
        "dead": sum(c.dead for c in councils),
        "waiting": sum(group.events for group in waiting),
        "waiting_for": chart.duration((now - oldest).total_seconds()) if oldest else None,
    }


def _scope(services: Services, council: str) -> bulk_replay.Scope | None:
    """The replay's scope: every council (''), or one onboarded council; None if unknown."""
    if not council:
        return bulk_replay.Scope()
    if services.routing.route(council) is None:
        return None
    return bulk_replay.Scope(council=council)


def _names_read_again(actor: str) -> Callable[[Connection], object]:
    """A replay's first step: the waiting council names read again with the names table.

    The table as it is now (mappings/councils.yaml), as `gateway replay` reads it, so a
    variant just added resolves what waited for it.
    """
    names = councils.load_table()
    return lambda connection: unroutables.resolve_names(
        connection, names, now=utc_now(), actor=actor
    )


def _replay_page(
    request: Request,
    services: Services,
    signed_in: SignedIn,
    scope: bulk_replay.Scope,
    *,
    reason: str = "",
    error: str | None = None,
) -> HTMLResponse:
    """What the replay would do, and the form that asks why."""
    plan = bulk_replay.preview(
        services.engine,
        services.routing,
        scope,
        before=_names_read_again(signed_in.principal.actor),
    )
    route = services.routing.route(scope.council) if scope.council else None
    context = {
        "title": "Check the replay",
        "section": "overview",
        "signed_in": signed_in,
        "plan": plan,
        "council": scope.council or "",
        "council_name": route.name if route else None,
        "routing": services.routing,
        "reason": reason,
        "reason_error": error,
        "errors": [{"text": error, "href": "#reason"}] if error else [],
    }
    return render(request, "overview_replay.html", context, status_code=400 if error else 200)


@router.get("/overview/replay")
def replay_preview(
    request: Request, services: ServicesDep, signed_in: SignedInDep, council: str = ""
) -> HTMLResponse:
    """What a replay of one council (or all) would queue; nothing is changed."""
    if (refused := _refused(request, signed_in)) is not None:
        return refused
    scope = _scope(services, council)
    if scope is None:
        return _not_onboarded(request, signed_in, council)
    return _replay_page(request, services, signed_in, scope)


def _not_onboarded(request: Request, signed_in: SignedIn, council: str) -> HTMLResponse:
    return message(
        request,
        404,
        "Council not onboarded",
        f"No council with the code {council!r} is onboarded, so nothing can be delivered to it "
        "yet. Add it to the routing file, restart the gateway, then replay.",
        signed_in=signed_in,
    )


@router.post("/overview/replay", response_model=None)
def replay_run(
    request: Request,
    services: ServicesDep,
    signed_in: SignedInDep,
    *,
    council: FormField = "",
    reason: FormField = "",
    csrf_token: FormField = "",
) -> Response:
    """Replay, audited with the operator's key and reason; then back to the overview."""
    if (refused := _refused(request, signed_in)) is not None:
        return refused
    if not session.csrf_matches(signed_in.csrf, csrf_token):
        return message(
            request,
            403,
            "This form has expired",
            "Nothing was replayed. Go back, reload the page and try again.",
            signed_in=signed_in,
        )
    scope = _scope(services, council)
    if scope is None:
        return _not_onboarded(request, signed_in, council)
    why = reason.strip()
    if not why or len(why) > REASON_MAX or "\x00" in why:
        error = (
            f"Reason must be {REASON_MAX} characters or fewer"
            if len(why) > REASON_MAX
            else "Enter why you are replaying these deliveries"
        )
        return _replay_page(request, services, signed_in, scope, reason=reason, error=error)
    counts = bulk_replay.run(
        services.engine,
        services.routing,
        scope,
        actor=signed_in.principal.actor,
        via="ui",
        reason=why,
        deadlines=services.ingestor.deadlines,
        before=_names_read_again(signed_in.principal.actor),
    )
    services.wake()
    done = counts["dead"] + counts["delivered"] + counts["unroutable"]
    logger.info(
        "ui_replayed", key_id=signed_in.principal.key_id, queued=done, council=scope.council
    )
    return RedirectResponse(
        f"/ui/overview?replayed={done}&skipped={counts['skipped']}", status_code=303
    )
