"""A flag raised by the timer reaches the council's case system as an alert, in its format."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.deps import Services
from gateway.policy.timer import PolicyTimer
from gateway.store.schema import deliveries, episodes, events
from tests.gateway.delivery import Clock, drain, make_worker, sims  # noqa: F401
from tests.policy.harness import Gateway
from tests.policy_messages import Report


def test_the_worker_runs_the_timer_and_delivers_the_alert(
    services: Services,
    sims: TestClient,  # noqa: F811
) -> None:
    """Wakefield (Mosaic): 24 h after the report, an UPDATED event with the alert is recorded."""
    clock = Clock()
    gw = Gateway(services.engine, clock.now)
    episode = gw.send(Report(council="384", reported=clock.now))
    worker = make_worker(services, sims, clock)
    worker.policy_timer = PolicyTimer(services.engine, services.routing, clock=clock)
    worker.run_once()  # the report
    clock.advance(hours=24)
    worker.run_once()  # the timer raises the flag; the next round delivers it
    worker.run_once()
    with services.engine.connect() as connection:
        sent = connection.execute(
            select(deliveries.c.status, deliveries.c.payload, deliveries.c.idempotency_key)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.episode_id == episode, events.c.type == "updated")
        ).one()
    assert sent.status == "delivered"
    body = json.loads(sent.payload)
    assert body["eventType"] == "UPDATED"
    assert [a["code"] for a in body["alerts"]] == ["STRATEGY_MEETING_REQUIRED"]
    assert body["alerts"][0]["reason"].startswith("missing 24 hours")
    records = sims.get("/sim/mosaic/_control/records").json()["384"]
    mine = [r for r in records if r["idempotency_key"] == sent.idempotency_key]
    assert [(r["event_type"], r["times_recorded"]) for r in mine] == [("UPDATED", 1)]


def test_a_found_event_carries_the_return_interview_deadline(
    services: Services,
    sims: TestClient,  # noqa: F811
) -> None:
    """Found: the episode and the case system's payload both say found + 72 hours."""
    clock = Clock()
    gw = Gateway(services.engine, clock.now)
    report = Report(council="384", reported=clock.now)
    episode = gw.send(report)
    found = (clock.now + timedelta(hours=5)).replace(second=0, microsecond=0)  # COMPACT: minutes
    gw.send(dataclasses.replace(report, located=found), "LOCATED", at=found)
    worker = make_worker(services, sims, clock)
    drain(worker, clock, services.engine)
    due = (found + timedelta(hours=72)).isoformat().replace("+00:00", "Z")
    with services.engine.connect() as connection:
        state = connection.execute(
            select(episodes.c.state).where(episodes.c.id == episode)
        ).scalar_one()
        payload = connection.execute(
            select(deliveries.c.payload)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.episode_id == episode, events.c.type == "found")
        ).scalar_one()
    assert state["return_interview_due_by"] == due
    assert json.loads(payload)["episode"]["returnInterviewDueBy"] == due
