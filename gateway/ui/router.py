"""The `/ui` routes: sign-in, the delivery log, a delivery, replay, and the open episodes.

Plain HTML forms and links, so every page works without JavaScript: filters are a GET form,
changes (sign-in, sign-out, replay) are POST forms answered with a redirect (303). The
routes are left out of the OpenAPI document, which describes the JSON API only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from adapters import registry
from gateway import keys
from gateway.api.deps import Services, ServicesDep, auth_failures, client_address
from gateway.canonical import utc_now
from gateway.delivery import log
from gateway.delivery import replay as replays
from gateway.keys import Principal, Role
from gateway.logs import get_logger
from gateway.store.locks import Level
from gateway.store.work import unit_of_work
from gateway.ui import episodes, filters, session, triage
from gateway.ui.pages import render

router = APIRouter(prefix="/ui", include_in_schema=False)
logger = get_logger(__name__)
FormField = Annotated[str, Form()]


class SignInRequired(Exception):
    """No valid session (none, expired, forged, or its key revoked): go to the sign-in page."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The caller behind a valid session."""

    principal: Principal
    csrf: str
    who: str
    session: session.Session


def _sessions(request: Request) -> session.Sessions:
    sessions: session.Sessions = request.app.state.ui_sessions
    return sessions


def _who(services: Services, principal: Principal) -> str:
    """How the page names the signed-in caller: the council's name, or 'an operator'."""
    if principal.role is Role.OPERATOR:
        return "an operator (all councils)"
    route = services.routing.route(principal.council or "")
    return f"{route.name} ({principal.council})" if route else f"council {principal.council}"


def _signed_in(request: Request, services: ServicesDep) -> SignedIn:
    current = _sessions(request).current(request)
    if current is None:
        raise SignInRequired
    with services.engine.connect() as connection:
        principal = session.principal_of(connection, current, utc_now())
    if principal is None:
        raise SignInRequired
    who = _who(services, principal)
    return SignedIn(principal=principal, csrf=current.csrf, who=who, session=current)


SignedInDep = Annotated[SignedIn, Depends(_signed_in)]


def _ack_after(services: Services) -> timedelta:
    return timedelta(seconds=services.settings.ack_overdue_s)


def message(
    request: Request, status_code: int, title: str, *paragraphs: str, signed_in: Any = None
) -> HTMLResponse:
    """A page that only says something (not found, refused), with a way back."""
    back = ("/ui/deliveries", "Go to your deliveries") if signed_in else ("/ui/sign-in", "Sign in")
    context = {"title": title, "paragraphs": paragraphs, "signed_in": signed_in}
    context |= {"back_href": back[0], "back_text": back[1]}
    return render(request, "message.html", context, status_code=status_code)


def _csrf_refused(request: Request, signed_in: SignedIn) -> HTMLResponse:
    return message(
        request,
        403,
        "This form has expired",
        "Nothing was changed. Go back, reload the page and try again.",
        signed_in=signed_in,
    )


@router.get("")
def home() -> RedirectResponse:
    """The log is the home page (the sign-in page when not signed in)."""
    return RedirectResponse("/ui/deliveries", status_code=303)


