"""The /ui pages over HTTP: sign-in, sessions, CSRF, the log, a delivery, replay, episodes."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Engine, insert, select

from gateway import keys
from gateway.canonical import utc_now
from gateway.store.schema import attempts, audit_log, deliveries
from gateway.store.work import unit_of_work
from gateway.ui import filters, session
from tests.gateway.delivery import another_report, ids_of, set_delivery
from tests.ui.conftest import csrf_of, sign_in

ROW = re.compile(r'data-delivery-id="([^"]+)"')
OLDER = re.compile(r'href="([^"]+)" rel="next"')


def rows(html: str) -> list[str]:
    """The delivery ids listed on a page, in order."""
    return ROW.findall(html)


def last_audit(engine: Engine) -> Any:
    """The newest audit entry."""
    with engine.connect() as connection:
        return connection.execute(select(audit_log).order_by(audit_log.c.seq.desc())).first()


def status_of(engine: Engine, delivery_id: str) -> str:
    """A delivery's status."""
    with engine.connect() as connection:
        query = select(deliveries.c.status).where(deliveries.c.id == delivery_id)
        return str(connection.execute(query).scalar_one())


# --- signing in -------------------------------------------------------------------------------


def test_every_page_sends_a_visitor_without_a_session_to_sign_in(client: TestClient) -> None:
    """The log, a delivery, the episodes and /ui itself redirect (303) to the sign-in page."""
    for path in ("/ui/deliveries", "/ui/deliveries/some-id", "/ui/episodes"):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/ui/sign-in")
    response = client.post("/ui/deliveries/some-id/replay", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/ui/sign-in")
    assert client.get("/ui").url.path == "/ui/sign-in"


def test_signing_in_sets_a_strict_httponly_expiring_cookie(
    client: TestClient, brent_key: str
) -> None:
    """A council key gets a signed session cookie: HttpOnly, SameSite=Strict, /ui, one hour."""
    response = sign_in(client, brent_key)
    assert (response.status_code, response.headers["location"]) == (303, "/ui/deliveries")
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("mep_ui_session=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/ui", "max-age=3600"} <= attributes
    assert "secure" not in attributes  # plain http here: a Secure cookie would never come back
    assert brent_key.split("_", 2)[2] not in cookie  # the key's secret is never in the cookie
    page = client.get("/ui/deliveries")
    assert page.status_code == 200 and "London Borough of Brent (304)" in page.text


def test_the_cookie_is_secure_when_served_over_https(client: TestClient, brent_key: str) -> None:
    """Behind https the session cookie is marked Secure."""
    secure = TestClient(client.app, base_url="https://testserver")
    response = sign_in(secure, brent_key)
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("mep_ui_session=")
    )
    assert "secure" in cookie.lower()


def test_a_wrong_key_gets_a_govuk_error_summary_and_no_session(client: TestClient) -> None:
    """An unknown key answers 401 with the error summary linking to the field."""
    response = sign_in(client, "mep_abcdefabcdef_" + "x" * 43)
    assert response.status_code == 401
    assert "govuk-error-summary" in response.text and 'href="#api-key"' in response.text
    assert "not recognised, or it has been revoked" in response.text
    assert response.text.count("<title>Error: ") == 1
    assert "mep_ui_session" not in client.cookies
    assert client.get("/ui/deliveries", follow_redirects=False).status_code == 303


def test_an_empty_key_is_asked_for(client: TestClient) -> None:
    """Submitting the form empty names the missing key."""
    response = sign_in(client, "")
    assert response.status_code == 400 and "Enter your council&#39;s API key" in response.text


def test_a_police_key_is_refused_with_a_clear_message(client: TestClient, keyring: Any) -> None:
    """Police keys cannot sign in; the page says this page is for council keys."""
    response = sign_in(client, keyring.issue("police", force="01"))
    assert response.status_code == 403
    assert "Police keys cannot sign in here" in response.text
    assert "mep_ui_session" not in client.cookies


def test_signing_in_without_the_forms_token_is_refused(client: TestClient, brent_key: str) -> None:
    """A sign-in posted from elsewhere (no double-submit token) is refused (login CSRF)."""
    response = client.post(
        "/ui/sign-in", data={"api_key": brent_key, "csrf_token": "forged"}, follow_redirects=False
    )
    assert response.status_code == 403 and "mep_ui_session" not in client.cookies


