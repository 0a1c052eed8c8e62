"""Rules every council has, and how the timer raises flags; per-council tests are beside this.

Each test sends synthetic police messages at set times and runs the policy timer just before
and exactly at the threshold: a flag fires once, at its moment and not a moment before, and a
restart (new ingestor and timer over the same database) in the middle changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from gateway.episodes import roles_in_state
from gateway.policy import timer as policy_timer
from gateway.store.schema import deliveries, events
from tests.gateway.onboarding import onboarded_table
from tests.policy.harness import (
    DAY,
    HOUR,
    Gateway,
    fires_at,
    fires_with_message,
    found_at,
    raised,
)
from tests.policy_messages import Report

T = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday, GMT
ALL = ["304", "317", "830", "831", "384", "871"]


@pytest.fixture
def gw(engine: Engine) -> Gateway:
    """A gateway on the test database with its clock at T."""
    return Gateway(engine, T)


@pytest.mark.parametrize("council", ["317", "830", "831", "384", "871"])
def test_child_protection_plan_not_found_in_20_working_days(gw: Gateway, council: str) -> None:
    """Every pack but Brent's: 20 working days over Christmas and New Year, from last seen."""
    # Last seen 15 December 2025: Christmas Day, Boxing Day and New Year's Day are bank
    # holidays, so 20 working days run to Thursday 15 January 2026.
    seen = datetime(2025, 12, 15, 10, 0, tzinfo=UTC)
    gw.now = seen + 3 * HOUR
    episode = gw.send(Report(council=council, reported=gw.now, last_seen=seen, cp_plan=True))
    due = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    fires_at(gw, episode, "cp_not_found_20_working_days", due, council=council)


@pytest.mark.parametrize("council", ALL)
def test_every_council_owes_the_return_interview_72_hours_after_found(
    gw: Gateway, council: str
) -> None:
    """Found: the return home interview is due 72 hours later, flagged with the found event."""
    report = Report(council=council, reported=T)
    episode = gw.send(report)
    assert "return_home_interview" not in raised(gw, episode)
    found = T + 5 * HOUR
    found_at(gw, report, found)
    fires_with_message(gw, episode, "return_home_interview", council)
    (flag,) = gw.flags(episode, "return_home_interview")
    assert flag.due_at == found
    assert "found Mon 3 Mar 2025 15:00; due by Thu 6 Mar 2025 15:00." in flag.reason


def test_the_return_interview_belongs_to_the_responsible_council_not_the_host(
    gw: Gateway,
) -> None:
    """A Redbridge child placed in Brent, found: Redbridge owes the interview, not Brent."""
    report = Report(council="304", placing="317", reported=T, looked_after=True)
    episode = gw.send(report)
    found_at(gw, report, T + 2 * HOUR)
    assert "return_home_interview" in raised(gw, episode, "317")
    assert "return_home_interview" not in raised(gw, episode, "304")


def test_a_timer_flag_reaches_its_council_as_an_updated_event(gw: Gateway) -> None:
    """A timer's flag is an `updated` event with no police message, delivered to its council."""
    episode = gw.send(Report(council="384", reported=T))
    gw.tick(T + 24 * HOUR)
    with gw.engine.connect() as connection:
        last = connection.execute(
            select(events.c.type, events.c.message_row_id, events.c.id)
            .where(events.c.episode_id == episode)
            .order_by(events.c.seq.desc())
            .limit(1)
        ).one()
        carried = connection.execute(
            select(deliveries.c.council, deliveries.c.flags).where(deliveries.c.event_id == last.id)
        ).all()
    assert last.type == "updated"
    assert last.message_row_id is None
    assert [(c, [f["rule"] for f in flags]) for c, flags in carried] == [("384", ["missing_24h"])]


def test_two_timers_at_once_raise_a_flag_once(gw: Gateway) -> None:
    """Two timers (two workers) over one database raise a flag once."""
    episode = gw.send(Report(council="384", reported=T))
    other = Gateway(gw.engine, T + 24 * HOUR)
    gw.tick(T + 24 * HOUR)
    other.tick(T + 24 * HOUR)
    assert len(gw.flags(episode, "missing_24h")) == 1


def test_the_workers_timer_takes_one_batch_a_round(gw: Gateway) -> None:
    """A backlog of due episodes is worked through a batch per dispatcher round, not at once."""
    episodes = [gw.send(Report(council="384", reported=T)) for _ in range(3)]
    gw.timer.run()  # arm, and nothing due yet
    gw.now = T + 24 * HOUR
    with_batches = gw.timer
    raised_now, done = policy_timer.run_due(
        gw.engine, gw.routing, with_batches._deliver, now=gw.now, actor="t", batch=2, max_batches=1
    )
    assert (raised_now, done) == (2, False)
    assert sum(bool(gw.flags(e)) for e in episodes) == 2
    assert with_batches.maybe_run() == 1  # the next round takes the rest
    assert all(gw.flags(e, "missing_24h") for e in episodes)


def test_a_state_without_roles_is_read_as_council_roles_gives_them() -> None:
    """An episode stored before roles were kept: home, or host and responsible, as today."""
    told = roles_in_state
    assert told({"home_council": "304", "looked_after": False}) == [("304", "home")]
    assert told({"home_council": "304", "looked_after": True, "responsible_council": "830"}) == [
        ("304", "host"),
        ("830", "responsible"),
    ]
    assert told({"home_council": "304", "looked_after": True, "responsible_council": "304"}) == [
        ("304", "responsible")
    ]
    assert told({"home_council": "304", "looked_after": True}) == [("304", "host")]


def test_councils_sharing_a_pack_in_different_roles_are_evaluated_apart(
    engine: Engine, tmp_path: Path
) -> None:
    """Harrow places a child in Hillingdon, both on `default`: only Harrow owes the interview."""
    gw = Gateway(engine, T, onboarded_table(tmp_path, "310", "312"))
    report = Report(council="312", placing="310", reported=T, looked_after=True, cp_plan=True)
    episode = gw.send(report)
    found_at(gw, report, T + 30 * DAY)
    assert raised(gw, episode, "310") == {"return_home_interview", "cp_not_found_20_working_days"}
    assert raised(gw, episode, "312") == set()
