"""Replay: one delivery over the API, unroutable events after onboarding, and `gateway replay`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gateway.canonical import utc_now
from gateway.cli import main
from gateway.delivery.deadlines import Deadlines
from gateway.delivery.replay import replay_unroutable
from gateway.store.locks import Level
from gateway.store.schema import deliveries, events, unroutable
from gateway.store.work import unit_of_work
from tests.conftest import KeyRing
from tests.gateway.audit import audit_entries
from tests.gateway.delivery import add_attempt, another_report, ids_of, post, row, set_delivery
from tests.gateway.onboarding import (
    harrow_report_and_found,
    onboarded_table,
)
from tests.messages import merlin, new_id

# --- POST /v1/deliveries/{id}/replay -------------------------------------------------------


@pytest.mark.parametrize("status", ["dead", "delivered"])
def test_replay_queues_a_dead_or_delivered_delivery_again(
    client: TestClient,
    engine: Engine,
    example: dict[str, str],
    operator: dict[str, str],
    status: str,
) -> None:
    """202 with the item: pending, due now, lease cleared, budget restarted, same key."""
    delivery_id = example["304"]
    before = row(engine, delivery_id)
    for number in (1, 2, 3):
        add_attempt(engine, delivery_id, number, outcome="retryable", http_status=503)
    set_delivery(
        engine,
        delivery_id,
        status=status,
        attempts=3,
        next_attempt_at=None,
        lease_until=utc_now(),
        last_error="gave up after 3 attempts" if status == "dead" else None,
    )
    started = utc_now()
    response = client.post(f"/v1/deliveries/{delivery_id}/replay", headers=operator)
    assert response.status_code == 202, response.text
    item = response.json()
    assert item["delivery_id"] == delivery_id and item["status"] == "pending"
    after = row(engine, delivery_id)
    assert after.status == "pending" and after.lease_until is None
    assert after.attempt_floor == 3 and after.attempts == 3
    assert started <= after.next_attempt_at <= utc_now()
    assert after.idempotency_key == before.idempotency_key
    assert (after.seq, after.event_id) == (before.seq, before.event_id)
    replayed = audit_entries(engine, "replayed")
    assert [e["subject"] for e in replayed] == [delivery_id]
    assert replayed[0]["details"]["previous_status"] == status
    assert replayed[0]["actor"].startswith("operator:")


@pytest.mark.parametrize("status", ["pending", "in_flight", "retrying", "sent", "cancelled"])
def test_replay_of_a_delivery_on_its_way_is_409(
    client: TestClient,
    engine: Engine,
    example: dict[str, str],
    operator: dict[str, str],
    status: str,
) -> None:
    """Only dead or delivered deliveries replay; others are 409, unchanged and unaudited."""
    delivery_id = example["304"]
    set_delivery(engine, delivery_id, status=status)
    before = row(engine, delivery_id)
    response = client.post(f"/v1/deliveries/{delivery_id}/replay", headers=operator)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "not-replayable" and status in problem["detail"]
    assert row(engine, delivery_id) == before
    assert audit_entries(engine, "replayed") == []


def test_a_council_cannot_replay_another_councils_delivery(
    client: TestClient, engine: Engine, example: dict[str, str], keyring: KeyRing
) -> None:
    """Brent replaying Derbyshire's dead delivery gets 404 and nothing changes; its own is 202."""
    for delivery_id in example.values():
        set_delivery(engine, delivery_id, status="dead", last_error="refused")
    brent = keyring.headers("council", council="304")
    theirs = client.post(f"/v1/deliveries/{example['830']}/replay", headers=brent)
    assert theirs.status_code == 404 and theirs.json()["code"] == "not-found"
    assert row(engine, example["830"]).status == "dead"
    unknown = client.post("/v1/deliveries/no-such-delivery/replay", headers=brent)
    assert unknown.status_code == 404 and unknown.json()["detail"] == theirs.json()["detail"]
    own = client.post(f"/v1/deliveries/{example['304']}/replay", headers=brent)
    assert own.status_code == 202
    assert audit_entries(engine, "replayed")[0]["actor"].startswith("council:304:")


# --- unroutable events, once their council is onboarded -----------------------------------


def test_unroutable_events_are_delivered_in_event_order_after_onboarding(
    client: TestClient,
    engine: Engine,
    met: dict[str, str],
    operator: dict[str, str],
    tmp_path: Path,
) -> None:
    """Harrow onboarded: its report and found become deliveries 1 and 2; Hillingdon waits."""
    receipts = harrow_report_and_found(client, met)
    assert [r["unroutable_councils"] for r in receipts] == [["310", "312"]] * 2
    table = onboarded_table(tmp_path, "310")
    with unit_of_work(engine, audits=True, locks=(Level.EPISODE,)) as connection:
        created = replay_unroutable(
            connection, table, actor="operator:test", now=utc_now(), deadlines=Deadlines()
        )
    assert len(created) == 2
    with engine.connect() as connection:
        made = connection.execute(
            select(deliveries, events.c.type)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.id.in_(created))
            .order_by(deliveries.c.seq)
        ).all()
    assert [(d.council, d.system, d.seq, d.type) for d in made] == [
        ("310", "mosaic", 1, "reported"),
        ("310", "mosaic", 2, "found"),
    ]
    assert {(d.status, d.priority) for d in made} == {("pending", 1)}  # medium risk
    still = client.get("/v1/unroutable", headers=operator).json()["items"]
    assert {i["council"] for i in still} == {"312"} and len(still) == 2
    listed = client.get("/v1/deliveries", params={"council": "310"}, headers=operator).json()
    assert {i["delivery_id"] for i in listed["items"]} == set(created)
    assert [e["subject"] for e in audit_entries(engine, "replayed")] == created
    assert {e["details"]["previous_status"] for e in audit_entries(engine, "replayed")} == {
        "unroutable"
    }
    assert set(created) <= {e["subject"] for e in audit_entries(engine, "routed")}


