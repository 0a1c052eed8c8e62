"""304 Brent's pack end to end (MERLIN in, flags out), on both backends."""

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
)
from tests.policy_messages import Child, Report

T = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday, GMT
SEEN = T - 2 * HOUR


@pytest.fixture
def gw(engine: Engine) -> Gateway:
    """A gateway on the test database with its clock at T."""
    return Gateway(engine, T)


def test_looked_after_child_missing_24h(gw: Gateway) -> None:
    """Brent's own child in care: notification and strategy meeting 24 h after last seen."""
    episode = gw.send(Report(council="304", reported=T, last_seen=SEEN, looked_after=True))
    fires_at(gw, episode, "lac_missing_24h_notification", SEEN + 24 * HOUR, council="304")
    (notice,) = gw.flags(episode, "lac_missing_24h_notification")
    assert "forwards it to their line manager, the Service Manager" in notice.reason
    (meeting,) = gw.flags(episode, "lac_missing_24h_strategy")
    assert meeting.code == "strategy_meeting_required"
    assert "due by Fri 7 Mar 2025 08:00" in meeting.reason  # 3 working days after the 24 hours
    assert "Independent Reviewing Officer (IRO)" in meeting.reason


def test_24h_rules_are_for_looked_after_children_only(gw: Gateway) -> None:
    """A child missing from home raises no missing-from-care flag."""
    episode = gw.send(Report(council="304", reported=T))
    never(gw, episode, "lac_missing_24h_notification", until=T + 8 * DAY)


def test_strategy_meeting_due_in_3_working_days_across_a_bank_holiday_weekend(
    gw: Gateway,
) -> None:
    """The meeting's due date skips Good Friday, the weekend and Easter Monday."""
    # Last seen Thursday 17 April 2025, 18:00 BST: 24 hours later is Good Friday; Easter
    # Monday is a bank holiday too, so 3 working days run Tue 22, Wed 23, Thu 24 April.
    seen = datetime(2025, 4, 17, 17, 0, tzinfo=UTC)
    gw.now = seen + HOUR
    episode = gw.send(
        Report(council="304", reported=seen + HOUR, last_seen=seen, looked_after=True)
    )
    fires_at(gw, episode, "lac_missing_24h_strategy", seen + 24 * HOUR, council="304")
    (flag,) = gw.flags(episode, "lac_missing_24h_strategy")
    assert "due by Thu 24 Apr 2025 18:00" in flag.reason


def test_a_schedule_of_strategy_meetings_while_missing(gw: Gateway) -> None:
    """7, 21 and 35 days, then 2 and 3 months after last seen; none once found."""
    report = Report(council="304", reported=T, last_seen=SEEN)
    episode = gw.send(report)
    rule = "continued_absence_strategy"
    fires_at(gw, episode, rule, SEEN + 7 * DAY, council="304")
    fires_at(gw, episode, rule, SEEN + 21 * DAY, council="304", period=1)
    fires_at(gw, episode, rule, datetime(2025, 4, 7, 7, 0, tzinfo=UTC), council="304", period=2)
    found_at(gw, report, datetime(2025, 4, 20, 12, 0, tzinfo=UTC))
    gw.tick(T + 200 * DAY)
    assert [f.period for f in gw.flags(episode, rule)] == [0, 1, 2]


def test_three_months_and_twelve_weeks(gw: Gateway) -> None:
    """A looked-after child: 12 weeks (case review) then 3 months (director's review)."""
    episode = gw.send(Report(council="304", reported=T, last_seen=SEEN, looked_after=True))
    twelve_weeks = datetime(2025, 5, 26, 7, 0, tzinfo=UTC)  # 08:00 BST
    fires_at(gw, episode, "lac_missing_12_weeks", twelve_weeks, council="304")
    three_months = datetime(2025, 6, 3, 7, 0, tzinfo=UTC)
    fires_at(gw, episode, "missing_3_months", three_months, council="304")
    schedule = [f.period for f in gw.flags(episode, "continued_absence_strategy")]
    assert schedule[-1] == 4  # the 3-month meeting of the schedule too


