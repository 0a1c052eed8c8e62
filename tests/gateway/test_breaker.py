"""A council's breaker on a simulated clock: down is told from flaky, probes, holds, deadlines."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from gateway.delivery.breaker import Breaker, BreakerPolicy, Outcome, failing_at_least

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy()  # the settings' defaults


def fail(breaker: Breaker, at: datetime, *, retry_after: float | None = None) -> None:
    """An attempt started and failed at `at`."""
    breaker.record(POLICY, Outcome("304", at, True, retry_after), at)


def succeed(breaker: Breaker, at: datetime) -> None:
    """An attempt started and answered at `at`."""
    breaker.record(POLICY, Outcome("304", at, False), at)


def state(breaker: Breaker, at: datetime, *, high_risk: bool = False) -> str:
    """The breaker's state at `at`."""
    return breaker.state(POLICY, at, high_risk_due=high_risk)


def test_one_failed_attempt_opens_nothing_a_failure_rate_over_the_window_does() -> None:
    """Below `min_calls` nothing opens; a rate surely over half over enough attempts does."""
    breaker = Breaker(window_start=NOW)
    for n in range(9):  # nine failures: too few to judge
        fail(breaker, NOW + timedelta(seconds=n))
        assert state(breaker, NOW + timedelta(seconds=n)) == "closed"
    fail(breaker, NOW + timedelta(seconds=9))  # ten of ten
    assert state(breaker, NOW + timedelta(seconds=9)) == "open"
    assert breaker.capacity(POLICY, 4, 0, NOW + timedelta(seconds=9), high_risk=False) == 0
    flaky = Breaker(window_start=NOW)
    for n in range(100):  # 45 % failing
        (fail if n % 20 < 9 else succeed)(flaky, NOW + timedelta(seconds=n / 2))
    assert state(flaky, NOW + timedelta(seconds=50)) == "closed"
    mostly_down = Breaker(window_start=NOW)
    for n in range(40):  # 80 % failing
        (fail if n % 5 else succeed)(mostly_down, NOW + timedelta(seconds=n))
    assert state(mostly_down, NOW + timedelta(seconds=40)) == "open"


def test_the_opening_rule_is_the_wilson_lower_bound() -> None:
    """Sure of a rate at or over `failure_rate`: 9 of 10, 15 of 20; not 8 of 10, 59 of 100."""
    assert failing_at_least(0.5, 9, 10)
    assert not failing_at_least(0.5, 8, 10)
    assert failing_at_least(0.5, 15, 20)
    assert not failing_at_least(0.5, 59, 100)
    assert failing_at_least(0.5, 61, 100)
    assert not failing_at_least(0.5, 0, 0)


def test_a_target_answering_63_percent_of_calls_is_never_treated_as_down() -> None:
    """Two hours of a flaky target (37 % temporary failures), one to four calls a second."""
    dice = random.Random(63)
    breaker = Breaker(window_start=NOW)
    at = NOW
    for _ in range(20_000):
        at += timedelta(seconds=dice.uniform(0.25, 1.0))
        (fail if dice.random() < 0.37 else succeed)(breaker, at)
        assert state(breaker, at) == "closed", f"opened at {at - NOW}"


def test_failures_age_out_of_the_window() -> None:
    """Failures two windows old count for nothing."""
    breaker = Breaker(window_start=NOW)
    for n in range(9):
        fail(breaker, NOW + timedelta(seconds=n))
    later = NOW + 2 * POLICY.window + timedelta(seconds=9)
    for n in range(3):
        succeed(breaker, later + timedelta(seconds=n))
    fail(breaker, later + timedelta(seconds=3))
    assert breaker.estimate(POLICY, later + timedelta(seconds=3)) == (4, 1)
    assert state(breaker, later + timedelta(seconds=3)) == "closed"


def opened(at: datetime = NOW) -> Breaker:
    """A breaker just opened by `min_calls` failures at `at`."""
    breaker = Breaker(window_start=at)
    for _ in range(POLICY.min_calls):
        fail(breaker, at)
    assert state(breaker, at) == "open"
    return breaker


