"""`rules.evaluate` on its own, and the memoised calendar: reasons exact, caches keyed right."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.canonical import RiskLevel
from gateway.policy import calendar, packs
from gateway.policy.rules import Facts, PastEpisode, evaluate

# Thursday before Easter 2025: Good Friday and Easter Monday are bank holidays.
REPORTED = datetime(2025, 4, 17, 17, 0, tzinfo=UTC)


def facts(**changes: Any) -> Facts:
    """An open episode of a looked-after 9-year-old, graded no apparent risk when reported."""
    base = Facts(
        reported_at=REPORTED,
        ended_at=None,
        cancelled=False,
        looked_after=True,
        child_protection_plan=True,
        date_of_birth=date(2016, 1, 1),
        risk_history=[(RiskLevel.NO_APPARENT_RISK, REPORTED)],
        history=[PastEpisode(REPORTED, away=False, from_home=False)],
    )
    return replace(base, **changes)


def test_a_fresh_report_gives_only_the_next_moment() -> None:
    """Nothing timed is due yet: no flag, and the timer is set to the first threshold."""
    evaluation = evaluate(packs.load("brent"), facts(), REPORTED)
    assert evaluation.due == []
    assert evaluation.next_at == REPORTED + timedelta(hours=24)


def test_reasons_are_built_when_due_and_read_as_before() -> None:
    """Once due, each reason carries the UK report time and the working-day due date."""
    now = REPORTED + timedelta(days=40)
    due = {d.rule: d.reason for d in evaluate(packs.load("brent"), facts(), now).due}
    assert due == {
        "cp_not_found_20_working_days": (
            "missing 20 working days (open since Thu 17 Apr 2025 18:00)"
        ),
        "lac_missing_24h_notification": "missing 24 hours (open since Thu 17 Apr 2025 18:00)",
        "lac_missing_24h_strategy": (
            "missing 24 hours (open since Thu 17 Apr 2025 18:00); due by Thu 24 Apr 2025 18:00"
        ),
        "lac_missing_7_days_strategy": "missing 7 days (open since Thu 17 Apr 2025 18:00)",
    }


def test_a_repeating_rule_names_its_review() -> None:
    """Derbyshire's 3-day rule, 13 days on: review 2 of every 5 days."""
    from_home = facts(looked_after=False, child_protection_plan=False, risk_history=[])
    evaluation = evaluate(packs.load("derbyshire"), from_home, REPORTED + timedelta(days=13))
    (due,) = evaluation.due
    assert (due.period, due.reason) == (
        2,
        "missing 3 days (open since Thu 17 Apr 2025 18:00); review 2 (every 5 days)",
    )
    assert evaluation.next_at == REPORTED + timedelta(days=18)


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
