"""The operators' overview over HTTP: who may see it, its figures, and replay with a reason."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, select

from gateway.canonical import utc_now
from gateway.store.schema import audit_log, deliveries, unroutable
from tests.conftest import AUDIT_KEY, KeyRing
from tests.gateway.delivery import ids_of, post, set_delivery
from tests.gateway.onboarding import HARROW, onboarded_routing
from tests.messages import compact, merlin, new_id
from tests.ui.conftest import csrf_of, sign_in


@pytest.fixture
def operator_ui(client: TestClient, keyring: KeyRing) -> TestClient:
    """The test client signed in with an operator key."""
    assert sign_in(client, keyring.issue("operator")).status_code == 303
    return client


def status_of(engine: Engine, delivery_id: str) -> str:
    """A delivery's status now."""
    with engine.connect() as connection:
        return str(
            connection.execute(
                select(deliveries.c.status).where(deliveries.c.id == delivery_id)
            ).scalar_one()
        )


def replay_entries(engine: Engine) -> list[dict[str, Any]]:
    """The `replayed` audit entries, as hashed."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_log.c.entry)
            .where(audit_log.c.action == "replayed")
            .order_by(audit_log.c.seq)
        )
        return [json.loads(r.entry) for r in rows]


def council_row(html: str, code: str) -> str:
    """The overview's table row of one council."""
    match = re.search(rf'<tr class="govuk-table__row" data-council="{code}">(.*?)</tr>', html, re.S)
    assert match is not None, f"no row for council {code}"
    return match.group(1)


def cell(row: str, name: str) -> str:
    """A numeric cell's value (its data attribute)."""
    match = re.search(rf'data-{name}="(\d+)"', row)
    assert match is not None
    return match.group(1)


@pytest.fixture
def state(
    client: TestClient, engine: Engine, met: dict[str, str], derbys: dict[str, str]
) -> dict[str, Any]:
    """Brent with a dead letter, Derbyshire with a high-risk delivery overdue, Harrow waiting."""
    merlin_ids = ids_of(post(client, "merlin", merlin(), met))
    high = ids_of(post(client, "compact", compact(), derbys))
    post(client, "merlin", merlin(*HARROW, message_id=new_id(), ref="24MIS031000"), met)
    set_delivery(engine, merlin_ids["304"], status="dead", last_error="refused")
    set_delivery(engine, merlin_ids["830"], status="delivered", delivered_at=utc_now())
    set_delivery(engine, high["830"], deadline_at=utc_now() - timedelta(minutes=5))
    return {"dead": merlin_ids["304"], "high": high["830"]}


def test_only_an_operator_sees_the_overview(client: TestClient, keyring: KeyRing) -> None:
    """A council's session gets a 403 page; without a session, the sign-in page."""
    assert client.get("/ui/overview", follow_redirects=False).headers["location"] == "/ui/sign-in"
    assert sign_in(client, keyring.issue("council", council="304")).status_code == 303
    for url in ("/ui/overview", "/ui/overview/replay"):
        page = client.get(url)
        assert page.status_code == 403 and "This page is for operators" in page.text
    assert 'href="/ui/overview"' not in client.get("/ui/deliveries").text


def test_the_figures_per_council_put_high_risk_overdue_first(
    operator_ui: TestClient, state: dict[str, Any]
) -> None:
    """Derbyshire (high risk overdue) heads the table; Brent's dead letter; totals on top."""
    page = operator_ui.get("/ui/overview")
    assert page.status_code == 200
    html = page.text
    codes = re.findall(r'data-council="(\d{3})"', html)
    assert codes[0] == "830" and set(codes) == {"304", "317", "830", "831", "384", "871"}
    derbyshire = council_row(html, "830")
    assert cell(derbyshire, "overdue") == "1" and "1 high" in derbyshire
    brent = council_row(html, "304")
    assert cell(brent, "dead") == "1" and cell(brent, "overdue") == "0"
    assert 'href="/ui/overview/replay?council=304"' in brent
    assert re.search(r'id="total-high-overdue">\s*<strong[^>]*>\s*1', html)
    assert "1 high-risk delivery is overdue" in html
    assert 'href="/ui/overview"' in html  # the navigation offers the overview to operators


def test_the_unroutable_list_shows_what_waits_and_what_to_do(
    operator_ui: TestClient, state: dict[str, Any]
) -> None:
    """Harrow (310) and Hillingdon (312) wait, not onboarded: onboard first, then replay."""
    html = operator_ui.get("/ui/overview").text
    keys = re.findall(r'data-waiting-key="(\d{3})"', html)
    assert sorted(keys) == ["310", "312"]
    assert "London Borough of Harrow (310)" in html
    assert html.count("Onboard the council, then replay") == 2


