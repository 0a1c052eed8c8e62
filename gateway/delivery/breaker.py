"""A council's circuit breaker: tells a target that is down from one that is flaky.

Closed, deliveries flow up to the council's cap. The breaker opens when, over a recent window
(`window`, a sliding estimate from two buckets), at least `min_calls` attempts ended and their
failure rate is at least `failure_rate` with 95 % confidence (the lower bound of its Wilson
score interval): a single failed probe opens nothing, ten failures in ten attempts do, and a
target that answers most calls is never treated as down by a run of bad luck. Open, nothing
is sent for
`open_for`, doubled on each re-opening without a close in between up to `open_max`. Then it
is half-open: `probes` attempts go out; the breaker closes once enough of them succeed and
opens again once too many of them fail.

A `Retry-After` always holds back the delivery that was told (its retry schedule). While the
breaker is open or half-open, it also holds the whole council for exactly the time asked, from
when it was given: never lengthened to a cooldown, never doubled. A target the breaker finds
healthy is not paused by one answer's `Retry-After`: its other deliveries go on. While a
council has high-risk work due, no pause (open or held) lasts longer than `high_risk_pause`
from its start: the child's deadline wins over the breaker's comfort.

This module is pure: the state lives in the `breakers` table (`gateway/delivery/slots.py`),
so every worker process sees the same breaker (docs/decisions/0037-rate-based-breaker.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

_Z = 1.96  # 95 % two-sided: the breaker opens on failures it is this sure of


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a council's breaker opens, for how long, and how it is probed."""

    window: timedelta = timedelta(seconds=60)
    min_calls: int = 10
    failure_rate: float = 0.5
    open_for: timedelta = timedelta(seconds=10)
    open_max: timedelta = timedelta(seconds=60)
    probes: int = 3
    high_risk_pause: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt to a council ended, as the breaker counts it.

    Attributes:
        council: the target council.
        started_at: when the attempt was claimed (an attempt from before an opening is not a
            probe).
        failed: a temporary failure (timeout, transport error, 429, 5xx).
        retry_after: seconds the target asked the gateway to wait, if it did.
    """

    council: str
    started_at: datetime
    failed: bool
    retry_after: float | None = None


@dataclass(slots=True)
class Breaker:
    """One council's breaker: the window's counts, the opening, the probes and the hold."""

    window_start: datetime
    calls: int = 0
    failures: int = 0
    prev_calls: int = 0
    prev_failures: int = 0
    opened_at: datetime | None = None  # None: closed
    open_s: float = 0.0
    openings: int = 0  # openings since the breaker last closed
    probe_ok: int = 0
    probe_failed: int = 0
    held_at: datetime | None = None  # a Retry-After's start
    hold_s: float = 0.0

    # --- reading -----------------------------------------------------------------------------

    def estimate(self, policy: BreakerPolicy, now: datetime) -> tuple[float, float]:
        """(calls, failures) over the last `window`: this bucket and a share of the last one."""
        self._roll(policy, now)
        weight = max(0.0, 1 - (now - self.window_start) / policy.window)
        return (
            self.calls + self.prev_calls * weight,
            self.failures + self.prev_failures * weight,
        )

    def paused_until(self, policy: BreakerPolicy, *, high_risk_due: bool) -> datetime | None:
        """When the current pause (an opening or a hold) ends; None when there is none."""
        ends = [
            _end(self.opened_at, self.open_s, policy, high_risk_due),
            _end(self.held_at, self.hold_s, policy, high_risk_due),
        ]
        found = [end for end in ends if end is not None]
        return max(found) if found else None

    def state(self, policy: BreakerPolicy, now: datetime, *, high_risk_due: bool) -> str:
        """`closed`, `open` (nothing is sent), `half_open` (probing) or `held` (Retry-After)."""
        held = _end(self.held_at, self.hold_s, policy, high_risk_due)
        if self.opened_at is None:
            return "held" if held is not None and now < held else "closed"
        opened = _end(self.opened_at, self.open_s, policy, high_risk_due)
        if opened is not None and now < opened:
            return "open"
        return "held" if held is not None and now < held else "half_open"

    def capacity(
        self, policy: BreakerPolicy, limit: int, in_flight: int, now: datetime, *, high_risk: bool
    ) -> int:
        """How many more attempts may start now, given `in_flight` already out (all workers)."""
        state = self.state(policy, now, high_risk_due=high_risk)
        if state in ("open", "held"):
            return 0
        if state == "half_open":
            limit = min(limit, policy.probes - self.probe_ok - self.probe_failed)
        return max(0, limit - in_flight)

    # --- counting ----------------------------------------------------------------------------

    def record(self, policy: BreakerPolicy, outcome: Outcome, now: datetime) -> None:
        """Count one attempt's outcome: it may open, re-open or close the breaker, or hold it."""
        self._count(policy, outcome, now)
        if outcome.retry_after is not None and self.opened_at is not None:
            self._hold(outcome.retry_after, now)  # told when to come back while failing

    def _count(self, policy: BreakerPolicy, outcome: Outcome, now: datetime) -> None:
        if self.opened_at is not None:
            if outcome.started_at >= self.opened_at:  # earlier ones were sent before it opened
                self._probe(policy, outcome.failed, now)
            return
        self._roll(policy, now)
        self.calls += 1
        self.failures += int(outcome.failed)
        calls, failures = self.estimate(policy, now)
        if calls >= policy.min_calls and failing_at_least(policy.failure_rate, failures, calls):
            self._open(policy, now)

    def _probe(self, policy: BreakerPolicy, failed: bool, now: datetime) -> None:
        if failed:
            self.probe_failed += 1
        else:
            self.probe_ok += 1
        enough_failed = math.ceil(policy.failure_rate * policy.probes - 1e-9)
        if self.probe_failed >= max(1, enough_failed):
            self._open(policy, now)
        elif self.probe_ok > policy.probes - max(1, enough_failed):
            self._close(now)

    def _open(self, policy: BreakerPolicy, now: datetime) -> None:
        doubled = policy.open_for * (1 << min(self.openings, 16))
        self.opened_at = now
        self.open_s = min(policy.open_max, doubled).total_seconds()
        self.openings += 1
        self.probe_ok = self.probe_failed = 0

    def _close(self, now: datetime) -> None:
        self.opened_at = None
        self.open_s = 0.0
        self.openings = self.probe_ok = self.probe_failed = 0
        self.window_start = now  # the failures that opened it are history now
        self.calls = self.failures = self.prev_calls = self.prev_failures = 0

    def _hold(self, seconds: float, now: datetime) -> None:
        current = self.held_at + timedelta(seconds=self.hold_s) if self.held_at else None
        asked = now + timedelta(seconds=seconds)
        if current is None or asked >= current:  # a shorter ask leaves a longer one in force
            self.held_at, self.hold_s = now, seconds

    def _roll(self, policy: BreakerPolicy, now: datetime) -> None:
        elapsed = now - self.window_start
        if elapsed >= 2 * policy.window:
            self.window_start = now
            self.calls = self.failures = self.prev_calls = self.prev_failures = 0
        elif elapsed >= policy.window:
            self.window_start += policy.window
            self.prev_calls, self.prev_failures = self.calls, self.failures
            self.calls = self.failures = 0


def failing_at_least(rate: float, failures: float, calls: float) -> bool:
    """Whether `failures` of `calls` show a failure rate of at least `rate`, at 95 % confidence.

    The Wilson score interval's lower bound: a flaky target's run of bad luck stays below it,
    a dead one's first failures do not (docs/decisions/0037-rate-based-breaker.md).
    """
    if calls <= 0:
        return False
    share, z2 = failures / calls, _Z * _Z
    centre = share + z2 / (2 * calls)
    spread = _Z * math.sqrt(share * (1 - share) / calls + z2 / (4 * calls * calls))
    return (centre - spread) / (1 + z2 / calls) >= rate


def _end(
    start: datetime | None, seconds: float, policy: BreakerPolicy, high_risk_due: bool
) -> datetime | None:
    if start is None:
        return None
    length = timedelta(seconds=seconds)
    if high_risk_due:
        length = min(length, policy.high_risk_pause)
    return start + length
