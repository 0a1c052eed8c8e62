"""317 Redbridge's pack end to end (MERLIN in, flags out), on both backends."""

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


@pytest.fixture
def gw(engine: Engine) -> Gateway:
    """A gateway on the test database with its clock at T."""
    return Gateway(engine, T)


def test_second_episode_needs_a_mash_record(gw: Gateway) -> None:
    """A second episode ever needs a MASH record."""
    first, second = series(gw, "317", T, [0 * DAY, 400 * DAY])
    assert "second_missing_episode" not in raised(gw, first)
    fires_with_message(gw, second, "second_missing_episode", "317")


def test_a_child_with_police_history_is_no_first_timer(gw: Gateway) -> None:
    """The first episode the gateway sees, with 2 previous police reports: a repeat already."""
    episode = gw.send(Report(council="317", reported=T, previous_reports=2))
    fires_with_message(gw, episode, "second_missing_episode", "317")
    (flag,) = gw.flags(episode, "second_missing_episode")
    assert flag.reason.startswith("3 missing episodes ever (police: 2 previous reports")


@pytest.mark.parametrize(("grade", "fires"), [("LOW", False), ("MEDIUM", True), ("HIGH", True)])
def test_medium_or_high_risk_goes_to_the_panel(gw: Gateway, grade: str, fires: bool) -> None:
    """Medium or high risk goes to the missing children panel; low does not."""
    episode = gw.send(Report(council="317", reported=T, risks=((grade, T),)))
    assert ("medium_or_high_risk" in raised(gw, episode)) is fires


def test_not_found_by_the_end_of_the_report_day(gw: Gateway) -> None:
    """Reported Monday 10:00 GMT: at 23:59 that day a strategy discussion is considered."""
    episode = gw.send(Report(council="317", reported=T, last_seen=T - 3 * HOUR))
    end_of_day = datetime(2025, 3, 3, 23, 59, tzinfo=UTC)
    fires_at(gw, episode, "not_returned_on_report_day", end_of_day, council="317")


def test_the_report_day_ends_at_2359_uk_summer_time(gw: Gateway) -> None:
    """Reported Tuesday 10 June 00:30 BST (Monday 23:30 UTC): the day is Tuesday's, in BST."""
    reported = datetime(2025, 6, 9, 23, 30, tzinfo=UTC)
    gw.now = reported
    episode = gw.send(Report(council="317", reported=reported))
    end_of_day = datetime(2025, 6, 10, 22, 59, tzinfo=UTC)  # 23:59 BST
    fires_at(gw, episode, "not_returned_on_report_day", end_of_day, council="317")


def test_found_the_same_day_needs_no_strategy_discussion(gw: Gateway) -> None:
    """Found at 20:00 the day of the report: no flag at 23:59."""
    report = Report(council="317", reported=T)
    episode = gw.send(report)
    found_at(gw, report, T + 10 * HOUR)
    never(gw, episode, "not_returned_on_report_day", until=T + 2 * DAY)


def test_looked_after_child_notified_then_iro_review_when_found(gw: Gateway) -> None:
    """A Redbridge looked-after child: managers and IRO told at the report; review when found."""
    report = Report(council="317", reported=T, looked_after=True)
    episode = gw.send(report)
    fires_with_message(gw, episode, "lac_missing_notification", "317")
    (flag,) = gw.flags(episode, "lac_missing_notification")
    assert "Lead for Missing Children (EIFSS)" in flag.reason
    found_at(gw, report, T + 6 * HOUR)
    fires_with_message(gw, episode, "lac_found_iro_review", "317")


def test_a_child_placed_in_redbridge_by_brent(gw: Gateway) -> None:
    """Redbridge as host, graded medium: invite Brent to the panel; Brent has the duties."""
    report = Report(
        council="317", placing="304", reported=T, looked_after=True, risks=(("MEDIUM", T),)
    )
    episode = gw.send(report)
    fires_with_message(gw, episode, "placed_by_another_council_panel", "317")
    assert raised(gw, episode, "317") == {"placed_by_another_council_panel"}
    found_at(gw, report, T + 30 * HOUR)
    assert raised(gw, episode, "317") == {"placed_by_another_council_panel"}
    assert {"lac_missing_24h_notification", "return_home_interview"} <= raised(gw, episode, "304")