def _sign_in_page(
    request: Request, *, key_error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    token = session.sign_in_token(request)
    errors = [{"text": key_error, "href": "#api-key"}] if key_error else []
    context = {"title": "Sign in", "errors": errors, "key_error": key_error, "csrf_token": token}
    response = render(
        request, "sign_in.html", context | {"signed_in": None}, status_code=status_code
    )
    session.keep_sign_in_token(request, response, token)
    return response


@router.get("/sign-in")
def sign_in_form(request: Request) -> HTMLResponse:
    """The sign-in form: one field, the council's API key."""
    return _sign_in_page(request)


@router.post("/sign-in", response_model=None)
def sign_in(
    request: Request,
    services: ServicesDep,
    api_key: FormField = "",
    csrf_token: FormField = "",
) -> Response:
    """Check the key; a council or operator key gets a session, anything else an error."""
    failures, address = auth_failures(request), client_address(request)
    if (wait := failures.address_wait(address)) is not None:
        return _too_many_failures(request, wait)
    expected = request.cookies.get(session.SIGN_IN_COOKIE, "")
    if not session.csrf_matches(expected, csrf_token):
        text = "Your sign-in form had expired. Enter the key again (cookies must be allowed)."
        return _sign_in_page(request, key_error=text, status_code=403)
    if not api_key.strip():
        return _sign_in_page(request, key_error="Enter your council's API key", status_code=400)
    principal = _checked_key(request, services, api_key.strip())
    if not isinstance(principal, Principal):
        return principal
    if principal.role not in session.UI_ROLES:
        text = "Police keys cannot sign in here: this page is for council IT with a council key"
        return _sign_in_page(request, key_error=text, status_code=403)
    response = RedirectResponse("/ui/deliveries", status_code=303)
    with services.engine.begin() as connection:
        _sessions(request).start(connection, request, response, principal.key_id, utc_now())
    session.end_sign_in(response)
    logger.info("ui_signed_in", key_id=principal.key_id, role=str(principal.role))
    return response


def _checked_key(request: Request, services: Services, api_key: str) -> Principal | Response:
    """The key's principal, or the page refusing it (401; 429 once failures are limited)."""
    with services.engine.connect() as connection:
        checked = keys.check(connection, api_key)
    if isinstance(checked, Principal):
        return checked
    failures, address = auth_failures(request), client_address(request)
    if (wait := failures.failed(address, checked, via="ui", path=request.url.path)) is not None:
        return _too_many_failures(request, wait)
    text = "That API key is not recognised, or it has been revoked"
    return _sign_in_page(request, key_error=text, status_code=401)


def _too_many_failures(request: Request, wait: int) -> HTMLResponse:
    minutes = max(1, -(-wait // 60))
    response = message(
        request,
        429,
        "Too many failed sign-ins",
        f"Sign-in is paused here for about {minutes} minute(s). Check that you are using "
        "your council's current API key.",
    )
    response.headers["Retry-After"] = str(wait)
    return response


@router.post("/sign-out", response_model=None)
def sign_out(
    request: Request, services: ServicesDep, signed_in: SignedInDep, csrf_token: FormField = ""
) -> Response:
    """End the session, for this cookie and any copy of it (the form carries the CSRF token)."""
    if not session.csrf_matches(signed_in.csrf, csrf_token):
        return _csrf_refused(request, signed_in)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    with services.engine.begin() as connection:
        session.end(response, connection, signed_in.session)
    logger.info("ui_signed_out", key_id=signed_in.principal.key_id)
    return response


@router.get("/deliveries")
def deliveries_page(
    request: Request, services: ServicesDep, signed_in: SignedInDep
) -> HTMLResponse:
    """The delivery log with its filter form, newest first, a page at a time."""
    operator = signed_in.principal.role is Role.OPERATOR
    form = filters.parse(request.query_params, council_filter=operator)
    page = log.Page(items=[], next_cursor=None)
    if form.filters is not None:
        with services.engine.connect() as connection:
            try:
                page = log.list_page(
                    connection,
                    signed_in.principal,
                    form.filters,
                    now=utc_now(),
                    ack_after=_ack_after(services),
                )
            except ValueError:
                form.errors["cursor"] = filters.MESSAGES["cursor"]
    context = {
        "title": "Deliveries",
        "section": "deliveries",
        "signed_in": signed_in,
        "form": form.values,
        "errors": form.error_list(),
        "field_errors": form.errors,
        "show_council": operator,
        "status_items": filters.select_items(filters.STATUSES, form.values["status"], "Any"),
        "system_items": filters.select_items(
            tuple(registry.OUTBOUND), form.values["system"], "Any"
        ),
        "items": page.items,
        "next_href": f"/ui/deliveries?{form.query(cursor=page.next_cursor)}"
        if page.next_cursor
        else None,
        "first_href": f"/ui/deliveries?{form.query(cursor=None)}"
        if form.values["cursor"]
        else None,
    }
    status_code = 400 if form.errors else 200
    return render(request, "deliveries.html", context, status_code=status_code)


@router.get("/deliveries/{delivery_id}")
def delivery_page(
    request: Request,
    delivery_id: str,
    services: ServicesDep,
    signed_in: SignedInDep,
    replayed: bool = False,
) -> HTMLResponse:
    """A delivery: its facts, its timeline of attempts and its payload as sent (audited)."""
    with unit_of_work(services.engine, audits=True) as connection:
        try:
            detail = log.read(
                connection,
                signed_in.principal,
                delivery_id,
                now=utc_now(),
                ack_after=_ack_after(services),
                via="ui",
            )
        except LookupError:
            return _not_found(request, signed_in)
    context = {
        "title": f"Delivery {delivery_id}",
        "section": "deliveries",
        "signed_in": signed_in,
        "d": detail,
        "replayed": replayed,
    }
    return render(request, "delivery.html", context)


def _not_found(request: Request, signed_in: SignedIn) -> HTMLResponse:
    return message(
        request,
        404,
        "Delivery not found",
        "There is no delivery with that id for your council. Check the link, or find it in "
        "your delivery log.",
        signed_in=signed_in,
    )


@router.post("/deliveries/{delivery_id}/replay", response_model=None)
def replay(
    request: Request,
    delivery_id: str,
    services: ServicesDep,
    signed_in: SignedInDep,
    csrf_token: FormField = "",
) -> Response:
    """Queue a dead letter again (same idempotency key), then show the delivery."""
    if not session.csrf_matches(signed_in.csrf, csrf_token):
        return _csrf_refused(request, signed_in)
    with unit_of_work(services.engine, audits=True, locks=(Level.DELIVERY,)) as connection:
        try:
            log.replay_visible(
                connection,
                signed_in.principal,
                delivery_id,
                now=utc_now(),
                ack_after=_ack_after(services),
                via="ui",
            )
        except LookupError:
            return _not_found(request, signed_in)
        except replays.NotReplayable as exc:
            return message(
                request,
                409,
                "This delivery cannot be replayed",
                f"It is {exc.status.replace('_', ' ')}: only a dead letter (or a delivered "
                "delivery) can be replayed. Nothing was changed.",
                signed_in=signed_in,
            )
    services.wake()
    return RedirectResponse(f"/ui/deliveries/{delivery_id}?replayed=true", status_code=303)


@router.get("/episodes")
def episodes_page(
    request: Request, services: ServicesDep, signed_in: SignedInDep, page: str = "1"
) -> HTMLResponse:
    """The council's episodes, most urgent first (see `triage`), a page at a time."""
    if not page.isascii() or not page.isdigit() or int(page) < 1:
        return message(
            request,
            400,
            "That page number is not valid",
            "Page numbers are whole numbers from 1: the first page is /ui/episodes.",
            signed_in=signed_in,
        )
    with unit_of_work(services.engine, audits=True) as connection:
        shown = episodes.open_episodes(
            connection,
            signed_in.principal,
            now=utc_now(),
            page=int(page),
            page_size=episodes.PAGE_SIZE,
        )
    codes = {code for e in shown.episodes for code, _ in e.councils}
    codes |= {e.interview_owner for e in shown.episodes if e.interview_owner}
    context = {
        "title": "Open episodes",
        "section": "episodes",
        "signed_in": signed_in,
        "page": shown,
        "sections": episodes.by_section(shown.episodes),
        "now": utc_now(),
        "council_names": {code: _council_name(services, code) for code in codes},
        "pagination": _pagination(shown),
        "show_council": signed_in.principal.role is Role.OPERATOR,
    }
    return render(request, "episodes.html", context)


def _council_name(services: Services, code: str) -> str:
    """'Derbyshire County Council (830)', or 'council 830' when it is not onboarded."""
    route = services.routing.route(code)
    return f"{route.name} ({code})" if route else f"council {code}"


def _pagination(shown: episodes.EpisodePage) -> dict[str, Any] | None:
    """The GOV.UK pagination component's parameters, or None for a single page."""
    if shown.pages == 1:
        return None
    href = "/ui/episodes?page={}".format
    items = [
        {"ellipsis": True}
        if number is None
        else {"number": number, "href": href(number), "current": number == shown.number}
        for number in triage.page_numbers(shown.number, shown.pages)
    ]
    previous = {"href": href(shown.number - 1)} if shown.number > 1 else None
    following = {"href": href(shown.number + 1)} if shown.number < shown.pages else None
    return {"items": items, "previous": previous, "next": following}
