"""`rules.evaluate` on its own: clocks from last seen, schedules, repeats, counts and reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.canonical import CouncilRole, RiskLevel
from gateway.policy import calendar, packs
from gateway.policy.facts import Facts, PastEpisode
from gateway.policy.rules import evaluate

RESPONSIBLE, HOME = CouncilRole.RESPONSIBLE, CouncilRole.HOME
SECOND, HOUR, DAY = timedelta(seconds=1), timedelta(hours=1), timedelta(days=1)
# Thursday before Easter 2025: Good Friday and Easter Monday are bank holidays.
REPORTED = datetime(2025, 4, 17, 17, 0, tzinfo=UTC)


def facts(**changes: Any) -> Facts:
    """An open episode of a looked-after 9-year-old last seen when reported, graded low."""
    base = Facts(
        reported_at=REPORTED,
        last_seen_at=REPORTED,
        ended_at=None,
        cancelled=False,
        looked_after=True,
        child_protection_plan=True,
        date_of_birth=date(2016, 1, 1),
        risk_history=[(RiskLevel.LOW, REPORTED)],
        history=[PastEpisode(REPORTED, away=False, from_home=False)],
    )
    return replace(base, **changes)


def due(pack: str, which: Facts, now: datetime, role: CouncilRole = RESPONSIBLE) -> dict[str, Any]:
    """Rule id -> Due, for what `pack` raises at `now`."""
    return {d.rule: d for d in evaluate(packs.load(pack), which, now, role).due}


def test_a_fresh_report_gives_only_the_next_moment() -> None:
    """Nothing timed is due yet but the report's own notices; the timer is set to 24 hours."""
    evaluation = evaluate(packs.load("brent"), facts(), REPORTED, RESPONSIBLE)
    assert [d.rule for d in evaluation.due] == ["cp_missing_72h"]
    assert evaluation.next_at == REPORTED + 24 * HOUR


def test_reasons_name_the_last_seen_clock_and_working_day_deadline() -> None:
    """Once due, the reason carries the UK last-seen time and the working-day due date."""
    now = REPORTED + 8 * DAY
    reasons = {rule: d.reason for rule, d in due("brent", facts(), now).items()}
    assert reasons["lac_missing_24h_strategy"].startswith(
        "missing 24 hours since last seen Thu 17 Apr 2025 18:00; due by Thu 24 Apr 2025 18:00."
    )
    assert reasons["continued_absence_strategy"].startswith(
        "missing 7 days since last seen Thu 17 Apr 2025 18:00 (1 of 5)."
    )


def test_durations_run_from_last_seen_not_from_the_report() -> None:
    """Wakefield: last seen 30 hours before the report, the 24-hour meeting is due at once."""
    seen = REPORTED - 30 * HOUR
    which = facts(last_seen_at=seen, looked_after=False)
    raised = due("wakefield", which, REPORTED, HOME)
    assert raised["missing_24h"].due_at == seen + 24 * HOUR
    assert raised["missing_24h"].reason.startswith(
        "missing 24 hours since last seen Wed 16 Apr 2025 12:00."
    )
    assert "missing_72h" not in raised


def test_overnight_counts_from_last_seen() -> None:
    """Slough: last seen 22:00, reported 07:05, found 09:00 — missing overnight."""
    seen = datetime(2025, 1, 13, 22, 0, tzinfo=UTC)  # GMT
    reported = datetime(2025, 1, 14, 7, 5, tzinfo=UTC)
    found = datetime(2025, 1, 14, 9, 0, tzinfo=UTC)
    which = facts(
        reported_at=reported, last_seen_at=seen, found_at=found, ended_at=found, looked_after=False
    )
    raised = due("slough", which, found, HOME)
    assert raised["missing_overnight"].due_at == datetime(2025, 1, 14, 0, 0, tzinfo=UTC)
    from_the_report = replace(which, last_seen_at=reported)
    assert "missing_overnight" not in due("slough", from_the_report, found, HOME)


def test_a_repeating_rule_names_its_review_and_keeps_the_uk_time() -> None:
    """Derbyshire's 3-day rule, 13 days on: review 2, at 18:00 BST like the first."""
    from_home = facts(looked_after=False, child_protection_plan=False)
    evaluation = evaluate(packs.load("derbyshire"), from_home, REPORTED + 13 * DAY + SECOND, HOME)
    (review,) = [d for d in evaluation.due if d.rule == "missing_3_days_review_5_days"]
    assert review.period == 2
    assert review.due_at == REPORTED + 13 * DAY
    assert review.reason.startswith(
        "missing 3 days since last seen Thu 17 Apr 2025 18:00; review 2 (every 5 days while"
    )
    assert evaluation.next_at == REPORTED + 18 * DAY


def test_repeats_across_the_clock_change_keep_the_uk_time_of_day() -> None:
    """Last seen Mon 24 March 10:00 GMT: the review 5 days after day 3 is at 10:00 BST."""
    seen = datetime(2025, 3, 24, 10, 0, tzinfo=UTC)
    which = facts(reported_at=seen, last_seen_at=seen, looked_after=False)
    first = seen + 3 * DAY  # Thursday 27 March, still GMT
    review = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)  # Tuesday 1 April 10:00 BST
    assert due("derby", which, first, HOME)["missing_3_days_review_5_days"].due_at == first
    assert "missing_3_days_review_5_days" in due("derby", which, review - SECOND, HOME)
    assert due("derby", which, review - SECOND, HOME)["missing_3_days_review_5_days"].period == 0
    assert due("derby", which, review, HOME)["missing_3_days_review_5_days"].period == 1


