"""The operators' overview in a real headless Chromium (Debian's), with JavaScript switched off.

A day of deliveries is seeded (latencies, a backlog, a dead letter, a high-risk delivery
overdue, a council onboarded since its events arrived, one still unknown); an operator signs
in, reads the overview, checks a replay, is asked for a reason, replays. The run saves the
screenshot used in the docs: docs/screenshots/ui-overview.png.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from gateway import keys
from gateway.api.app import build_services, create_app
from gateway.canonical import utc_now
from gateway.settings import Settings
from gateway.store import migrate
from gateway.store.engine import make_engine
from gateway.store.schema import audit_log, deliveries, unroutable
from gateway.store.work import unit_of_work
from gateway.ui.pages import LONDON
from tests.conftest import AUDIT_KEY
from tests.gateway.delivery import ids_of, post, set_delivery
from tests.gateway.onboarding import HARROW, onboarded_routing
from tests.messages import compact, merlin, new_id
from tests.ui.browser import CHROMIUM_FLAGS, chromium_path

pytestmark = pytest.mark.slow

SCREENSHOT = Path(__file__).parents[2] / "docs" / "screenshots" / "ui-overview.png"
# Barnet (302): the child of HARROW's messages placed there instead, never onboarded.
BARNET = (("<PlacementBorough>304</PlacementBorough>", "<PlacementBorough>302</PlacementBorough>"),)


def _settings(tmp_path: Path, routing_file: Path | None = None) -> Settings:
    extra: dict[str, Any] = {"routing_file": routing_file} if routing_file else {}
    return Settings(
        data_dir=tmp_path / "data",
        worker=False,
        audit_key=AUDIT_KEY.decode(),
        _env_file=None,
        **extra,
    )


def _seed_messages(engine: Engine, tmp_path: Path) -> dict[str, Any]:
    """Messages posted through the app on the demo routing (Harrow and Barnet unroutable)."""
    services = build_services(_settings(tmp_path), engine=engine, upgrade=False)
    with unit_of_work(engine, audits=True) as connection:
        met = {"Authorization": f"Bearer {keys.create(connection, keys.Role.POLICE, force='01')}"}
        derbys = {
            "Authorization": f"Bearer {keys.create(connection, keys.Role.POLICE, force='30')}"
        }
    seeded: dict[str, Any] = {"reports": []}
    with TestClient(create_app(services)) as client:
        for n in range(30):
            ref = f"24MIS6{n:05d}"
            seeded["reports"].append(
                ids_of(post(client, "merlin", merlin(message_id=new_id(), ref=ref), met))
            )
        seeded["high"] = ids_of(post(client, "compact", compact(), derbys))
        post(client, "merlin", merlin(*HARROW, message_id=new_id(), ref="24MIS031000"), met)
        barnet = merlin(*BARNET, message_id=new_id(), ref="24MIS032000")
        post(client, "merlin", barnet, met)
    return seeded


def _seed_history(engine: Engine, seeded: dict[str, Any]) -> None:
    """A day of confirmations, a slow spell in the night, a dead letter, one high risk overdue."""
    now = utc_now()
    rng = random.Random(21)
    for index, ids in enumerate(seeded["reports"]):
        for delivery_id in ids.values():
            created = now - timedelta(minutes=rng.uniform(20, 23.5 * 60))
            night = 2 <= created.astimezone(LONDON).hour < 4  # a slow spell, 02:00 to 04:00
            latency = rng.uniform(60, 900) if night else rng.lognormvariate(0.3, 0.9)
            set_delivery(
                engine,
                delivery_id,
                status="delivered",
                created_at=created,
                delivered_at=created + timedelta(seconds=latency),
                updated_at=created + timedelta(seconds=latency),
            )
        if index == 3:
            set_delivery(
                engine,
                ids["304"],
                status="dead",
                created_at=now - timedelta(hours=9),
                delivered_at=None,
                updated_at=now - timedelta(hours=2),
                last_error="422 from Mosaic: VALIDATION",
            )
    late = now - timedelta(minutes=40)
    set_delivery(
        engine,
        seeded["high"]["830"],
        status="retrying",
        created_at=late,
        deadline_at=late + timedelta(minutes=15),
        attempts=6,
    )
    with engine.begin() as connection:
        connection.execute(update(unroutable).values(created_at=now - timedelta(minutes=50)))


@pytest.fixture
def live_overview(tmp_path: Path) -> Iterator[tuple[str, Engine, dict[str, Any]]]:
    """The gateway with Harrow (310) onboarded since its events arrived; Barnet still unknown."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrate.upgrade(engine)
    seeded = _seed_messages(engine, tmp_path)
    _seed_history(engine, seeded)
    settings = _settings(tmp_path, onboarded_routing(tmp_path, "310"))
    app = create_app(build_services(settings, engine=engine, upgrade=False))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    with unit_of_work(engine, audits=True) as connection:
        seeded["operator"] = keys.create(connection, keys.Role.OPERATOR)
        seeded["brent"] = keys.create(connection, keys.Role.COUNCIL, council="304")
    yield f"http://127.0.0.1:{port}", engine, seeded
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _sign_in(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/ui/sign-in")
    page.get_by_label("Council API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_an_operator_reads_the_overview_and_replays_with_a_reason(
    live_overview: tuple[str, Engine, dict[str, Any]],
) -> None:
    """Urgent councils first, the unroutable list, two charts; a replay asks why and audits it."""
    from playwright.sync_api import sync_playwright

    base, engine, seeded = live_overview
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context(java_script_enabled=False).new_page()
            _sign_in(page, base, seeded["operator"])
            page.get_by_role("link", name="Overview").click()
            _reads_the_overview(page)
            page.set_viewport_size({"width": 1280, "height": 900})
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            _replays_brent_with_a_reason(page, engine, seeded)
            council = browser.new_context(java_script_enabled=False).new_page()
            _sign_in(council, base, seeded["brent"])
            response = council.goto(f"{base}/ui/overview")
            assert response is not None and response.status == 403
            assert council.get_by_role("heading", name="This page is for operators").is_visible()
        finally:
            browser.close()


def _reads_the_overview(page: Any) -> None:
    assert page.get_by_role("heading", name="Overview", exact=True).is_visible()
    rows = page.locator("tr[data-council]")
    first = rows.first
    assert first.get_attribute("data-council") == "830"  # its high-risk delivery is overdue
    assert "1 high" in first.inner_text()
    assert page.locator("#total-high-overdue").inner_text().strip() == "1"
    assert page.locator("#total-dead").inner_text().strip() == "1"
    brent = page.locator('tr[data-council="304"]')
    assert brent.locator("[data-dead]").get_attribute("data-dead") == "1"
    harrow = page.locator('tr[data-council="310"]')
    assert harrow.locator("[data-waiting]").get_attribute("data-waiting") == "1"
    waiting = page.locator("tr[data-waiting-key]")
    assert sorted(waiting.evaluate_all("rows => rows.map(r => r.dataset.waitingKey)")) == [
        "302",
        "310",
        "312",
    ]
    assert page.get_by_text("Onboard the council, then replay").count() == 2
    for chart in ("latency-chart", "queue-chart"):
        paths = page.locator(f"#{chart} path[data-series]")
        assert paths.count() >= 1
        assert all(
            len(d or "") > 100
            for d in paths.evaluate_all("ps => ps.map(p => p.getAttribute('d'))")[:1]
        )
    assert page.get_by_role("img", name="Delivery latency, last 24 hours").is_visible()


def _replays_brent_with_a_reason(page: Any, engine: Engine, seeded: dict[str, Any]) -> None:
    dead = seeded["reports"][3]["304"]
    page.locator('tr[data-council="304"]').get_by_role("link", name="Replay").click()
    assert page.get_by_role("heading", name="Check the replay").is_visible()
    assert page.get_by_text("Nothing has changed yet").is_visible()
    assert _status(engine, dead) == "dead"
    page.get_by_role("button", name="Replay 1 delivery").click()
    assert page.get_by_role(
        "link", name="Enter why you are replaying these deliveries"
    ).is_visible()
    assert _status(engine, dead) == "dead"
    page.get_by_label("Why are you replaying these?").fill("Mosaic fixed its validation, INC-77")
    page.get_by_role("button", name="Replay 1 delivery").click()
    assert page.get_by_text("Replay done: 1 queued").is_visible()
    assert _status(engine, dead) == "pending"
    with engine.connect() as connection:
        entry = connection.execute(
            select(audit_log.c.entry).where(audit_log.c.action == "replayed")
        ).scalar_one()
    details = json.loads(entry)
    assert details["details"]["reason"] == "Mosaic fixed its validation, INC-77"
    assert details["details"]["via"] == "ui" and details["actor"].startswith("operator:")


def _status(engine: Engine, delivery_id: str) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(
                select(deliveries.c.status).where(deliveries.c.id == delivery_id)
            ).scalar_one()
        )


def test_the_overview_pages_are_served(live_overview: tuple[str, Engine, dict[str, Any]]) -> None:
    """Without a session the overview sends to sign-in, as every /ui page does."""
    base, _, _ = live_overview
    response = httpx.get(f"{base}/ui/overview", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/sign-in"
