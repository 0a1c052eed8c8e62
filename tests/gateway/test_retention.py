"""Retention: old raw messages and sent payloads are purged in audited batches, the rest kept."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from gateway import audit, retention
from gateway.api.app import build_worker
from gateway.api.deps import Services
from gateway.cli import main
from gateway.settings import Settings
from gateway.store.schema import audit_log, deliveries, messages, unroutable
from tests.conftest import POSTGRES_URL
from tests.gateway.delivery import XML, another_report, ids_of, post, set_delivery
from tests.gateway.onboarding import HARROW
from tests.messages import merlin, new_id

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
UNFINISHED = ("pending", "retrying", "in_flight", "sent", "dead")
PERSONAL = ("Testchild", "Alex Jordan", "2010-03-04", "9997654323", "HA9 0ZZ", "Example Road")


def backdate(engine: Engine, when: datetime) -> None:
    """Every message received, and every delivery created and last changed, at `when`."""
    with engine.begin() as connection:
        connection.execute(update(messages).values(received_at=when))
        connection.execute(update(deliveries).values(created_at=when, updated_at=when))


def settle(engine: Engine, delivery_id: str, status: str = "delivered") -> bytes:
    """Give a delivery a status and a synthetic payload as the worker would; the payload."""
    payload = json.dumps({"synthetic": delivery_id}).encode()
    set_delivery(
        engine, delivery_id, status=status, payload=payload, payload_media_type="application/json"
    )
    return payload


def bodies(engine: Engine) -> dict[str, bytes | None]:
    """Every message's raw body by receipt id."""
    with engine.connect() as connection:
        return {r.id: r.body for r in connection.execute(select(messages.c.id, messages.c.body))}


def payloads(engine: Engine) -> dict[str, Any]:
    """Every delivery's payload and media type by id."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(deliveries.c.id, deliveries.c.payload, deliveries.c.payload_media_type)
        )
        return {r.id: (r.payload, r.payload_media_type) for r in rows}


def purge_entries(engine: Engine) -> list[dict[str, Any]]:
    """The `purged` audit entries, parsed, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_log.c.entry)
            .where(audit_log.c.action == str(audit.Action.PURGED))
            .order_by(audit_log.c.seq)
        )
        return [json.loads(r.entry) for r in rows]


def verified(engine: Engine) -> int:
    """How many audit entries verify (the chain must verify)."""
    with engine.connect() as connection:
        report = audit.verify(connection, None)
    assert report.ok, report.problems
    return report.entries


@pytest.fixture
def two_episodes(client: TestClient, engine: Engine, met: dict[str, str]) -> list[dict[str, Any]]:
    """Two MERLIN reports (each to Brent and Derbyshire), received and delivered at T0."""
    receipts = [another_report(client, met, n) for n in range(2)]
    for receipt in receipts:
        for delivery_id in ids_of(receipt).values():
            settle(engine, delivery_id)
    backdate(engine, T0)
    return receipts


def test_old_bodies_and_delivered_payloads_are_purged_and_the_chain_verifies(
    engine: Engine, settings: Settings, two_episodes: list[dict[str, Any]]
) -> None:
    """After the period, bodies and payloads are blanked; media types stay; audit still verifies."""
    sent = {delivery_id: row[0] for delivery_id, row in payloads(engine).items()}
    done = retention.purge(engine, T0 + 91 * DAY, settings)
    assert (done.messages, done.payloads, done.batches) == (2, 4, 2)
    assert done.cutoff == T0 + DAY and not done.dry_run
    assert set(bodies(engine).values()) == {None}
    assert set(payloads(engine).values()) == {(None, "application/json")}
    assert verified(engine) > 0
    entries = purge_entries(engine)
    assert [(e["details"]["what"], e["details"]["count"]) for e in entries] == [
        ("message_bodies", 2),
        ("delivery_payloads", 4),
    ]
    assert entries[1]["details"]["cutoff"] == "2024-05-02T12:00:00Z"
    assert entries[1]["details"]["sha256"] == {
        delivery_id: hashlib.sha256(body).hexdigest() for delivery_id, body in sent.items()
    }
    with engine.connect() as connection:
        c14n = dict(connection.execute(select(messages.c.id, messages.c.c14n_sha256)).all())
    assert entries[0]["details"]["sha256"] == c14n


def test_purge_entries_hold_no_personal_data(
    engine: Engine, settings: Settings, two_episodes: list[dict[str, Any]]
) -> None:
    """The audit entries of a purge carry ids, counts, the cut-off and hashes, never content."""
    retention.purge(engine, T0 + 91 * DAY, settings)
    text = json.dumps(purge_entries(engine))
    assert not [value for value in PERSONAL if value in text]