def test_unroutable_replay_is_once_only_and_by_council(
    client: TestClient, engine: Engine, met: dict[str, str], tmp_path: Path
) -> None:
    """With both onboarded, a replay for Hillingdon routes only its events, and only once."""
    harrow_report_and_found(client, met)
    table = onboarded_table(tmp_path, "310", "312")
    now, deadlines = utc_now(), Deadlines()
    with unit_of_work(engine, audits=True, locks=(Level.EPISODE,)) as connection:
        first = replay_unroutable(
            connection, table, council="312", actor="operator:test", now=now, deadlines=deadlines
        )
        again = replay_unroutable(
            connection, table, council="312", actor="operator:test", now=now, deadlines=deadlines
        )
    assert len(first) == 2 and again == []
    assert {row(engine, d).council for d in first} == {"312"}
    with engine.connect() as connection:
        waiting = connection.execute(
            select(unroutable.c.council).where(unroutable.c.resolved_at.is_(None))
        ).all()
    assert sorted(w.council for w in waiting) == ["310", "310"]


# --- gateway replay ------------------------------------------------------------------------


def test_cli_replay_requeues_dead_deliveries_and_routes_unroutable_events(
    cli: CliRunner,
    client: TestClient,
    engine: Engine,
    example: dict[str, str],
    met: dict[str, str],
) -> None:
    """By default: dead deliveries and now-routable events; a delivered one is left alone."""
    set_delivery(engine, example["304"], status="dead", attempts=25, last_error="gave up")
    set_delivery(engine, example["830"], status="delivered", attempts=1)
    harrow_report_and_found(client, met)
    result = cli.invoke(main, ["replay", "--reason", "Mosaic back after the outage"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        "re-queued 1 delivery(ies) (1 dead, 0 delivered); queued 2 unroutable event(s) "
        "for onboarded councils; skipped 0 that changed meanwhile"
    )
    assert "re-queuing" in result.stderr
    assert row(engine, example["304"]).status == "pending"
    assert row(engine, example["304"]).attempt_floor == 25
    assert row(engine, example["830"]).status == "delivered"
    replayed = audit_entries(engine, "replayed")
    assert len(replayed) == 3 and all(e["actor"].startswith("operator:cli:") for e in replayed)
    assert {e["details"]["reason"] for e in replayed} == {"Mosaic back after the outage"}


def test_cli_replay_filters_by_council_status_and_since(
    cli: CliRunner,
    client: TestClient,
    engine: Engine,
    example: dict[str, str],
    met: dict[str, str],
) -> None:
    """--council, repeated --status and --since select exactly the deliveries they name."""
    other = ids_of(post(client, "merlin", merlin(message_id=new_id(), ref="24MIS000777"), met))
    for ids in (example, other):
        set_delivery(engine, ids["304"], status="dead")
        set_delivery(engine, ids["830"], status="delivered")
    set_delivery(engine, example["830"], created_at=utc_now().replace(year=2024))
    harrow_report_and_found(client, met)
    args = ["replay", "--reason", "restored", "--council", "830", "--status", "dead"]
    args += ["--status", "delivered"]
    result = cli.invoke(main, [*args, "--since", "2025-01-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "re-queued 1 delivery(ies) (0 dead, 1 delivered)" in result.stdout
    assert "queued 0 unroutable" in result.stdout  # Harrow is not council 830
    statuses = {d: row(engine, d).status for d in (*example.values(), *other.values())}
    assert statuses == {
        example["304"]: "dead",
        example["830"]: "delivered",
        other["304"]: "dead",
        other["830"]: "pending",
    }


def test_cli_replay_works_in_batches(
    cli: CliRunner,
    client: TestClient,
    engine: Engine,
    met: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With batches of two, five dead deliveries and two unroutable events are all replayed."""
    monkeypatch.setattr("gateway.cli.replay.REPLAY_BATCH", 2)
    dead = [ids_of(another_report(client, met, n))["304"] for n in range(5)]
    for delivery_id in dead:
        set_delivery(engine, delivery_id, status="dead")
    harrow_report_and_found(client, met)
    result = cli.invoke(main, ["replay", "--reason", "batches"])
    assert result.exit_code == 0, result.output
    assert "re-queued 5 delivery(ies)" in result.stdout
    assert "queued 2 unroutable" in result.stdout
    assert {row(engine, d).status for d in dead} == {"pending"}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--council", "30"], "three-digit"),
        (["--council", "999"], "not onboarded"),
        (["--since", "last tuesday"], "ISO 8601"),
        (["--since", "2024-05-01T00:00:00"], "UTC offset"),
        (["--status", "pending"], "pending"),
        ([], "--reason"),
        (["--reason", "  "], "--reason"),
    ],
)
def test_cli_replay_bad_arguments_exit_2(
    cli: CliRunner,
    engine: Engine,
    args: list[str],
    fragment: str,
) -> None:
    """A bad council, time or status, or no reason, is bad usage: exit 2 saying what is wrong."""
    reason = [] if "--reason" in args or not args else ["--reason", "a test"]
    result = cli.invoke(main, ["replay", *reason, *args])
    assert result.exit_code == 2
    assert fragment in result.output
    assert audit_entries(engine, "replayed") == []
