"""871 Slough's pack end to end: CSE screening overnight (from last seen) or 3 in 90 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from tests.policy.harness import DAY, Gateway, fires_at, fires_with_message, found_at, never, series
from tests.policy_messages import Report

T = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def gw(engine: Engine) -> Gateway:
    """A gateway on the test database with its clock at T."""
    return Gateway(engine, T)


def test_last_seen_at_22_reported_next_morning_was_missing_overnight(gw: Gateway) -> None:
    """Last seen 22:00, reported 07:05, found 09:00: CSE screening, raised with the report."""
    seen = datetime(2025, 1, 13, 22, 0, tzinfo=UTC)
    reported = datetime(2025, 1, 14, 7, 5, tzinfo=UTC)
    gw.now = reported
    report = Report(council="871", reported=reported, last_seen=seen)
    episode = gw.send(report)
    fires_with_message(gw, episode, "missing_overnight", "871")
    (flag,) = gw.flags(episode, "missing_overnight")
    assert flag.due_at == datetime(2025, 1, 14, 0, 0, tzinfo=UTC)
    assert flag.reason.startswith(
        "missing overnight (00:00-06:00 UK time) since last seen Mon 13 Jan 2025 22:00."
    )
    found_at(gw, report, datetime(2025, 1, 14, 9, 0, tzinfo=UTC))
    assert len(gw.flags(episode, "missing_overnight")) == 1


def test_overnight_falls_due_at_midnight_uk_time(gw: Gateway) -> None:
    """Last seen at 20:00 BST: the flag falls due at midnight BST (23:00 UTC)."""
    evening = datetime(2025, 6, 10, 19, 0, tzinfo=UTC)  # 20:00 BST
    gw.now = evening
    episode = gw.send(Report(council="871", reported=evening))
    midnight_bst = datetime(2025, 6, 10, 23, 0, tzinfo=UTC)
    fires_at(gw, episode, "missing_overnight", midnight_bst, council="871")


def test_found_before_midnight_is_not_overnight(gw: Gateway) -> None:
    """Found at 23:59: never missing overnight."""
    evening = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
    gw.now = evening
    report = Report(council="871", reported=evening)
    episode = gw.send(report)
    found_at(gw, report, evening + timedelta(hours=4, minutes=59))
    never(gw, episode, "missing_overnight", until=evening + 3 * DAY)


def test_3_in_90_days_counts_absences_too(gw: Gateway) -> None:
    """The third episode in 90 days needs CSE screening, an away episode counted."""
    *_, third = series(gw, "871", T, [0 * DAY, 45 * DAY, 89 * DAY], looked_after=True)
    fires_with_message(gw, third, "missing_3_in_90_days", "871")
