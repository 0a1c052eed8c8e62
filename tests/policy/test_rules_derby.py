"""830 Derbyshire and 831 Derby: the joint protocol's rules end to end, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

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
from tests.policy_messages import Report

T = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday, GMT
SEEN = T - 2 * HOUR
BOTH = pytest.mark.parametrize("council", ["830", "831"])


@pytest.fixture
def gw(engine: Engine) -> Gateway:
    """A gateway on the test database with its clock at T."""
    return Gateway(engine, T)


@BOTH
def test_three_in_30_days(gw: Gateway, council: str) -> None:
    """The third episode in 30 days needs a strategy meeting."""
    _, second, third = series(gw, council, T, [0 * DAY, 10 * DAY, 29 * DAY])
    assert "missing_3_in_30_days" not in raised(gw, second)
    fires_with_message(gw, third, "missing_3_in_30_days", council)


@BOTH
def test_3_days_from_last_seen_then_every_5_days_while_missing(gw: Gateway, council: str) -> None:
    """At 3 days, review at 8 days, none after the child is found."""
    report = Report(council=council, reported=T, last_seen=SEEN)
    episode = gw.send(report)
    rule = "missing_3_days_review_5_days"
    fires_at(gw, episode, rule, SEEN + 3 * DAY, council=council)
    fires_at(gw, episode, rule, SEEN + 8 * DAY, council=council, period=1)
    found_at(gw, report, T + 10 * DAY)
    gw.tick(T + 30 * DAY)
    assert [f.period for f in gw.flags(episode, rule)] == [0, 1]


def test_timer_after_an_outage_raises_only_the_current_review(gw: Gateway) -> None:
    """A timer down for days raises the current review only, not every missed one."""
    episode = gw.send(Report(council="830", reported=T))
    gw.tick(T + 14 * DAY)  # down since the report: periods 0, 1 and 2 have passed
    assert [f.period for f in gw.flags(episode, "missing_3_days_review_5_days")] == [2]


@BOTH
def test_second_episode_ever(gw: Gateway, council: str) -> None:
    """Any second episode, however far apart, needs a multi-agency meeting."""
    first, second = series(gw, council, T, [0 * DAY, 300 * DAY])
    assert "repeat_missing_ever" not in raised(gw, first)
    fires_with_message(gw, second, "repeat_missing_ever", council)


@BOTH
def test_no_apparent_risk_for_24_hours(gw: Gateway, council: str) -> None:
    """No apparent risk may not last over 24 h."""
    episode = gw.send(Report(council=council, reported=T, risks=(("NO APPARENT RISK", T),)))
    fires_at(gw, episode, "no_apparent_risk_24h", T + 24 * HOUR, council=council)


def test_no_apparent_risk_regraded_before_24_hours_raises_nothing(gw: Gateway) -> None:
    """Re-graded after 20 h: the 24 h clock stops."""
    report = Report(council="831", reported=T, risks=(("NO APPARENT RISK", T),))
    episode = gw.send(report)
    gw.send(report.with_risk("LOW", T + 20 * HOUR), "RISK_CHANGE", at=T + 20 * HOUR)
    never(gw, episode, "no_apparent_risk_24h", until=T + 5 * DAY)


@BOTH
def test_child_protection_manager_told_at_the_report(gw: Gateway, council: str) -> None:
    """A child on a child protection plan: the Child Protection Manager is told at once."""
    episode = gw.send(Report(council=council, reported=T, cp_plan=True))
    fires_with_message(gw, episode, "cp_missing_manager_notification", council)


@BOTH
def test_looked_after_child_iro_told_when_missing_and_when_back(gw: Gateway, council: str) -> None:
    """The IRO is notified when a child in care goes missing and when the child returns."""
    report = Report(council=council, reported=T, looked_after=True)
    episode = gw.send(report)
    fires_with_message(gw, episode, "lac_missing_iro_notification", council)
    assert "lac_returned_iro_notification" not in raised(gw, episode)
    found_at(gw, report, T + 5 * HOUR)
    fires_with_message(gw, episode, "lac_returned_iro_notification", council)
    fires_with_message(gw, episode, "return_home_interview", council)


@BOTH
def test_social_worker_told_after_6_hours(gw: Gateway, council: str) -> None:
    """A looked-after child missing 6 hours since last seen: the social worker is told."""
    episode = gw.send(Report(council=council, reported=T, last_seen=SEEN, looked_after=True))
    fires_at(gw, episode, "lac_away_6h_or_overnight", SEEN + 6 * HOUR, council=council)


def test_social_worker_told_at_midnight_if_sooner(gw: Gateway) -> None:
    """Last seen 22:00: overnight (midnight) comes before 6 hours."""
    seen = datetime(2025, 3, 3, 22, 0, tzinfo=UTC)
    gw.now = seen + HOUR
    episode = gw.send(
        Report(council="830", reported=seen + HOUR, last_seen=seen, looked_after=True)
    )
    midnight = datetime(2025, 3, 4, 0, 0, tzinfo=UTC)
    fires_at(gw, episode, "lac_away_6h_or_overnight", midnight, council="830")
    assert "missing overnight" in gw.flags(episode, "lac_away_6h_or_overnight")[0].reason


def test_derby_as_host_gets_none_of_derbyshires_duties(gw: Gateway) -> None:
    """A Derbyshire child placed in Derby: Derbyshire (responsible) has the duties, not Derby."""
    report = Report(council="831", placing="830", reported=T, looked_after=True, last_seen=SEEN)
    episode = gw.send(report)
    fires_with_message(gw, episode, "lac_missing_iro_notification", "830")
    gw.tick(SEEN + 4 * DAY)
    found_at(gw, report, SEEN + 4 * DAY + HOUR)
    assert raised(gw, episode, "830") == {
        "lac_missing_iro_notification",
        "lac_away_6h_or_overnight",
        "missing_3_days_review_5_days",
        "lac_returned_iro_notification",
        "return_home_interview",
    }
    assert raised(gw, episode, "831") == set()
