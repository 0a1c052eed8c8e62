"""The /ui pages end to end in a real headless Chromium (Debian's), with JavaScript switched off.

The app is served by uvicorn on a free loopback port; Playwright drives `/usr/bin/chromium`
(Playwright's own browser download cannot work here). The run saves the screenshots used in
the docs: docs/screenshots/ui-delivery-log.png and docs/screenshots/ui-open-episodes.png (a
synthetic caseload: children still missing at each risk, found ones with their condition, an
overdue return interview, a closed episode whose interview is still due, a hosted child).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, insert, select

from gateway import keys
from gateway.api.app import build_services, create_app
from gateway.canonical import utc_now
from gateway.settings import Settings
from gateway.store import migrate
from gateway.store.engine import make_engine
from gateway.store.schema import attempts, deliveries
from gateway.store.work import unit_of_work
from tests.gateway.delivery import XML, set_delivery
from tests.messages import compact
from tests.ui.browser import CHROMIUM_FLAGS, chromium_path
from tests.ui.conftest import set_episode_state
from tests.ui.reports import Episode

pytestmark = pytest.mark.slow

SCREENSHOT = Path(__file__).parents[2] / "docs" / "screenshots" / "ui-delivery-log.png"
EPISODES_SCREENSHOT = SCREENSHOT.with_name("ui-open-episodes.png")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """The gateway served by uvicorn in a thread on a free port (SQLite, no worker)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrate.upgrade(engine)
    settings = Settings(data_dir=tmp_path / "data", worker=False, _env_file=None)
    app = create_app(build_services(settings, engine=engine, upgrade=False))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", engine
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def seed(base: str, engine: Engine) -> dict[str, Any]:
    """Two Brent deliveries (one dead, with attempts and payload) and Derbyshire's three."""
    with unit_of_work(engine, audits=True) as connection:
        police = {
            force: keys.create(connection, keys.Role.POLICE, force=force) for force in ("01", "30")
        }
        brent = keys.create(connection, keys.Role.COUNCIL, council="304")
    now = utc_now()
    first = Episode("Alex Jordan", "Testchild", 1, now - timedelta(hours=26)).messages()[0]
    second = Episode("Robin", "Ashdown", 2, now - timedelta(hours=8)).messages()[0]
    receipts, episode_ids = [], []
    with httpx.Client(base_url=base) as http:
        for source, body, force in (
            ("merlin", first, "01"),
            ("compact", compact(), "30"),
            ("merlin", second, "01"),
        ):
            auth = {"Authorization": f"Bearer {police[force]}"}
            answer = http.post(f"/v1/inbound/{source}", content=body, headers={**XML, **auth})
            assert answer.status_code == 202, answer.text
            receipts.append({d["council"]: d["delivery_id"] for d in answer.json()["deliveries"]})
            episode_ids.append(answer.json()["episode_id"])
    dead, delivered = receipts[0]["304"], receipts[2]["304"]
    _history(engine, dead, delivered)
    return {
        "brent": brent,
        "met": police["01"],
        "dead": dead,
        "theirs": receipts[1]["830"],
        "mine": [dead, delivered],
        "missing": [episode_ids[0], episode_ids[2]],
    }


def caseload(base: str, engine: Engine, data: dict[str, Any]) -> list[str]:
    """Brent's open episodes beyond the two seeded, posted as the Met; all, in triage order."""
    now = utc_now()
    ago = lambda hours: now - timedelta(hours=hours)  # noqa: E731
    home = {"looked_after": False}  # Brent is the home council and owes the return interview
    cases = {
        "high": Episode("Jamie", "Highfield", 11, ago(3), risk="HIGH"),
        "medium": Episode("Casey", "Marsh", 12, ago(30), **home),
        "low": Episode("Ellis", "Brook", 13, ago(48), risk="LOW", **home),
        "overdue": Episode("Harper", "Lane", 14, ago(90), found=ago(80), condition="INJURED",
                           **home),
        "safe": Episode("Indy", "Shaw", 15, ago(14), found=ago(10), **home),
        "concerns": Episode("Nico", "Vale", 16, ago(9), found=ago(5), condition="UNKNOWN",
                            **home),
        "closed": Episode("Jordan", "Reed", 17, ago(6), found=ago(3), condition="HOSPITAL",
                          closed=True, **home),
        "hosted": Episode("Logan", "Price", 18, ago(7), found=ago(2), condition="CUSTODY"),
    }  # fmt: skip
    auth = {**XML, "Authorization": f"Bearer {data['met']}"}
    with httpx.Client(base_url=base) as http:

        def post(body: bytes) -> dict[str, Any]:
            answer = http.post("/v1/inbound/merlin", content=body, headers=auth)
            assert answer.status_code == 202, answer.text
            receipt: dict[str, Any] = answer.json()
            return receipt

        ids = {name: case.send(post) for name, case in cases.items()}
    # COMPACT's SafeAndWell N says "not safe and well" with no detail: set it as it would.
    set_episode_state(engine, ids["concerns"], found_condition="concerns")
    seeded_26h, seeded_8h = data["missing"]
    return [ids["high"], ids["medium"], seeded_26h, seeded_8h, ids["low"]] + [
        ids[name] for name in ("overdue", "safe", "concerns", "closed", "hosted")
    ]


