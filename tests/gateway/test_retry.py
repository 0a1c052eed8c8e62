"""The retry schedule is a pure function: backoff with jitter, Retry-After, and giving up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.delivery.retry import GiveUp, RetryPolicy, next_attempt
from gateway.errors import PermanentDelivery, RetryableDelivery

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    base=timedelta(seconds=2),
    cap=timedelta(minutes=10),
    max_attempts=10,
    max_age=timedelta(hours=72),
)
TEMPORARY = RetryableDelivery("mosaic: temporary failure (503)", http_status=503)


@pytest.mark.parametrize(
    ("attempts", "low", "high"), [(1, 1, 2), (2, 2, 4), (5, 16, 32), (9, 256, 512)]
)
def test_the_wait_doubles_with_equal_jitter_up_to_the_cap(
    attempts: int, low: int, high: int
) -> None:
    """Attempt n waits between half and all of min(cap, base * 2**(n-1))."""
    shortest = next_attempt(
        POLICY, TEMPORARY, attempts=attempts, created_at=NOW, now=NOW, rand=lambda: 0.0
    )
    longest = next_attempt(
        POLICY, TEMPORARY, attempts=attempts, created_at=NOW, now=NOW, rand=lambda: 0.999999
    )
    assert shortest == NOW + timedelta(seconds=low)
    assert isinstance(longest, datetime)
    assert NOW + timedelta(seconds=high - 0.01) < longest <= NOW + timedelta(seconds=high)


def test_the_wait_never_exceeds_the_cap() -> None:
    """However many attempts, the wait stays under the cap."""
    policy = RetryPolicy(cap=timedelta(minutes=10), max_attempts=100)
    late = next_attempt(policy, TEMPORARY, attempts=60, created_at=NOW, now=NOW, rand=lambda: 0.99)
    assert isinstance(late, datetime) and late <= NOW + timedelta(minutes=10)


def test_retry_after_is_a_floor() -> None:
    """A target's Retry-After is honoured even when the backoff would be shorter."""
    told = RetryableDelivery("rate limited (429)", http_status=429, retry_after=90)
    assert next_attempt(POLICY, told, attempts=1, created_at=NOW, now=NOW) >= NOW + timedelta(
        seconds=90
    )


def test_permanent_failures_give_up_at_once_with_their_reason() -> None:
    """A permanent failure is never retried."""
    result = next_attempt(
        POLICY, PermanentDelivery("VALIDATION"), attempts=1, created_at=NOW, now=NOW
    )
    assert result == GiveUp("VALIDATION")


def test_giving_up_after_max_attempts_names_the_last_error() -> None:
    """The attempt budget is counted since the last replay; its end dead-letters."""
    result = next_attempt(POLICY, TEMPORARY, attempts=10, created_at=NOW, now=NOW)
    assert isinstance(result, GiveUp)
    assert result.reason == "gave up after 10 attempts; last: mosaic: temporary failure (503)"
    assert isinstance(
        next_attempt(POLICY, TEMPORARY, attempts=9, created_at=NOW, now=NOW), datetime
    )


def test_giving_up_after_max_age() -> None:
    """A delivery older than the age limit dead-letters whatever its attempts."""
    result = next_attempt(
        POLICY, TEMPORARY, attempts=2, created_at=NOW - timedelta(hours=72), now=NOW
    )
    assert isinstance(result, GiveUp) and "without delivery" in result.reason


def test_a_high_risk_delivery_waits_at_most_its_own_cap() -> None:
    """Late in its schedule, a high-risk delivery waits at most 30 s; any other, up to 10 min."""
    for attempts in (5, 6, 9):
        urgent = next_attempt(POLICY, TEMPORARY, attempts=attempts, created_at=NOW, now=NOW,
                              rand=lambda: 0.999999, high_risk=True)  # fmt: skip
        other = next_attempt(POLICY, TEMPORARY, attempts=attempts, created_at=NOW, now=NOW,
                             rand=lambda: 0.999999)  # fmt: skip
        assert isinstance(urgent, datetime) and isinstance(other, datetime)
        assert NOW + timedelta(seconds=15) < urgent <= NOW + timedelta(seconds=30)
        assert other > NOW + timedelta(seconds=30)
    early = next_attempt(POLICY, TEMPORARY, attempts=1, created_at=NOW, now=NOW, rand=lambda: 0.0,
                         high_risk=True)  # fmt: skip
    assert early == NOW + timedelta(seconds=1)  # below the cap, the schedule is the same


def test_a_high_risk_delivery_still_honours_retry_after() -> None:
    """The target's Retry-After is a floor for high-risk work too: asked, not overridden."""
    told = RetryableDelivery("rate limited (429)", http_status=429, retry_after=90)
    when = next_attempt(POLICY, told, attempts=9, created_at=NOW, now=NOW, high_risk=True)
    assert isinstance(when, datetime) and when >= NOW + timedelta(seconds=90)


def test_a_high_risk_delivery_gives_up_as_any_other() -> None:
    """The attempt budget and the age limit are the same: the cap changes only the wait."""
    result = next_attempt(POLICY, TEMPORARY, attempts=10, created_at=NOW, now=NOW, high_risk=True)
    assert isinstance(result, GiveUp)