def test_child_protection_plan_meeting_and_20_calendar_days(gw: Gateway) -> None:
    """On a plan: managers and a meeting within 72 h of going missing; conference at 20 days."""
    episode = gw.send(Report(council="304", reported=T, last_seen=SEEN, cp_plan=True))
    fires_with_message(gw, episode, "cp_missing_72h", "304")
    (meeting,) = gw.flags(episode, "cp_missing_72h")
    assert "due by Thu 6 Mar 2025 08:00" in meeting.reason
    fires_at(gw, episode, "cp_not_found_20_days", SEEN + 20 * DAY, council="304")
    gw.tick(T + 40 * DAY)
    assert "cp_not_found_20_working_days" not in raised(gw, episode)


@pytest.mark.parametrize(("dob", "fires"), [("2014-03-04", True), ("2014-03-03", False)])
def test_under_11_missing_from_home(gw: Gateway, dob: str, fires: bool) -> None:
    """A child under 11 missing from home needs an assessment from the report."""
    # On 3 March 2025 a child born 4 March 2014 is 10; one born 3 March 2014 is 11.
    episode = gw.send(Report(council="304", reported=T, child=Child(dob=dob)))
    assert ("under_11_missing_from_home" in raised(gw, episode)) is fires
    if fires:
        fires_with_message(gw, episode, "under_11_missing_from_home", "304")


def test_third_missing_from_home_episode(gw: Gateway) -> None:
    """Missing-from-care episodes are not counted towards the third from home."""
    child = Child()
    gw.send(Report(council="304", reported=T, child=child))
    gw.send(Report(council="304", reported=T + 100 * DAY, child=child, looked_after=True))
    second = gw.send(Report(council="304", reported=T + 200 * DAY, child=child))
    assert "third_missing_from_home" not in raised(gw, second)
    third = gw.send(Report(council="304", reported=T + 300 * DAY, child=child))
    fires_with_message(gw, third, "third_missing_from_home", "304")


def test_police_history_makes_a_third_episode(gw: Gateway) -> None:
    """The first episode the gateway sees, with 2 previous reports in 12 months: the third."""
    episode = gw.send(Report(council="304", reported=T, previous_reports=2))
    fires_with_message(gw, episode, "third_missing_from_home", "304")
    one = gw.send(Report(council="304", reported=T, previous_reports=1))
    assert "third_missing_from_home" not in raised(gw, one)


def test_domestic_abuse_needs_an_assessment(gw: Gateway) -> None:
    """Domestic abuse at home (MERLIN risk factor DOM_ABUSE): a Child and Family Assessment."""
    episode = gw.send(Report(council="304", reported=T, vulnerabilities=("domestic_abuse",)))
    fires_with_message(gw, episode, "domestic_abuse_at_home", "304")
    other = gw.send(Report(council="304", reported=T, vulnerabilities=("cse",)))
    assert "domestic_abuse_at_home" not in raised(gw, other)


def test_brent_as_host_of_a_derbyshire_child(gw: Gateway) -> None:
    """Brent hosts: it liaises with Derbyshire; the looked-after duties are Derbyshire's."""
    report = Report(council="304", placing="830", reported=T, last_seen=SEEN, looked_after=True)
    episode = gw.send(report)
    fires_with_message(gw, episode, "placed_by_another_council", "304")
    gw.tick(SEEN + 8 * DAY)
    found_at(gw, report, SEEN + 8 * DAY + HOUR)
    assert raised(gw, episode, "304") == {"placed_by_another_council"}
    assert {
        "lac_missing_iro_notification",
        "lac_away_6h_or_overnight",
        "missing_3_days_review_5_days",
        "lac_returned_iro_notification",
        "return_home_interview",
    } == raised(gw, episode, "830")


def test_brent_responsible_for_its_own_child_gets_no_host_rule(gw: Gateway) -> None:
    """Brent's own child in care, placed in Brent: its duties, not the host's liaison."""
    episode = gw.send(Report(council="304", reported=T, looked_after=True))
    assert "placed_by_another_council" not in raised(gw, episode)
    gw.tick(T + 2 * DAY)
    assert "lac_missing_24h_notification" in raised(gw, episode, "304")