def test_nothing_is_purged_until_the_period_has_passed(
    engine: Engine, settings: Settings, two_episodes: list[dict[str, Any]]
) -> None:
    """Exactly 90 days after receipt the content stays; a second later it goes."""
    assert settings.retention_days == 90
    kept = retention.purge(engine, T0 + 90 * DAY, settings)
    assert (kept.messages, kept.payloads, kept.batches) == (0, 0, 0)
    assert None not in bodies(engine).values()
    assert purge_entries(engine) == []
    gone = retention.purge(engine, T0 + 90 * DAY + timedelta(seconds=1), settings)
    assert (gone.messages, gone.payloads) == (2, 4)


def test_unfinished_deliveries_keep_their_payload_and_their_episode_its_messages(
    client: TestClient, engine: Engine, settings: Settings, met: dict[str, str]
) -> None:
    """Pending, retrying, in-flight, sent (ack awaited) and dead deliveries keep everything."""
    unfinished: dict[str, str] = {}
    for n, status in enumerate(UNFINISHED):
        receipt = another_report(client, met, n)
        brent, derbyshire = ids_of(receipt)["304"], ids_of(receipt)["830"]
        settle(engine, brent, status)
        settle(engine, derbyshire)
        unfinished[receipt["receipt_id"]] = brent
    done_receipt = another_report(client, met, 9)
    for delivery_id in ids_of(done_receipt).values():
        settle(engine, delivery_id, "cancelled")
    backdate(engine, T0)
    done = retention.purge(engine, T0 + 365 * DAY, settings)
    assert (done.messages, done.payloads) == (1, len(UNFINISHED) + 2)
    left = bodies(engine)
    assert left.pop(done_receipt["receipt_id"]) is None
    assert None not in left.values() and set(left) == set(unfinished)
    held = payloads(engine)
    assert all(held[delivery_id][0] is not None for delivery_id in unfinished.values())


def test_an_event_waiting_for_an_unroutable_council_keeps_its_message(
    client: TestClient, engine: Engine, settings: Settings, met: dict[str, str]
) -> None:
    """A message with an unresolved unroutable row is kept; once resolved it is purged."""
    receipt = post(client, "merlin", merlin(*HARROW, message_id=new_id(), ref="24MIS031000"), met)
    assert receipt["unroutable_councils"] and not receipt["deliveries"]
    backdate(engine, T0)
    assert retention.purge(engine, T0 + 365 * DAY, settings).messages == 0
    with engine.begin() as connection:
        connection.execute(update(unroutable).values(resolved_at=T0))
    assert retention.purge(engine, T0 + 365 * DAY, settings).messages == 1
    assert bodies(engine) == {receipt["receipt_id"]: None}


def test_a_large_purge_is_split_into_bounded_audited_batches(
    client: TestClient, engine: Engine, settings: Settings, met: dict[str, str]
) -> None:
    """With batches of 2, five bodies take 3 transactions and ten payloads 5, each audited."""
    for n in range(5):
        for delivery_id in ids_of(another_report(client, met, n)).values():
            settle(engine, delivery_id)
    backdate(engine, T0)
    small = settings.model_copy(update={"purge_batch": 2})
    done = retention.purge(engine, T0 + 91 * DAY, small)
    assert (done.messages, done.payloads, done.batches) == (5, 10, 8)
    counts = [(e["details"]["what"], e["details"]["count"]) for e in purge_entries(engine)]
    assert (
        counts
        == [("message_bodies", 2)] * 2 + [("message_bodies", 1)] + [("delivery_payloads", 2)] * 5
    )
    assert verified(engine) > 0


def test_a_dry_run_counts_and_changes_nothing(
    engine: Engine, settings: Settings, two_episodes: list[dict[str, Any]]
) -> None:
    """A dry run reports what a purge would do, touches no row and writes no audit entry."""
    before_bodies, before_payloads = bodies(engine), payloads(engine)
    with engine.connect() as connection:
        entries = audit.count(connection)
    dry = retention.purge(engine, T0 + 91 * DAY, settings, dry_run=True)
    assert (dry.messages, dry.payloads, dry.batches, dry.dry_run) == (2, 4, 0, True)
    assert (bodies(engine), payloads(engine)) == (before_bodies, before_payloads)
    with engine.connect() as connection:
        assert audit.count(connection) == entries


