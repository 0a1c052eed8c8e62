"""A council onboarded (or a pack changed) later: open episodes are evaluated again, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from gateway.store.schema import audit_log, deliveries
from tests.gateway.onboarding import onboarded_table
from tests.policy.harness import Gateway
from tests.policy_messages import Report

T = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def config_entries(engine: Engine) -> int:
    """How many policy configurations the audit log has recorded."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(audit_log.c.action == "config_changed")
            ).scalar_one()
        )


def test_onboarding_a_council_evaluates_its_open_episodes(engine: Engine, tmp_path: Path) -> None:
    """Harrow (310) on the default pack: its child protection flag is raised after onboarding."""
    gw = Gateway(engine, T)
    episode = gw.send(Report(council="310", reported=T, cp_plan=True))
    gw.tick(T + 30 * timedelta(days=1))
    assert gw.flags(episode) == []  # not onboarded: no pack
    assert config_entries(engine) == 1

    onboarded = Gateway(engine, T + 31 * timedelta(days=1), onboarded_table(tmp_path, "310"))
    onboarded.tick(onboarded.now)
    (flag,) = onboarded.flags(episode)
    assert (flag.council, flag.rule) == ("310", "cp_not_found_20_working_days")
    assert config_entries(engine) == 2
    with engine.connect() as connection:
        to_harrow = connection.execute(
            select(deliveries.c.seq, deliveries.c.flags)
            .where(deliveries.c.episode_id == episode, deliveries.c.council == "310")
            .order_by(deliveries.c.seq)
        ).all()
    # The report waiting on the unroutable list goes first, then the alert.
    assert [(d.seq, [f["rule"] for f in d.flags]) for d in to_harrow] == [
        (1, []),
        (2, ["cp_not_found_20_working_days"]),
    ]

    again = Gateway(engine, T + 32 * timedelta(days=1), onboarded_table(tmp_path, "310"))
    again.tick(again.now)
    assert config_entries(engine) == 2  # same configuration: nothing re-read
    assert len(again.flags(episode)) == 1
