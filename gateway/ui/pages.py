"""Rendering the `/ui` pages: the Jinja environment, its filters and the security headers.

Templates are in `templates/` and build on the GOV.UK Frontend template and component macros
of `govuk-frontend-jinja`. Autoescaping is on: every value from the database (payloads,
errors, names) reaches the page as text, never as markup.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, PrefixLoader, select_autoescape

from gateway.ui import triage

LONDON = ZoneInfo("Europe/London")  # council staff read UK time; the log stores UTC
STATUS_COLOURS = {
    "delivered": "green",
    "dead": "red",
    "retrying": "orange",
    "sent": "turquoise",
    "in_flight": "blue",
    "pending": "grey",
    "cancelled": "grey",
}


def uk_time(value: datetime | str | None) -> str:
    """A time as UK staff read it, e.g. '1 May 2024, 13:00 BST'; an em dash for none."""
    if value is None:
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    local = when.astimezone(LONDON)
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def iso(value: datetime | str | None) -> str:
    """A time as ISO 8601 in UTC with `Z` (for `<time datetime>`), or '' for none."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def label(code: str | None) -> str:
    """A snake_case code as words: 'no_apparent_risk' -> 'No apparent risk'."""
    if not code:
        return "—"
    words = code.replace("_", " ")
    return words[:1].upper() + words[1:]


@cache
def environment() -> Environment:
    """The pages' templates, with the GOV.UK macros under `govuk_frontend_jinja/`."""
    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("gateway.ui", "templates"),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(uk_time=uk_time, iso=iso, label=label, missing_for=triage.missing_for)
    env.globals.update(
        status_colours=STATUS_COLOURS,
        episode_status_tags=triage.STATUS_TAGS,
        condition_tags=triage.CONDITION_TAGS,
        not_recorded=triage.NOT_RECORDED,
        risk_tags=triage.RISK_TAGS,
    )
    return env


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """A page, never cached, never framed, with a CSP that allows only our own stylesheet.

    The GOV.UK template's one inline script (it marks the body `js-enabled`) runs under a
    per-response nonce; no other script is allowed, and the pages need none.
    """
    nonce = secrets.token_urlsafe(16)
    html = environment().get_template(template).render(request=request, cspNonce=nonce, **context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers.update(
        {
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'self'; img-src 'self' data:; "
                f"script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; "
                "base-uri 'none'"
            ),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
        }
    )
    return response
