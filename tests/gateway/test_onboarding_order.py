"""Ordering after onboarding: a council's waiting unroutable events go out before newer ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from gateway.api.app import build_services, create_app, simulators_app
from gateway.api.deps import Services
from gateway.canonical import utc_now
from gateway.delivery.deadlines import Deadlines
from gateway.delivery.replay import count_routable, replay_unroutable
from gateway.settings import Settings
from gateway.store.locks import Level
from gateway.store.schema import deliveries, events, unroutable
from gateway.store.work import unit_of_work
from tests.adapters.simulators import LOOPBACK
from tests.gateway.audit import audit_entries
from tests.gateway.delivery import Clock, drain, make_worker, post, records
from tests.gateway.onboarding import HARROW, onboarded_table
from tests.messages import MERLIN_FOUND, merlin, new_id

REF = "24MIS031500"


def harrow_event(version: int, *changes: tuple[str, str], notification: str) -> bytes:
    """Version `version` of one Harrow child's MERLIN report (Harrow and Hillingdon told)."""
    return merlin(
        *HARROW,
        *changes,
        message_id=new_id(),
        ref=REF,
        version=version,
        notification=notification,
    )


REPORT = {"version": 1, "notification": "MISSING_REPORT"}
RISK_HIGH = ("<RiskLevel>MEDIUM<", "<RiskLevel>HIGH<")


@pytest.fixture
def onboarded(settings: Settings, engine: Engine, tmp_path: Path) -> Services:
    """Gateway services on the same database, after Harrow (310) was onboarded."""
    table = onboarded_table(tmp_path, "310")
    return build_services(settings, engine=engine, routing_table=table, upgrade=False)


@pytest.fixture
def onboarded_client(onboarded: Services) -> Iterator[TestClient]:
    """An HTTP client for the app restarted with Harrow onboarded."""
    with TestClient(create_app(onboarded)) as test_client:
        yield test_client


def harrow_deliveries(engine: Engine) -> list[Any]:
    """Harrow's deliveries in claim order (seq), with the event each carries."""
    with engine.connect() as connection:
        return connection.execute(
            select(deliveries.c.id, deliveries.c.seq, events.c.seq.label("event_seq"))
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.council == "310")
            .order_by(deliveries.c.seq)
        ).all()


def waiting(engine: Engine) -> list[str]:
    """Councils of the unresolved unroutable rows."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(unroutable.c.council).where(unroutable.c.resolved_at.is_(None))
        ).all()
    return sorted(r.council for r in rows)


def test_a_new_event_after_onboarding_goes_out_after_the_waiting_ones(
    client: TestClient,
    onboarded_client: TestClient,
    onboarded: Services,
    met: dict[str, str],
    tmp_path: Path,
) -> None:
    """Report and risk change wait; the found after onboarding queues them first, in order."""
    engine = onboarded.engine
    post(client, "merlin", harrow_event(**REPORT), met)
    post(client, "merlin", harrow_event(2, RISK_HIGH, notification="RISK_REVIEW"), met)
    assert waiting(engine) == ["310", "310", "312", "312"]
    found = harrow_event(3, RISK_HIGH, MERLIN_FOUND, notification="FOUND")
    receipt = post(onboarded_client, "merlin", found, met)
    assert [d["council"] for d in receipt["deliveries"]] == ["310"]
    assert receipt["unroutable_councils"] == ["312"]
    made = harrow_deliveries(engine)
    assert [(d.seq, d.event_seq) for d in made] == [(1, 1), (2, 2), (3, 3)]
    assert made[-1].id == receipt["deliveries"][0]["delivery_id"]
    assert waiting(engine) == ["312", "312", "312"]
    replayed = audit_entries(engine, "replayed")
    assert [e["subject"] for e in replayed] == [d.id for d in made[:2]]
    assert {e["details"]["previous_status"] for e in replayed} == {"unroutable"}
    assert {e["actor"] for e in replayed} == {e["actor"] for e in audit_entries(engine, "mapped")}
    assert {d.id for d in made} <= {e["subject"] for e in audit_entries(engine, "routed")}
    with TestClient(simulators_app(), client=LOOPBACK) as sims:
        clock = Clock()
        drain(make_worker(onboarded, sims, clock), clock, engine)
        book = records(sims, "mosaic")["310"]
    assert [r["event_type"] for r in book] == ["REPORTED", "RISK_CHANGED", "FOUND"]
    assert [r["times_recorded"] for r in book] == [1, 1, 1]
    table = onboarded_table(tmp_path, "310")
    with unit_of_work(engine, audits=True, locks=(Level.EPISODE,)) as connection:
        assert count_routable(connection, table) == 0
        again = replay_unroutable(
            connection, table, actor="operator:test", now=utc_now(), deadlines=Deadlines()
        )
    assert again == []
    assert len(harrow_deliveries(engine)) == 3


def test_a_replay_since_a_later_event_still_queues_the_earlier_one_first(
    client: TestClient, engine: Engine, met: dict[str, str], tmp_path: Path
) -> None:
    """`--since` selecting only the found still numbers the report before it, for that council."""
    post(client, "merlin", harrow_event(**REPORT), met)
    post(client, "merlin", harrow_event(2, MERLIN_FOUND, notification="FOUND"), met)
    cut = utc_now()
    with engine.begin() as connection:  # the report waited a day longer than the found
        connection.execute(
            update(unroutable)
            .where(unroutable.c.created_at < cut)
            .where(unroutable.c.event_id.in_(select(events.c.id).where(events.c.seq == 1)))
            .values(created_at=cut - timedelta(days=1))
        )
        connection.execute(
            update(unroutable)
            .where(unroutable.c.event_id.in_(select(events.c.id).where(events.c.seq == 2)))
            .values(created_at=cut)
        )
    table = onboarded_table(tmp_path, "310")
    with unit_of_work(engine, audits=True, locks=(Level.EPISODE,)) as connection:
        assert count_routable(connection, table, since=cut) == 1
        created = replay_unroutable(
            connection,
            table,
            actor="operator:test",
            now=utc_now(),
            deadlines=Deadlines(),
            since=cut,
        )
    made = harrow_deliveries(engine)
    assert [d.id for d in made] == created
    assert [(d.seq, d.event_seq) for d in made] == [(1, 1), (2, 2)]
    assert waiting(engine) == ["312", "312"]