def _history(engine: Engine, dead: str, delivered: str) -> None:
    """What a worker would have left: a dead letter after two refusals, and a delivery."""
    payload = b'{"episode": "synthetic example", "event": "reported"}'
    set_delivery(
        engine, delivered, status="delivered", delivered_at=utc_now(), target_reference="M-1042"
    )
    set_delivery(
        engine,
        dead,
        status="dead",
        attempts=2,
        payload=payload,
        payload_media_type="application/json",
        last_error="422 from Mosaic: the person reference is not known",
    )
    start = utc_now() - timedelta(minutes=30)
    with engine.begin() as connection:
        for number in (1, 2):
            connection.execute(
                insert(attempts).values(
                    delivery_id=dead,
                    number=number,
                    started_at=start + timedelta(minutes=number * 5),
                    finished_at=start + timedelta(minutes=number * 5, seconds=1),
                    outcome="failed",
                    http_status=422,
                    error="the person reference is not known",
                )
            )


def test_a_council_signs_in_filters_opens_and_replays_without_javascript(
    live: tuple[str, Engine],
) -> None:
    """Brent signs in, filters to its dead letter, reads it, replays it, and sees no Derbyshire."""
    from playwright.sync_api import sync_playwright

    base, engine = live
    data = seed(base, engine)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(java_script_enabled=False).new_page()
            _sign_in_filter_and_replay(page, base, data)
            assert _status(engine, data["dead"]) == "pending"
            _cannot_see_derbyshire(page, base, data)
            page.goto(f"{base}/ui/deliveries")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.set_viewport_size({"width": 1280, "height": 900})
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            expected = caseload(base, engine, data)
            page.goto(f"{base}/ui/episodes")
            _in_triage_order_with_conditions(page, expected)
            page.set_viewport_size({"width": 1440, "height": 900})
            page.screenshot(path=str(EPISODES_SCREENSHOT), full_page=True)
            page.get_by_role("button", name="Sign out").click()
            assert page.get_by_role(
                "heading", name="Sign in to your council's delivery log"
            ).is_visible()
        finally:
            browser.close()


def _sign_in_filter_and_replay(page: Any, base: str, data: dict[str, Any]) -> None:
    page.goto(f"{base}/ui")
    page.get_by_label("Council API key").fill("mep_wrongwrongwr_" + "x" * 43)
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role(
        "link", name="That API key is not recognised, or it has been revoked"
    ).is_visible()
    page.get_by_label("Council API key").fill(data["brent"])
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("heading", name="Deliveries").is_visible()
    listed = page.locator("tr[data-delivery-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.deliveryId)"
    )
    assert sorted(listed) == sorted(data["mine"])  # Derbyshire's deliveries are not listed
    page.get_by_label("Status").select_option("dead")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("tr[data-delivery-id]")
    assert rows.count() == 1 and rows.get_attribute("data-delivery-id") == data["dead"]
    rows.get_by_role("link").click()
    assert (
        page.locator("#payload").inner_text()
        == '{"episode": "synthetic example", "event": "reported"}'
    )
    assert page.locator("#attempts tbody tr").count() == 2
    page.get_by_role("button", name="Replay this delivery").click()
    assert page.get_by_text("Delivery queued again").is_visible()


def _cannot_see_derbyshire(page: Any, base: str, data: dict[str, Any]) -> None:
    response = page.goto(f"{base}/ui/deliveries/{data['theirs']}")
    assert (
        response.status == 404
        and page.get_by_role("heading", name="Delivery not found").is_visible()
    )
    page.goto(f"{base}/ui/episodes")
    assert page.locator("tr[data-episode-id]").count() == 2
    assert "Examplechild" not in page.content()


def _in_triage_order_with_conditions(page: Any, expected: list[str]) -> None:
    listed = page.locator("tr[data-episode-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.episodeId)"
    )
    assert listed == expected
    for heading in (
        "Still missing",
        "Found: your council's return home interview is due",
        "Found: the return home interview is another council's",
    ):
        assert page.locator("caption", has_text=heading).is_visible()
    tags = page.locator("td[data-condition] strong.govuk-tag").all_inner_texts()
    assert tags == [
        "Injured",
        "Safe and well",
        "Not safe and well",
        "In hospital",
        "In custody",
    ]
    assert page.locator("strong.govuk-tag--red", has_text="Overdue").count() == 1
    assert page.get_by_text("Owed by Derbyshire County Council (830), not your council").count()


def _status(engine: Engine, delivery_id: str) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(
                select(deliveries.c.status).where(deliveries.c.id == delivery_id)
            ).scalar_one()
        )
