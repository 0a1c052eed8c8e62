"""The council delivery-log web page at `/ui` (GOV.UK Design System, no JavaScript needed).

Council IT sign in with their council's API key and then use a session cookie; see
`session.py` for the cookie and CSRF rules, `router.py` for the pages.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from gateway.settings import Settings
from gateway.ui import operators
from gateway.ui.router import SignInRequired, router
from gateway.ui.session import Sessions, end

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI, settings: Settings | None) -> None:
    """Serve the pages and their stylesheet, signing sessions with the configured secret.

    Without `GATEWAY_UI_SESSION_SECRET` the secret is random for this process: sessions end
    when it restarts, and several processes behind one address need the setting.
    """
    configured = settings.ui_session_secret if settings is not None else None
    secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
    ttl = timedelta(seconds=settings.ui_session_ttl_s if settings is not None else 3600)
    app.state.ui_sessions = Sessions(secret, ttl)
    app.include_router(router)
    app.include_router(operators.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> RedirectResponse:
        response = RedirectResponse("/ui/sign-in", status_code=303)
        end(response)  # a stale or forged cookie is dropped, not sent again
        return response
