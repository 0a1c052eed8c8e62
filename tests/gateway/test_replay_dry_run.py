"""Replay's dry run and reasons: `gateway replay --dry-run`, `--reason`, and the API's reason."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gateway.cli import main
from gateway.store.schema import audit_log, unroutable
from tests.gateway.audit import audit_entries
from tests.gateway.delivery import row, set_delivery
from tests.gateway.onboarding import harrow_report_and_found


def _snapshot(engine: Engine) -> tuple[Any, ...]:
    """What a dry run must leave as it was: the audit head and the unroutable rows."""
    with engine.connect() as connection:
        head = connection.execute(select(audit_log.c.seq).order_by(audit_log.c.seq.desc())).first()
        waiting = connection.execute(select(unroutable).order_by(unroutable.c.id)).all()
    return head, waiting


def test_a_dry_run_prints_what_would_be_queued_by_council_and_changes_nothing(
    cli: CliRunner,
    client: TestClient,
    engine: Engine,
    example: dict[str, str],
    met: dict[str, str],
) -> None:
    """Counts, then each council's dead deliveries and now-routable events; Hillingdon waits."""
    set_delivery(engine, example["304"], status="dead", last_error="refused")
    set_delivery(engine, example["830"], status="delivered")
    receipts = harrow_report_and_found(client, met)
    before = _snapshot(engine)
    result = cli.invoke(main, ["replay", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == (
        "would re-queue 1 delivery(ies) (1 dead, 0 delivered) and queue 2 unroutable event(s) "
        "for onboarded councils"
    )
    assert "council 304 (London Borough of Brent):" in lines
    assert f"  dead delivery {example['304']}" in lines
    assert "council 310 (London Borough of Harrow):" in lines
    harrow_events = [line for line in lines if line.startswith("  unroutable event ")]
    assert len(harrow_events) == 2
    assert any(line.startswith("still waiting, not onboarded: council 312") for line in lines)
    assert lines[-1] == "dry run: nothing was changed"
    assert _snapshot(engine) == before
    assert row(engine, example["304"]).status == "dead"
    assert all(r["unroutable_councils"] == ["310", "312"] for r in receipts)


def test_a_dry_run_honours_the_council_and_statuses(
    cli: CliRunner,
    engine: Engine,
    example: dict[str, str],
) -> None:
    """--council 830 --status delivered lists only Derbyshire's delivered delivery."""
    set_delivery(engine, example["304"], status="dead")
    set_delivery(engine, example["830"], status="delivered")
    args = ["replay", "--dry-run", "--council", "830", "--status", "delivered"]
    result = cli.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "(0 dead, 1 delivered)" in result.stdout
    assert f"  delivered delivery {example['830']}" in result.stdout
    assert example["304"] not in result.stdout


def test_the_reason_is_in_every_replays_audit_entry_unroutable_ones_too(
    cli: CliRunner,
    client: TestClient,
    engine: Engine,
    example: dict[str, str],
    met: dict[str, str],
) -> None:
    """A dead delivery and two Harrow events replayed: three entries with the reason and user."""
    set_delivery(engine, example["304"], status="dead")
    harrow_report_and_found(client, met)
    result = cli.invoke(main, ["replay", "--reason", "Harrow onboarded, ticket 42"])
    assert result.exit_code == 0, result.output
    replayed = audit_entries(engine, "replayed")
    assert len(replayed) == 3
    assert {e["details"]["reason"] for e in replayed} == {"Harrow onboarded, ticket 42"}
    assert {e["details"]["previous_status"] for e in replayed} == {"dead", "unroutable"}
    assert all(e["actor"].startswith("operator:cli:") for e in replayed)


def test_the_apis_replay_records_the_reason_it_is_given(
    client: TestClient,
    engine: Engine,
    example: dict[str, str],
    operator: dict[str, str],
) -> None:
    """A JSON body's reason is audited; a blank or over-long reason is a 422, nothing replayed."""
    delivery_id = example["304"]
    set_delivery(engine, delivery_id, status="dead")
    url = f"/v1/deliveries/{delivery_id}/replay"
    for bad in ("", "x" * 501):
        refused = client.post(url, json={"reason": bad}, headers=operator)
        assert refused.status_code == 422, refused.text
        assert [e["path"] for e in refused.json()["errors"]] == ["/body/reason"]
    assert row(engine, delivery_id).status == "dead"
    done = client.post(url, json={"reason": "FWi fixed its certificate"}, headers=operator)
    assert done.status_code == 202, done.text
    (entry,) = audit_entries(engine, "replayed")
    assert entry["details"]["reason"] == "FWi fixed its certificate"
    assert entry["details"]["via"] == "api"


def test_a_preview_shows_what_its_first_step_would_make_replayable_and_keeps_nothing(
    engine: Engine,
    example: dict[str, str],
) -> None:
    """A first step that dead-letters a delivery shows in the plan; afterwards nothing changed."""
    from sqlalchemy import Connection, update

    from gateway import routing
    from gateway.delivery import bulk_replay
    from gateway.settings import DEMO_ROUTING
    from gateway.store.schema import deliveries

    def dead_letter(connection: Connection) -> None:
        connection.execute(
            update(deliveries).where(deliveries.c.id == example["304"]).values(status="dead")
        )

    table = routing.load(DEMO_ROUTING, environ={})
    shown = bulk_replay.preview(engine, table, bulk_replay.Scope(), before=dead_letter)
    assert shown.deliveries == {"304": [(example["304"], "dead")]}
    assert row(engine, example["304"]).status == "pending"
    assert bulk_replay.preview(engine, table, bulk_replay.Scope()).total == 0
