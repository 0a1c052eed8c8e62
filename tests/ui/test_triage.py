"""The open-episodes page's order and words, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.canonical import Condition, EpisodeStatus, RiskLevel
from gateway.ui import triage
from gateway.ui.triage import Candidate, Section

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def candidate(
    name: str,
    *,
    status: str = "open",
    risk: str = "medium",
    seen_hours_ago: float = 1,
    found_hours_ago: float | None = None,
    owner: str | None = "304",
) -> Candidate:
    """An episode as ordering sees it."""
    found = NOW - timedelta(hours=found_hours_ago) if found_hours_ago is not None else None
    return Candidate(
        episode_id=name,
        status=status,
        risk_level=risk,
        last_seen_at=NOW - timedelta(hours=seen_hours_ago),
        found_at=found,
        interview_owner=owner,
    )


def test_every_condition_has_a_tag_and_only_safe_and_well_is_green() -> None:
    """No condition is missing, and green never stands for anything but safe and well."""
    assert set(triage.CONDITION_TAGS) == {str(c) for c in Condition}
    green = [code for code, (_, colour) in triage.CONDITION_TAGS.items() if colour == "green"]
    assert green == ["safe_and_well"]
    assert triage.CONDITION_TAGS["not_known"][1] == "grey"
    assert triage.NOT_RECORDED[1] == "grey"
    for code in ("injured", "hospital", "in_custody", "deceased", "concerns"):
        assert triage.CONDITION_TAGS[code][1] in {"red", "orange"}, code


def test_every_status_says_what_it_is() -> None:
    """Each episode status has its own words; found is not green, closed and cancelled say so."""
    assert set(triage.STATUS_TAGS) == {str(s) for s in EpisodeStatus}
    assert triage.STATUS_TAGS["closed"][0] == "Closed"
    assert triage.STATUS_TAGS["cancelled"][0] == "Cancelled"
    assert all(colour != "green" for _, colour in triage.STATUS_TAGS.values())
    assert set(triage.RISK_TAGS) == {str(r) for r in RiskLevel}


def test_missing_children_come_first_by_risk_then_time_missing() -> None:
    """High, medium, then low and no apparent risk together, each longest missing first."""
    shown = triage.triage(
        [
            candidate("found", status="found", found_hours_ago=1, seen_hours_ago=5),
            candidate("low-new", risk="low", seen_hours_ago=2),
            candidate("nar-old", risk="no_apparent_risk", seen_hours_ago=9),
            candidate("medium-new", seen_hours_ago=1),
            candidate("medium-old", seen_hours_ago=30),
            candidate("high", risk="high", seen_hours_ago=1),
        ],
        "304",
        NOW,
    )
    assert [c.episode_id for c in shown] == [
        "high",
        "medium-old",
        "medium-new",
        "nar-old",
        "low-new",
        "found",
    ]


def test_the_readers_interviews_come_before_other_councils_found_children() -> None:
    """Brent's own interviews, soonest first, then the child whose interview is Derbyshire's."""
    episodes = [
        candidate("theirs", status="found", found_hours_ago=70, owner="830"),
        candidate("mine-later", status="found", found_hours_ago=2),
        candidate("mine-overdue", status="found", found_hours_ago=80),
    ]
    shown = triage.triage(episodes, "304", NOW)
    assert [c.episode_id for c in shown] == ["mine-overdue", "mine-later", "theirs"]
    assert [triage.section(c, "304") for c in shown] == [
        Section.INTERVIEW_DUE,
        Section.INTERVIEW_DUE,
        Section.OTHER_FOUND,
    ]
    assert triage.section(episodes[0], "830") is Section.INTERVIEW_DUE
    assert triage.section(episodes[0], None) is Section.INTERVIEW_DUE  # an operator
    unknown = candidate("nobody", status="found", found_hours_ago=1, owner=None)
    assert triage.section(unknown, None) is Section.OTHER_FOUND


@pytest.mark.parametrize(
    ("found_hours_ago", "owner", "reader", "shown"),
    [
        (1, "304", "304", True),  # due in 71 hours
        (72 + 24 * 7 - 1, "304", "304", True),  # overdue for almost a week
        (72 + 24 * 7 + 1, "304", "304", False),  # overdue for over a week: gone
        (1, "830", "304", False),  # Derbyshire's interview: not on the host's page
        (1, "830", None, True),  # an operator sees it
        (1, None, None, False),  # nobody known owes it
    ],
)
def test_a_closed_episode_stays_while_the_reader_owes_its_interview(
    found_hours_ago: float, owner: str | None, reader: str | None, shown: bool
) -> None:
    """Closed: shown to the interview's owner until a week after the deadline, then dropped."""
    closed = candidate("c", status="closed", found_hours_ago=found_hours_ago, owner=owner)
    assert triage.shown(closed, reader, NOW) is shown
    assert triage.shown(candidate("x", status="cancelled"), "304", NOW) is False


@pytest.mark.parametrize(
    ("current", "pages", "numbers"),
    [
        (1, 1, [1]),
        (2, 3, [1, 2, 3]),
        (1, 5, [1, 2, None, 5]),
        (3, 5, [1, 2, 3, 4, 5]),
        (5, 10, [1, None, 4, 5, 6, None, 10]),
        (10, 10, [1, None, 9, 10]),
    ],
)
def test_page_numbers_follow_the_govuk_pattern(
    current: int, pages: int, numbers: list[int | None]
) -> None:
    """First, last, and the current page with its neighbours; gaps become an ellipsis."""
    assert triage.page_numbers(current, pages) == numbers


def test_page_count_is_at_least_one() -> None:
    """An empty list is one empty page; 26 rows of 25 are two pages."""
    assert [triage.page_count(n, 25) for n in (0, 1, 25, 26)] == [1, 1, 1, 2]


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (0, "less than a minute"),
        (45, "45 minutes"),
        (61, "1 hour 1 minute"),
        (24 * 60, "1 day"),
        (3 * 24 * 60 + 4 * 60 + 59, "3 days 4 hours"),
    ],
)
def test_time_missing_in_words(minutes: int, words: str) -> None:
    """Minutes under a day, hours over it."""
    assert triage.missing_for(NOW - timedelta(minutes=minutes), NOW) == words