@pytest.mark.parametrize(
    ("period", "moment"),
    [
        (0, datetime(2025, 3, 10, 8, 0, tzinfo=UTC)),  # 7 days
        (1, datetime(2025, 3, 24, 8, 0, tzinfo=UTC)),  # 21 days
        (2, datetime(2025, 4, 7, 7, 0, tzinfo=UTC)),  # 35 days, 08:00 BST
        (3, datetime(2025, 5, 3, 7, 0, tzinfo=UTC)),  # 2 months
        (4, datetime(2025, 6, 3, 7, 0, tzinfo=UTC)),  # 3 months
    ],
)
def test_brents_schedule_of_strategy_meetings(period: int, moment: datetime) -> None:
    """7, 21 and 35 days, then 2 and 3 months: each period at its moment, not before."""
    seen = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    which = facts(reported_at=seen, last_seen_at=seen, looked_after=False)
    before = due("brent", which, moment - SECOND, HOME).get("continued_absence_strategy")
    assert before is None or before.period == period - 1
    at = due("brent", which, moment, HOME)["continued_absence_strategy"]
    assert (at.period, at.due_at) == (period, moment)
    assert f"({period + 1} of 5)" in at.reason


def test_brents_schedule_stops_when_the_child_is_found() -> None:
    """Found after 30 days: the 35-day meeting never falls due, and the timer stops."""
    seen = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    found = seen + 30 * DAY
    which = facts(reported_at=seen, last_seen_at=seen, looked_after=False)
    which = replace(which, found_at=found, ended_at=found)
    evaluation = evaluate(packs.load("brent"), which, seen + 200 * DAY, HOME)
    (meeting,) = [d for d in evaluation.due if d.rule == "continued_absence_strategy"]
    assert meeting.period == 1
    assert evaluation.next_at is None


def test_calendar_days_and_working_days_across_easter() -> None:
    """From Thu 17 April 2025: 20 calendar days (Brent) and 20 working days (Derby) differ."""
    cp_child = facts(looked_after=False)
    brent = due("brent", cp_child, REPORTED + 40 * DAY, HOME)["cp_not_found_20_days"]
    assert brent.due_at == datetime(2025, 5, 7, 17, 0, tzinfo=UTC)  # Wed 7 May 18:00 BST
    derby = due("derby", cp_child, REPORTED + 40 * DAY, HOME)["cp_not_found_20_working_days"]
    # Good Friday, Easter Monday and the early May bank holiday are skipped: Tue 20 May.
    assert derby.due_at == datetime(2025, 5, 20, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(("previous", "fires"), [(None, False), (0, False), (1, True), (5, True)])
def test_previous_police_reports_count_towards_ever(previous: int | None, fires: bool) -> None:
    """Redbridge's second episode ever: the police's 12-month count makes this one a repeat."""
    which = facts(previous_reports_12m=previous, looked_after=False)
    raised = due("redbridge", which, REPORTED, HOME)
    assert ("second_missing_episode" in raised) is fires
    if fires:
        assert raised["second_missing_episode"].reason.startswith(
            f"{1 + previous} missing episodes ever (police: {previous} previous reports"
        )


def test_previous_police_reports_do_not_count_towards_short_windows() -> None:
    """Derby's 3 in 30 days: 12 months of police history says nothing about the last 30 days."""
    which = facts(previous_reports_12m=9, looked_after=False)
    raised = due("derby", which, REPORTED, HOME)
    assert "missing_3_in_30_days" not in raised
    assert "repeat_missing_ever" in raised


def test_the_gateways_own_count_wins_when_it_is_higher() -> None:
    """At least 1 + the police's count: a higher count of the gateway's own stands."""
    history = [PastEpisode(REPORTED - d * DAY, away=False, from_home=True) for d in (0, 10, 20)]
    which = facts(previous_reports_12m=0, looked_after=False, history=history)
    raised = due("brent", which, REPORTED, HOME)
    assert raised["third_missing_from_home"].reason.startswith("3 missing-from-home episodes ever")


def test_describe_is_memoised_on_the_instant_not_the_wall_time() -> None:
    """Both 01:30s of New York's autumn fold compare equal, but are an hour apart in the UK."""
    new_york = ZoneInfo("America/New_York")
    first = datetime(2025, 11, 2, 1, 30, tzinfo=new_york)
    second = first.replace(fold=1)
    assert first == second
    assert calendar.describe(first) == "Sun 2 Nov 2025 05:30"
    assert calendar.describe(second) == "Sun 2 Nov 2025 06:30"


def test_working_days_from_one_date_keep_each_start_time() -> None:
    """The memoised date walk is shared; the UK time of day is each start's own."""
    morning = calendar.add_working_days(REPORTED - timedelta(hours=8), 3)
    evening = calendar.add_working_days(REPORTED, 3)
    assert morning == datetime(2025, 4, 24, 9, 0, tzinfo=UTC)
    assert evening == datetime(2025, 4, 24, 17, 0, tzinfo=UTC)
