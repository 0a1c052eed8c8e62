"""Server-side /ui sessions: signing out ends every copy of the cookie; CSRF tokens rotate."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from gateway import keys
from gateway.canonical import utc_now
from gateway.store.schema import ui_sessions
from gateway.store.work import unit_of_work
from gateway.ui import session
from tests.ui.conftest import csrf_of, sign_in


def _copy(client: TestClient) -> TestClient:
    """Another browser holding a copy of this one's session cookie."""
    thief = TestClient(client.app)
    token = client.cookies.get(session.SESSION_COOKIE, path="/ui")
    assert token is not None
    thief.cookies.set(session.SESSION_COOKIE, token, path="/ui")
    return thief


def _sign_out(client: TestClient) -> None:
    token = csrf_of(client.get("/ui/deliveries").text)
    done = client.post("/ui/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303


def test_a_copied_cookie_stops_working_when_its_session_signs_out(brent: TestClient) -> None:
    """Sign-out ends the session on the server, not only the cookie in this browser."""
    thief = _copy(brent)
    assert thief.get("/ui/deliveries", follow_redirects=False).status_code == 200
    _sign_out(brent)
    assert thief.get("/ui/deliveries", follow_redirects=False).status_code == 303


def test_a_copied_cookie_stops_working_when_its_key_is_revoked(
    brent: TestClient, engine: Engine, brent_key: str
) -> None:
    """Revoking the key ends its sessions wherever their cookies are."""
    thief = _copy(brent)
    with unit_of_work(engine, audits=True) as connection:
        assert keys.revoke(connection, brent_key.split("_")[1])
    assert thief.get("/ui/deliveries", follow_redirects=False).status_code == 303


def test_each_sign_in_has_its_own_csrf_token_and_an_old_one_is_refused(
    client: TestClient, brent_key: str
) -> None:
    """A new session brings a new CSRF token; the ended session's token changes nothing."""
    assert sign_in(client, brent_key).status_code == 303
    old_token = csrf_of(client.get("/ui/deliveries").text)
    thief = _copy(client)
    _sign_out(client)
    assert sign_in(client, brent_key).status_code == 303
    new_token = csrf_of(client.get("/ui/deliveries").text)
    assert new_token != old_token
    refused = client.post("/ui/sign-out", data={"csrf_token": old_token}, follow_redirects=False)
    assert refused.status_code == 403
    assert thief.get("/ui/deliveries", follow_redirects=False).status_code == 303
    assert client.get("/ui/deliveries", follow_redirects=False).status_code == 200


def test_the_database_keeps_only_a_hash_of_the_sessions_secret(
    brent: TestClient, engine: Engine
) -> None:
    """The cookie's secret is not in the database: a copy of the table opens no session."""
    sessions: session.Sessions = brent.app.state.ui_sessions  # type: ignore[attr-defined]
    token = brent.cookies.get(session.SESSION_COOKIE, path="/ui")
    secret = sessions._signer.loads(token)["s"]
    with engine.connect() as connection:
        ids = connection.execute(select(ui_sessions.c.id)).scalars().all()
    assert ids == [hashlib.sha256(secret.encode()).hexdigest()]


def test_expired_sessions_end_and_are_deleted_at_the_next_sign_in(
    client: TestClient, engine: Engine, brent_key: str, keyring: Any
) -> None:
    """A session past its end is refused even with a valid cookie, and its row goes."""
    assert sign_in(client, brent_key).status_code == 303
    now = utc_now()
    key_id = keyring.issue("council", council="830").split("_")[1]
    with engine.begin() as connection:
        connection.execute(ui_sessions.update().values(expires_at=now - timedelta(seconds=1)))
        connection.execute(
            insert(ui_sessions).values(
                id="0" * 64, key_id=key_id, created_at=now, expires_at=now - timedelta(days=1)
            )
        )
    assert client.get("/ui/deliveries", follow_redirects=False).status_code == 303
    assert sign_in(client, brent_key).status_code == 303
    with engine.connect() as connection:
        assert len(connection.execute(select(ui_sessions)).all()) == 1