def test_a_second_purge_finds_nothing_more(
    engine: Engine, settings: Settings, two_episodes: list[dict[str, Any]]
) -> None:
    """Purging is idempotent: a rerun (or a second worker) blanks and audits nothing again."""
    retention.purge(engine, T0 + 91 * DAY, settings)
    again = retention.purge(engine, T0 + 92 * DAY, settings)
    assert (again.messages, again.payloads, again.batches) == (0, 0, 0)
    assert len(purge_entries(engine)) == 2


def test_resends_are_still_recognised_after_the_body_is_purged(
    client: TestClient, engine: Engine, settings: Settings, met: dict[str, str]
) -> None:
    """The kept hash still answers a resend with the original receipt, and a changed one 409."""
    message_id = new_id()
    body = merlin(message_id=message_id, ref="24MIS077001")
    receipt = post(client, "merlin", body, met)
    for delivery_id in ids_of(receipt).values():
        settle(engine, delivery_id)
    backdate(engine, T0)
    assert retention.purge(engine, T0 + 91 * DAY, settings).messages == 1
    again = client.post("/v1/inbound/merlin", content=body, headers={**XML, **met})
    assert again.status_code == 200, again.text
    assert again.json()["receipt_id"] == receipt["receipt_id"]
    changed = merlin(("Did not return by curfew", "Did not come home"), message_id=message_id)
    conflict = client.post("/v1/inbound/merlin", content=changed, headers={**XML, **met})
    assert conflict.status_code == 409, conflict.text


def test_the_delivery_log_says_a_payload_was_purged(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    operator: dict[str, str],
    two_episodes: list[dict[str, Any]],
) -> None:
    """A purged payload reads as purged, with its media type, rather than as never sent."""
    delivery_id = ids_of(two_episodes[0])["304"]
    before = client.get(f"/v1/deliveries/{delivery_id}", headers=operator).json()["payload"]
    assert before["purged"] is False and before["body"] is not None
    retention.purge(engine, T0 + 91 * DAY, settings)
    response = client.get(f"/v1/deliveries/{delivery_id}", headers=operator)
    assert response.status_code == 200, response.text
    assert response.json()["payload"] == {
        "media_type": "application/json",
        "encoding": None,
        "body": None,
        "purged": True,
    }


# --- the scheduler the worker calls ---------------------------------------------------------


def test_the_scheduler_purges_at_most_once_per_interval(
    engine: Engine, settings: Settings, two_episodes: list[dict[str, Any]]
) -> None:
    """Called every round, it runs at once, then not again until the interval has passed."""
    scheduler = retention.Scheduler(
        engine, settings.model_copy(update={"purge_interval_s": 600.0}), background=False
    )
    start = T0 + 91 * DAY
    assert scheduler(start)
    assert scheduler.last is not None and scheduler.last.payloads == 4
    assert not scheduler(start + timedelta(seconds=599))
    assert scheduler(start + timedelta(seconds=600))
    assert scheduler.last.payloads == 0


def test_the_worker_calls_the_retention_scheduler(settings: Settings, services: Services) -> None:
    """A worker built from the settings purges on schedule from its dispatcher loop."""
    worker = build_worker(settings, services.engine, services.routing)
    assert isinstance(worker.housekeeping, retention.Scheduler)
    assert worker.housekeeping.interval == timedelta(seconds=settings.purge_interval_s)
    called = threading.Event()
    worker.housekeeping = lambda now: called.set()
    worker.start()
    try:
        assert called.wait(30), "the dispatcher loop never called its housekeeping"
    finally:
        worker.stop()


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def runner(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> CliRunner:
    """A CLI runner over the test database, keeping content for one day."""
    if engine.dialect.name == "postgresql":
        schema = request.getfixturevalue("postgres_schema")
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    else:
        url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_RETENTION_DAYS", "1")
    return CliRunner()


def test_gateway_purge_dry_run_then_purge_then_audit_verify(
    runner: CliRunner, engine: Engine, two_episodes: list[dict[str, Any]]
) -> None:
    """`gateway purge --dry-run` counts, `gateway purge` purges, `gateway audit verify` passes."""
    backdate(engine, datetime.now(UTC) - 2 * DAY)
    dry = runner.invoke(main, ["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would purge 2 message body(ies) and 4 payload(s)" in dry.output
    assert None not in bodies(engine).values()
    done = runner.invoke(main, ["purge"])
    assert done.exit_code == 0, done.output
    assert "purged 2 message body(ies) and 4 payload(s)" in done.output
    assert "(1 days), in 2 audited batch(es)" in done.output
    assert set(bodies(engine).values()) == {None}
    assert {e["actor"] for e in purge_entries(engine)} == {"operator:cli"}
    checked = runner.invoke(main, ["audit", "verify"])
    assert checked.exit_code == 0, checked.output
    assert "audit chain verifies" in checked.output
