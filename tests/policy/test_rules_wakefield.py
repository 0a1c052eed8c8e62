"""384 Wakefield's pack end to end (COMPACT in, flags out), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from tests.policy.harness import (
    DAY,
    HOUR,
    Gateway,
    fires_at,
    fires_with_message,
    found_at,
    never,
    raised,
    series,
)
from tests.policy_messages import Child, Report

T = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday, GMT
SEEN = T - 2 * HOUR
MINUTE = timedelta(minutes=1)


@pytest.fixture
def gw(engine: Engine) -> Gateway:
    """A gateway on the test database with its clock at T."""
    return Gateway(engine, T)


def test_strategy_meetings_at_24_and_72_hours_from_last_seen(gw: Gateway) -> None:
    """Last seen two hours before the report: the meetings fall due 24 and 72 hours after."""
    episode = gw.send(Report(council="384", reported=T, last_seen=SEEN))
    fires_at(gw, episode, "missing_24h", SEEN + 24 * HOUR, council="384")
    fires_at(gw, episode, "missing_72h", SEEN + 72 * HOUR, council="384")
    (flag,) = gw.flags(episode, "missing_24h")
    assert flag.reason.startswith("missing 24 hours since last seen Mon 3 Mar 2025 08:00.")


def test_serious_notification_at_72_hours_names_who_is_told(gw: Gateway) -> None:
    """The serious notification falls due at 72 hours and says who must receive it."""
    episode = gw.send(Report(council="384", reported=T, last_seen=SEEN))
    fires_at(gw, episode, "serious_missing_72h", SEEN + 72 * HOUR, council="384")
    (flag,) = gw.flags(episode, "serious_missing_72h")
    assert "to the Heads of Service, the Service Director and the Director of Children's" in (
        flag.reason
    )


def test_last_seen_30_hours_before_the_report_needs_a_meeting_at_once(gw: Gateway) -> None:
    """The 24-hour point passed before the police report: the flag travels with the report."""
    seen = T - 30 * HOUR
    episode = gw.send(Report(council="384", reported=T, last_seen=seen))
    fires_with_message(gw, episode, "missing_24h", "384")
    assert gw.flags(episode, "missing_24h")[0].due_at == seen + 24 * HOUR
    assert "missing_72h" not in raised(gw, episode)


def test_found_before_24_hours_raises_no_meeting_but_the_interview(gw: Gateway) -> None:
    """Found 23 hours after last seen: no 24-hour flag ever; the return interview is due."""
    report = Report(council="384", reported=T, last_seen=SEEN)
    episode = gw.send(report)
    found_at(gw, report, SEEN + 23 * HOUR)
    fires_with_message(gw, episode, "return_home_interview", "384")
    never(gw, episode, "missing_24h", until=T + 10 * DAY)


def test_4_in_28_days_fires_on_the_fourth(gw: Gateway) -> None:
    """Three episodes raise nothing; the fourth within 28 days does, with its delivery."""
    *first, fourth = series(gw, "384", T, [0 * DAY, 7 * DAY, 14 * DAY, 27 * DAY])
    assert all("missing_4_in_28_days" not in raised(gw, e) for e in first)
    fires_with_message(gw, fourth, "missing_4_in_28_days", "384")


def test_4_in_28_days_does_not_count_away(gw: Gateway) -> None:
    """A DfE `A` (away) episode is not counted; the next missing one is."""
    child = Child()
    for offset in (0 * DAY, 7 * DAY, 14 * DAY):
        gw.send(Report(council="384", reported=T + offset, child=child, looked_after=True))
    away = gw.send(
        Report(
            council="384",
            reported=T + 20 * DAY,
            child=child,
            looked_after=True,
            whereabouts_known=True,
        )
    )
    assert "missing_4_in_28_days" not in raised(gw, away)
    fifth = gw.send(Report(council="384", reported=T + 21 * DAY, child=child, looked_after=True))
    fires_with_message(gw, fifth, "missing_4_in_28_days", "384")


def test_4_in_28_days_window_is_28_days(gw: Gateway) -> None:
    """An episode exactly 28 days earlier is outside the window."""
    *_, fourth = series(gw, "384", T, [0 * DAY, 7 * DAY, 14 * DAY, 28 * DAY])
    assert "missing_4_in_28_days" not in raised(gw, fourth)


@pytest.mark.parametrize(("last", "fires"), [(59 * DAY, False), (59 * DAY - MINUTE, True)])
def test_6_in_2_calendar_months(gw: Gateway, last: timedelta, fires: bool) -> None:
    """Two calendar months back from Monday 3 March 10:00 is Friday 3 January 10:00."""
    first = datetime(2025, 1, 3, 10, 0, tzinfo=UTC)
    *earlier, sixth = series(
        gw, "384", first, [0 * DAY, 10 * DAY, 20 * DAY, 30 * DAY, 40 * DAY, last]
    )
    assert all("missing_6_in_2_months" not in raised(gw, e) for e in earlier)
    assert ("missing_6_in_2_months" in raised(gw, sixth)) is fires


def test_high_risk_fires_when_graded_high(gw: Gateway) -> None:
    """Graded high at 2 h: the flag travels with the risk change, once."""
    report = Report(council="384", reported=T)
    episode = gw.send(report)
    gw.tick(T + 2 * HOUR)
    assert "high_risk" not in raised(gw, episode)
    high = report.with_risk("HIGH", T + 2 * HOUR)
    gw.send(high, "RISK_CHANGE", at=T + 2 * HOUR)
    fires_with_message(gw, episode, "high_risk", "384")
    assert gw.flags(episode, "high_risk")[0].due_at == T + 2 * HOUR
    gw.send(high.with_risk("HIGH", T + 3 * HOUR), "RISK_CHANGE", at=T + 3 * HOUR)
    assert len(gw.flags(episode, "high_risk")) == 1
