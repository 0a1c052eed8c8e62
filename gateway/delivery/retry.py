"""The retry schedule: a pure function of the failure and the attempts so far.

Exponential backoff with equal jitter: attempt n waits between half and all of
`min(cap, base * 2**(n-1))`, never less than a `Retry-After` the target asked for. A high-risk
delivery's wait is capped at `high_risk_cap` (30 s) instead: at the ten-minute cap, one failure
at minute eight would put its next attempt past its 15-minute deadline, however soon the target
recovers. Hammering a target that is down is the breaker's to prevent (it holds every attempt
while open and lets probes through), not the schedule's. A delivery
gives up (dead letter) after `max_attempts` attempts since its last replay, or once it is older
than `max_age`. The schedule is persisted by the caller, so a crash loses no retry.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.errors import DeliveryError, RetryableDelivery


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and for how long a delivery is retried."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=10)
    max_attempts: int = 25
    max_age: timedelta = timedelta(hours=72)
    high_risk_cap: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class GiveUp:
    """No further attempt: dead-letter with this reason."""

    reason: str


def next_attempt(
    policy: RetryPolicy,
    error: DeliveryError,
    *,
    attempts: int,
    created_at: datetime,
    now: datetime,
    rand: Callable[[], float] = random.random,
    high_risk: bool = False,
) -> datetime | GiveUp:
    """When to try again after `error`, or why not to.

    Args:
        policy: the schedule's parameters.
        error: what the attempt that just finished raised.
        attempts: attempts made since the delivery was created or last replayed (>= 1).
        created_at: when the delivery was queued (for the age limit).
        now: the current time.
        rand: a source of uniform [0, 1) numbers (injectable for tests).
        high_risk: the delivery carries a high-risk event (its wait is capped shorter).
    """
    if not isinstance(error, RetryableDelivery):
        return GiveUp(error.reason)
    if attempts >= policy.max_attempts:
        return GiveUp(f"gave up after {attempts} attempts; last: {error.reason}")
    if now - created_at >= policy.max_age:
        return GiveUp(f"gave up after {policy.max_age} without delivery; last: {error.reason}")
    cap = min(policy.cap, policy.high_risk_cap) if high_risk else policy.cap
    ceiling = min(cap, policy.base * (1 << min(attempts - 1, 30)))
    delay = ceiling / 2 + ceiling / 2 * rand()
    if error.retry_after is not None:
        delay = max(delay, timedelta(seconds=error.retry_after))
    return now + delay