def test_an_operator_signs_in_and_sees_every_council(
    client: TestClient, examples: dict[str, Any], keyring: Any
) -> None:
    """An operator's log has every delivery and a council column and filter."""
    assert sign_in(client, keyring.issue("operator")).status_code == 303
    page = client.get("/ui/deliveries")
    every = set(ids_of(examples["merlin"]).values()) | set(ids_of(examples["compact"]).values())
    assert set(rows(page.text)) == every and 'name="council"' in page.text


def test_a_revoked_key_ends_its_sessions(brent: TestClient, engine: Engine, brent_key: str) -> None:
    """Revoking the key sends its signed-in browser back to the sign-in page."""
    with unit_of_work(engine, audits=True) as connection:
        assert keys.revoke(connection, brent_key.split("_")[1])
    assert brent.get("/ui/deliveries", follow_redirects=False).status_code == 303


def test_a_forged_or_expired_session_cookie_is_ignored(
    client: TestClient, brent_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cookie signed with another secret, or older than its lifetime, is no session."""
    key_id = brent_key.split("_")[1]
    forged = URLSafeTimedSerializer("not-the-secret", salt="mep-ui-session")
    client.cookies.set("mep_ui_session", forged.dumps({"k": key_id, "c": "x"}), path="/ui")
    assert client.get("/ui/deliveries", follow_redirects=False).status_code == 303
    assert sign_in(client, brent_key).status_code == 303
    sessions: session.Sessions = client.app.state.ui_sessions  # type: ignore[attr-defined]
    monkeypatch.setattr(sessions, "ttl", timedelta(seconds=0))
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: 10**10)
    assert client.get("/ui/deliveries", follow_redirects=False).status_code == 303


def test_signing_out_needs_the_token_and_ends_the_session(brent: TestClient) -> None:
    """Sign-out without the CSRF token changes nothing; with it, the session is gone."""
    page = brent.get("/ui/deliveries")
    refused = brent.post("/ui/sign-out", data={"csrf_token": "wrong"}, follow_redirects=False)
    assert refused.status_code == 403 and "This form has expired" in refused.text
    assert brent.get("/ui/deliveries").status_code == 200
    done = brent.post(
        "/ui/sign-out", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (303, "/ui/sign-in")
    assert brent.get("/ui/deliveries", follow_redirects=False).status_code == 303


# --- the log ----------------------------------------------------------------------------------


def test_a_council_lists_only_its_own_deliveries(
    brent: TestClient, derbyshire: TestClient, examples: dict[str, Any]
) -> None:
    """Brent sees its one delivery, Derbyshire its two; neither sees the other's."""
    assert rows(brent.get("/ui/deliveries").text) == [ids_of(examples["merlin"])["304"]]
    mine = {ids_of(examples["merlin"])["830"], ids_of(examples["compact"])["830"]}
    assert set(rows(derbyshire.get("/ui/deliveries").text)) == mine
    # a council filter cannot widen a council's view (it is not even read)
    assert set(rows(brent.get("/ui/deliveries", params={"council": "830"}).text)) == {
        ids_of(examples["merlin"])["304"]
    }


def test_filters_narrow_the_list(
    derbyshire: TestClient, engine: Engine, examples: dict[str, Any]
) -> None:
    """Status, overdue, episode and date filters each give exactly the matching rows."""
    merlin_830, compact_830 = ids_of(examples["merlin"])["830"], ids_of(examples["compact"])["830"]
    set_delivery(engine, compact_830, status="dead", deadline_at=utc_now() - timedelta(hours=1))
    listed = lambda **params: rows(derbyshire.get("/ui/deliveries", params=params).text)  # noqa: E731
    assert listed(status="dead") == [compact_830]
    assert listed(status="pending") == [merlin_830]
    assert listed(overdue="yes") == [compact_830]
    assert listed(episode_id=examples["merlin"]["episode_id"]) == [merlin_830]
    assert listed(system="mosaic") == []
    today = utc_now().date()
    assert set(listed(since=str(today - timedelta(days=1)), until=str(today + timedelta(days=1))))
    assert listed(since=str(today + timedelta(days=2))) == []
    selected = derbyshire.get("/ui/deliveries", params={"status": "dead"}).text
    assert '<option value="dead" selected>' in selected  # the form shows what was asked


def test_invalid_filters_are_named_in_an_error_summary(brent: TestClient) -> None:
    """A bad date, an end before the start or a tampered status each name their field."""
    for params, field in (
        ({"since": "2024-02-30"}, "since"),
        ({"since": "2024-05-02", "until": "2024-05-01"}, "until"),
        ({"status": "lost"}, "status"),
        ({"cursor": "edited"}, "cursor"),
    ):
        response = brent.get("/ui/deliveries", params=params)
        assert response.status_code == 400, params
        assert "There is a problem" in response.text and f'href="#{field}"' in response.text


def test_pages_link_to_older_deliveries_until_every_one_is_shown_once(
    client: TestClient,
    met: dict[str, str],
    brent_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With two a page, following 'Older' covers five deliveries once each, newest first."""
    made = [ids_of(another_report(client, met, n))["304"] for n in range(5)]
    monkeypatch.setattr(filters, "PAGE_SIZE", 2)
    assert sign_in(client, brent_key).status_code == 303
    seen: list[str] = []
    href: str | None = "/ui/deliveries"
    while href is not None and len(seen) < 10:
        page = client.get(href)
        seen += rows(page.text)
        assert ("Back to the newest" in page.text) == (href != "/ui/deliveries")
        older = OLDER.search(page.text)
        href = html.unescape(older.group(1)) if older else None
    assert seen == list(reversed(made))


# --- a delivery and replay --------------------------------------------------------------------


def test_a_delivery_shows_its_timeline_and_payload_and_the_read_is_audited(
    brent: TestClient, engine: Engine, examples: dict[str, Any], brent_key: str
) -> None:
    """The attempts in order, the payload exactly as sent (escaped), and a 'consulted' entry."""
    delivery_id = ids_of(examples["merlin"])["304"]
    sent = b'{"note": "<b>as sent</b> & kept"}'
    set_delivery(
        engine,
        delivery_id,
        status="delivered",
        payload=sent,
        payload_media_type="application/json",
        target_reference="M-77",
    )
    started = utc_now() - timedelta(minutes=5)
    with engine.begin() as connection:
        for number, outcome, status, error in (
            (1, "retry", 503, "busy"),
            (2, "delivered", 201, None),
        ):
            connection.execute(
                insert(attempts).values(
                    delivery_id=delivery_id,
                    number=number,
                    started_at=started + timedelta(minutes=number),
                    finished_at=started + timedelta(minutes=number, seconds=1),
                    outcome=outcome,
                    http_status=status,
                    error=error,
                )
            )
    page = brent.get(f"/ui/deliveries/{delivery_id}")
    assert page.status_code == 200
    assert "{&#34;note&#34;: &#34;&lt;b&gt;as sent&lt;/b&gt; &amp; kept&#34;}" in page.text
    timeline = page.text.split('id="attempts"')[1].split("</table>")[0]
    assert timeline.index("Retry") < timeline.index("Delivered") and "503" in timeline
    assert "M-77" in page.text and "Replay this delivery" not in page.text
    last = last_audit(engine)
    assert (last.action, last.subject) == ("consulted", delivery_id)
    assert last.actor == f"council:304:{brent_key.split('_')[1]}"
    assert json.loads(last.entry)["details"] == {
        "what": "delivery",
        "purpose": "delivery_log",
        "via": "ui",
    }


def test_a_council_gets_not_found_for_another_councils_delivery(
    brent: TestClient, engine: Engine, examples: dict[str, Any]
) -> None:
    """Brent reading or replaying a Derbyshire delivery gets the same 404 as an unknown id."""
    theirs = ids_of(examples["compact"])["830"]
    set_delivery(engine, theirs, status="dead", payload=b"<secret/>", payload_media_type="text/xml")
    before = last_audit(engine).seq
    page = brent.get(f"/ui/deliveries/{theirs}")
    unknown = brent.get("/ui/deliveries/no-such-delivery")
    assert page.status_code == unknown.status_code == 404
    assert "Delivery not found" in page.text and "&lt;secret/&gt;" not in page.text
    csrf = csrf_of(brent.get("/ui/deliveries").text)
    replay = brent.post(f"/ui/deliveries/{theirs}/replay", data={"csrf_token": csrf})
    assert replay.status_code == 404 and status_of(engine, theirs) == "dead"
    assert last_audit(engine).seq == before  # nothing read, nothing replayed


def test_a_dead_letter_is_replayed_from_its_page(
    brent: TestClient, engine: Engine, examples: dict[str, Any], brent_key: str
) -> None:
    """The replay form queues it again, audited with the council, then shows a banner."""
    delivery_id = ids_of(examples["merlin"])["304"]
    set_delivery(engine, delivery_id, status="dead", last_error="rejected by the case system")
    page = brent.get(f"/ui/deliveries/{delivery_id}")
    assert "Replay this delivery" in page.text
    form = re.search(r'<form method="post" action="([^"]+/replay)"', page.text)
    assert form is not None and form.group(1) == f"/ui/deliveries/{delivery_id}/replay"
    response = brent.post(
        form.group(1), data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/deliveries/{delivery_id}?replayed=true"
    assert status_of(engine, delivery_id) == "pending"
    with engine.connect() as connection:
        entry = connection.execute(select(audit_log).where(audit_log.c.action == "replayed")).one()
    assert entry.actor == f"council:304:{brent_key.split('_')[1]}"
    assert json.loads(entry.entry)["details"]["via"] == "ui"
    assert "Delivery queued again" in brent.get(response.headers["location"]).text


def test_a_replay_without_the_csrf_token_changes_nothing(
    brent: TestClient, engine: Engine, examples: dict[str, Any]
) -> None:
    """A replay form posted without (or with another) token is refused with 403."""
    delivery_id = ids_of(examples["merlin"])["304"]
    set_delivery(engine, delivery_id, status="dead")
    for data in ({}, {"csrf_token": "not-the-token"}):
        response = brent.post(f"/ui/deliveries/{delivery_id}/replay", data=data)
        assert response.status_code == 403 and "This form has expired" in response.text
    assert status_of(engine, delivery_id) == "dead"


def test_a_delivery_still_queued_cannot_be_replayed(
    brent: TestClient, engine: Engine, examples: dict[str, Any]
) -> None:
    """Replaying a pending delivery says why and changes nothing."""
    delivery_id = ids_of(examples["merlin"])["304"]
    csrf = csrf_of(brent.get("/ui/deliveries").text)
    response = brent.post(f"/ui/deliveries/{delivery_id}/replay", data={"csrf_token": csrf})
    assert response.status_code == 409 and "It is pending" in response.text
    assert status_of(engine, delivery_id) == "pending"


# --- works without JavaScript, safely ---------------------------------------------------------


def test_pages_work_without_javascript_and_send_strict_headers(
    brent: TestClient, examples: dict[str, Any]
) -> None:
    """Every page is plain forms and links: no script file; only the nonce'd inline one runs."""
    delivery_id = ids_of(examples["merlin"])["304"]
    for path in ("/ui/sign-in", "/ui/deliveries", f"/ui/deliveries/{delivery_id}", "/ui/episodes"):
        page = brent.get(path)
        assert page.status_code == 200, path
        assert "<script src" not in page.text
        nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"])
        assert nonce is not None and page.text.count(f'nonce="{nonce.group(1)}"') == 1
        assert page.text.count("<script") == 1
        for form in re.findall(r"<form [^>]*>", page.text):
            assert 'action="/ui/' in form and 'method="' in form, form
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        assert '<html lang="en"' in page.text and 'href="#main-content"' in page.text


def test_the_stylesheet_is_served_and_the_pages_are_not_in_the_openapi_document(
    client: TestClient,
) -> None:
    """/ui/static serves the built GOV.UK Frontend CSS; no /ui path appears in OpenAPI."""
    css = client.get("/ui/static/gateway.css")
    assert css.status_code == 200 and ".govuk-button" in css.text and ".app-payload" in css.text
    assert "GDS Transport" not in css.text  # the GOV.UK-only font is not used
    assert not [
        path for path in client.get("/openapi.json").json()["paths"] if path.startswith("/ui")
    ]


def test_an_id_with_a_nul_is_not_found_not_a_server_error(brent: TestClient) -> None:
    """PostgreSQL refuses NUL in text; the page answers 404 like any unknown id."""
    assert brent.get("/ui/deliveries/%00").status_code == 404
