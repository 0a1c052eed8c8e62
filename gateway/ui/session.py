"""Sessions of the `/ui` pages: a signed, expiring cookie naming the key, and CSRF tokens.

Council IT sign in once with their council's API key; the gateway answers with a session
cookie that holds the key's id (never its secret), a CSRF token and the time it was issued,
signed with `GATEWAY_UI_SESSION_SECRET` (random per process by default). The cookie is
`HttpOnly`, `SameSite=Strict`, `Secure` when the page is served over https, scoped to `/ui`
and expires after `GATEWAY_UI_SESSION_TTL_S`. Every request looks the key up again, so
revoking the key ends its sessions at once.

Every form that changes something (replay, sign-out) carries the session's CSRF token; the
sign-in form, which has no session yet, is protected by a double-submit token instead (a
random value both in a short-lived cookie and in the form).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Connection, select

from gateway.keys import Principal, Role
from gateway.store.schema import api_keys

SESSION_COOKIE = "mep_ui_session"
SIGN_IN_COOKIE = "mep_ui_sign_in"
SIGN_IN_TTL = timedelta(hours=1)  # how long a sign-in form may sit open before it is sent
UI_ROLES = (Role.COUNCIL, Role.OPERATOR)  # police keys submit through the API, never here


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: the key it signed in with and its CSRF token."""

    key_id: str
    csrf: str


class Sessions:
    """Issues and checks the session cookies of one app (one signing secret)."""

    def __init__(self, secret: str, ttl: timedelta) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="mep-ui-session")
        self.ttl = ttl

    def start(self, request: Request, response: Response, key_id: str) -> Session:
        """Set a new session cookie for the key on the response (a fresh CSRF token too)."""
        session = Session(key_id=key_id, csrf=secrets.token_urlsafe(32))
        token = self._signer.dumps({"k": session.key_id, "c": session.csrf})
        _set_cookie(request, response, SESSION_COOKIE, token, self.ttl)
        return session

    def current(self, request: Request) -> Session | None:
        """The request's session, or None if it has none, or a forged or expired one."""
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            data = self._signer.loads(token, max_age=int(self.ttl.total_seconds()))
        except BadSignature:  # SignatureExpired is a BadSignature
            return None
        if not isinstance(data, dict) or not {"k", "c"} <= data.keys():
            return None
        return Session(key_id=str(data["k"]), csrf=str(data["c"]))


def end(response: Response) -> None:
    """Clear the session cookie (sign-out)."""
    response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")


def principal_of(connection: Connection, session: Session) -> Principal | None:
    """The caller a session speaks for, while its key is unrevoked and may use the pages."""
    row = connection.execute(
        select(api_keys).where(api_keys.c.id == session.key_id, api_keys.c.revoked_at.is_(None))
    ).first()
    if row is None or Role(row.role) not in UI_ROLES:
        return None
    return Principal(key_id=row.id, role=Role(row.role), force=row.force, council=row.council)


def csrf_matches(expected: str, presented: str | None) -> bool:
    """Whether a form's CSRF token is the expected one (in constant time)."""
    return bool(presented) and hmac.compare_digest(expected.encode(), str(presented).encode())


def sign_in_token(request: Request) -> str:
    """The sign-in form's double-submit token: the browser's unexpired one, or a new one."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)


def keep_sign_in_token(request: Request, response: Response, token: str) -> None:
    """Set (or refresh) the sign-in token's cookie on the page that shows the form."""
    _set_cookie(request, response, SIGN_IN_COOKIE, token, SIGN_IN_TTL)


def end_sign_in(response: Response) -> None:
    """Clear the sign-in form's token once it has been used."""
    response.delete_cookie(SIGN_IN_COOKIE, path="/ui", httponly=True, samesite="strict")


def _set_cookie(
    request: Request, response: Response, name: str, value: str, ttl: timedelta
) -> None:
    """A cookie only `/ui` gets, never script-readable, never sent from another site."""
    response.set_cookie(
        name,
        value,
        max_age=int(ttl.total_seconds()),
        path="/ui",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )
