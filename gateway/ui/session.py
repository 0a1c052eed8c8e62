"""Sessions of the `/ui` pages: a server-side session behind a signed cookie, and CSRF tokens.

Council IT sign in once with their council's API key; the gateway records a session (a row of
`ui_sessions`: the key's id, when it ends) and answers with a cookie holding the session's
random secret (stored only as its SHA-256), a CSRF token and the time it was issued, signed
with `GATEWAY_UI_SESSION_SECRET` (random per process by default). The cookie is `HttpOnly`,
`SameSite=Strict`, `Secure` when the page is served over https, scoped to `/ui` and expires
after `GATEWAY_UI_SESSION_TTL_S`. Every request looks the session and its key up again, so
signing out (which deletes the row) or revoking the key ends the session at once, even for a
copy of the cookie.

Every form that changes something (replay, sign-out) carries the session's CSRF token, new
with each session; the sign-in form, which has no session yet, is protected by a
double-submit token instead (a random value both in a short-lived cookie and in the form).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Connection, delete, insert, select

from gateway.keys import Principal, Role
from gateway.store.schema import api_keys, ui_sessions

SESSION_COOKIE = "mep_ui_session"
SIGN_IN_COOKIE = "mep_ui_sign_in"
SIGN_IN_TTL = timedelta(hours=1)  # how long a sign-in form may sit open before it is sent
UI_ROLES = (Role.COUNCIL, Role.OPERATOR)  # police keys submit through the API, never here


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: its session's id (the secret's SHA-256) and its CSRF token."""

    id: str
    csrf: str


def _session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class Sessions:
    """Issues and checks the session cookies of one app (one signing secret)."""

    def __init__(self, secret: str, ttl: timedelta) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="mep-ui-session")
        self.ttl = ttl

    def start(
        self,
        connection: Connection,
        request: Request,
        response: Response,
        key_id: str,
        now: datetime,
    ) -> Session:
        """Record a new session for the key and set its cookie (new secret, new CSRF token).

        Sessions that have expired meanwhile, anyone's, are deleted here.
        """
        connection.execute(delete(ui_sessions).where(ui_sessions.c.expires_at <= now))
        secret = secrets.token_urlsafe(32)
        session = Session(id=_session_id(secret), csrf=secrets.token_urlsafe(32))
        connection.execute(
            insert(ui_sessions).values(
                id=session.id, key_id=key_id, created_at=now, expires_at=now + self.ttl
            )
        )
        token = self._signer.dumps({"s": secret, "c": session.csrf})
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
        if not isinstance(data, dict) or not {"s", "c"} <= data.keys():
            return None
        return Session(id=_session_id(str(data["s"])), csrf=str(data["c"]))


def end(
    response: Response, connection: Connection | None = None, session: Session | None = None
) -> None:
    """Clear the session cookie, and end the session itself when it is given (sign-out)."""
    if connection is not None and session is not None:
        connection.execute(delete(ui_sessions).where(ui_sessions.c.id == session.id))
    response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")


def principal_of(connection: Connection, session: Session, now: datetime) -> Principal | None:
    """The caller a session speaks for, while the session lasts and its key is unrevoked."""
    row = connection.execute(
        select(api_keys)
        .join(ui_sessions, ui_sessions.c.key_id == api_keys.c.id)
        .where(
            ui_sessions.c.id == session.id,
            ui_sessions.c.expires_at > now,
            api_keys.c.revoked_at.is_(None),
        )
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