def test_half_open_lets_several_probes_through_and_closes_when_most_succeed() -> None:
    """After `open_for`, three probes; one failure among them does not re-open it."""
    breaker = opened()
    end = NOW + POLICY.open_for
    assert state(breaker, end - timedelta(seconds=1)) == "open"
    assert state(breaker, end) == "half_open"
    assert breaker.capacity(POLICY, 4, 0, end, high_risk=False) == POLICY.probes
    assert breaker.capacity(POLICY, 4, 2, end, high_risk=False) == 1, "two probes in flight"
    fail(breaker, end)
    assert state(breaker, end) == "half_open"
    succeed(breaker, end)
    assert state(breaker, end) == "half_open"
    succeed(breaker, end)
    assert state(breaker, end) == "closed"
    assert breaker.capacity(POLICY, 4, 0, end, high_risk=False) == 4
    assert breaker.estimate(POLICY, end) == (0, 0), "the failures that opened it are forgotten"


def test_late_outcomes_of_attempts_sent_before_the_opening_are_not_probes() -> None:
    """An attempt that started before the breaker opened neither closes nor re-opens it."""
    breaker = opened()
    end = NOW + POLICY.open_for
    for _ in range(3):
        breaker.record(POLICY, Outcome("304", NOW - timedelta(seconds=1), False), end)
    assert state(breaker, end) == "half_open"
    assert breaker.probe_ok == 0


def test_a_target_that_is_down_is_probed_not_hammered() -> None:
    """A 100 % down target for an hour: a few probes per pause, the pause doubling to its cap."""
    breaker = opened()
    at, probes, pauses = NOW, 0, []
    while at < NOW + timedelta(hours=1):
        at += timedelta(seconds=1)
        free = breaker.capacity(POLICY, 4, 0, at, high_risk=False)
        for _ in range(free):
            probes += 1
            fail(breaker, at)
        if free:
            pauses.append(breaker.open_s)
    assert pauses[:4] == [20, 40, 60, 60], "doubled up to breaker_open_max_s"
    # Each pause ends in probes until two have failed: about two a minute at the cap.
    assert 60 <= probes <= 2 * 3600 / POLICY.open_max.total_seconds() + 10
    assert state(breaker, at) in ("open", "half_open")


def test_a_healthy_council_is_not_paused_by_one_answers_retry_after() -> None:
    """Closed, a Retry-After holds back only the delivery told (its schedule), not the council."""
    breaker = Breaker(window_start=NOW)
    fail(breaker, NOW, retry_after=45)
    assert state(breaker, NOW + timedelta(seconds=1)) == "closed"


def test_retry_after_of_a_probe_is_honoured_exactly_and_never_escalated() -> None:
    """Open, each Retry-After holds the council for just the time asked, from when asked."""
    breaker = opened()
    end = NOW + POLICY.open_for
    fail(breaker, end, retry_after=45)  # the first probe: told to come back in 45 s
    assert breaker.held_at == end and breaker.hold_s == 45
    assert state(breaker, end + timedelta(seconds=44.9)) == "held"
    assert state(breaker, end + timedelta(seconds=45)) == "half_open", "not a second longer"
    fail(breaker, end + timedelta(seconds=45), retry_after=1)  # re-opened, asked for 1 s
    reopened = end + timedelta(seconds=45)
    assert breaker.paused_until(POLICY, high_risk_due=False) == reopened + 2 * POLICY.open_for
    assert breaker.hold_s == 1, "the hold is what was asked, not doubled"


def test_an_open_breaker_is_not_lengthened_by_a_short_retry_after() -> None:
    """Open for `open_for`; a Retry-After of 1 s neither shortens nor doubles it."""
    breaker = opened()
    fail(breaker, NOW + timedelta(seconds=1), retry_after=1)
    assert breaker.paused_until(POLICY, high_risk_due=False) == NOW + POLICY.open_for


def test_high_risk_work_due_caps_any_pause() -> None:
    """A council with high-risk work due waits at most `high_risk_pause`, open or held."""
    breaker = opened()
    breaker.openings, breaker.open_s = 5, 3600.0  # as if re-opened many times, a long pause
    cap = NOW + POLICY.high_risk_pause
    assert state(breaker, cap) == "open"
    assert state(breaker, cap, high_risk=True) == "half_open"
    held = opened()
    held.open_s = 1.0
    fail(held, NOW + timedelta(seconds=1), retry_after=600)  # a probe told to wait 10 min
    cap = NOW + timedelta(seconds=1) + POLICY.high_risk_pause
    assert state(held, cap - timedelta(seconds=1), high_risk=True) == "held"
    assert state(held, cap, high_risk=True) != "held"
    assert state(held, cap) == "held", "without high-risk work, the target's ask stands"