def test_the_charts_are_svg_drawn_on_the_server(
    operator_ui: TestClient, engine: Engine, state: dict[str, Any]
) -> None:
    """Both charts are inline SVG with a title; a confirmed delivery puts a point on latency."""
    html = operator_ui.get("/ui/overview").text
    for chart in ("latency-chart", "queue-chart"):
        assert f'<figure class="govuk-!-margin-0 govuk-!-margin-bottom-6" id="{chart}">' in html
    assert '<title id="latency-chart-title">Delivery latency, last 24 hours</title>' in html
    latency = html[html.index('id="latency-chart"') : html.index('id="queue-chart"')]
    assert re.search(r'<circle cx="[\d.]+" cy="[\d.]+" r="3"', latency)
    assert "<script" not in html.replace('<script nonce="', "")  # only the template's own


def test_the_replay_check_changes_nothing_and_lists_what_it_would_do(
    operator_ui: TestClient, engine: Engine, state: dict[str, Any]
) -> None:
    """Brent's check names its dead letter; nothing is replayed, nothing audited."""
    before = replay_entries(engine)
    page = operator_ui.get("/ui/overview/replay", params={"council": "304"})
    assert page.status_code == 200
    assert state["dead"] in page.text and "Replay 1 delivery" in page.text
    assert status_of(engine, state["dead"]) == "dead" and replay_entries(engine) == before
    every = operator_ui.get("/ui/overview/replay").text
    assert "Not replayed: councils not onboarded" in every and "(310)" in every
    assert operator_ui.get("/ui/overview/replay", params={"council": "310"}).status_code == 404


def test_a_replay_needs_a_reason_and_the_session_token(
    operator_ui: TestClient, engine: Engine, state: dict[str, Any]
) -> None:
    """No reason: 400 with the error and nothing replayed; a wrong token: 403, nothing."""
    check = operator_ui.get("/ui/overview/replay", params={"council": "304"})
    token = csrf_of(check.text)
    blank = operator_ui.post(
        "/ui/overview/replay", data={"council": "304", "reason": "  ", "csrf_token": token}
    )
    assert blank.status_code == 400
    assert "Enter why you are replaying these deliveries" in blank.text
    forged = operator_ui.post(
        "/ui/overview/replay", data={"council": "304", "reason": "x", "csrf_token": "nope"}
    )
    assert forged.status_code == 403
    assert status_of(engine, state["dead"]) == "dead" and replay_entries(engine) == []


def test_a_replay_with_a_reason_is_done_and_audited_with_the_operator(
    operator_ui: TestClient, engine: Engine, state: dict[str, Any]
) -> None:
    """303 back to the overview with the count; the dead letter is pending; who and why kept."""
    token = csrf_of(operator_ui.get("/ui/overview/replay", params={"council": "304"}).text)
    done = operator_ui.post(
        "/ui/overview/replay",
        data={"council": "304", "reason": "Brent's Mosaic fixed", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/overview?replayed=1&skipped=0"
    assert status_of(engine, state["dead"]) == "pending"
    (entry,) = replay_entries(engine)
    assert entry["subject"] == state["dead"] and entry["actor"].startswith("operator:")
    assert entry["details"]["reason"] == "Brent's Mosaic fixed"
    assert entry["details"]["via"] == "ui"
    assert "Replay done: 1 queued" in operator_ui.get(done.headers["location"]).text


def test_a_council_onboarded_since_is_replayed_from_the_overview(
    client: TestClient, engine: Engine, met: dict[str, str], keyring: KeyRing, tmp_path: Any
) -> None:
    """Harrow's waiting event, once Harrow is onboarded, is delivered by the overview's replay."""
    from gateway.api.app import build_services, create_app

    post(client, "merlin", merlin(*HARROW), met)
    settings = client.app.state.services.settings.model_copy(  # type: ignore[attr-defined]
        update={
            "routing_file": onboarded_routing(tmp_path, "310"),
            "audit_key": SecretStr(AUDIT_KEY.decode()),
        }
    )
    services = build_services(settings, engine=engine, upgrade=False)
    with TestClient(create_app(services)) as onboarded:
        assert sign_in(onboarded, keyring.issue("operator")).status_code == 303
        html = onboarded.get("/ui/overview").text
        assert cell(council_row(html, "310"), "waiting") == "1"
        token = csrf_of(onboarded.get("/ui/overview/replay", params={"council": "310"}).text)
        done = onboarded.post(
            "/ui/overview/replay",
            data={"council": "310", "reason": "Harrow onboarded", "csrf_token": token},
            follow_redirects=False,
        )
    assert done.headers["location"] == "/ui/overview?replayed=1&skipped=0"
    with engine.connect() as connection:
        waiting = connection.execute(
            select(unroutable.c.council).where(unroutable.c.resolved_at.is_(None))
        ).all()
    assert [w.council for w in waiting] == ["312"]
    (entry,) = replay_entries(engine)
    assert entry["details"]["previous_status"] == "unroutable"
    assert entry["details"]["reason"] == "Harrow onboarded"
