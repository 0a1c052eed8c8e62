"""The per-council circuit breaker: opens at the threshold, half-opens, doubles its cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.delivery.breaker import CircuitBreakers

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_opens_after_consecutive_failures_and_half_opens_after_the_cooldown() -> None:
    """Closed below the threshold; open for the cooldown; then one probe is let through."""
    breakers = CircuitBreakers(threshold=3, cooldown=timedelta(seconds=30))
    for _ in range(2):
        breakers.failure("304", NOW)
    assert breakers.capacity("304", 4, NOW) == 4
    breakers.failure("304", NOW)
    assert breakers.capacity("304", 4, NOW + timedelta(seconds=29)) == 0
    assert breakers.capacity("304", 4, NOW + timedelta(seconds=30)) == 1
    assert breakers.capacity("830", 4, NOW) == 4, "other councils are not affected"


def test_a_failed_probe_reopens_for_twice_as_long_and_success_closes() -> None:
    """Each re-opening doubles the cooldown; an answer closes the breaker."""
    breakers = CircuitBreakers(threshold=1, cooldown=timedelta(seconds=10))
    breakers.failure("304", NOW)
    probe_at = NOW + timedelta(seconds=10)
    breakers.failure("304", probe_at)
    assert breakers.is_open("304", probe_at + timedelta(seconds=19))
    assert not breakers.is_open("304", probe_at + timedelta(seconds=20))
    breakers.success("304")
    assert breakers.capacity("304", 4, probe_at) == 4


def test_failures_while_open_do_not_extend_it() -> None:
    """Late failures of deliveries sent before the breaker opened leave its cooldown alone."""
    breakers = CircuitBreakers(threshold=1, cooldown=timedelta(seconds=10))
    breakers.failure("304", NOW)
    breakers.failure("304", NOW + timedelta(seconds=5))
    assert not breakers.is_open("304", NOW + timedelta(seconds=10))


def test_retry_after_holds_the_council_back_for_as_long_as_asked() -> None:
    """A 429's Retry-After pauses the council even below the failure threshold."""
    breakers = CircuitBreakers(threshold=5, cooldown=timedelta(seconds=10))
    breakers.failure("304", NOW, retry_after=45)
    assert breakers.is_open("304", NOW + timedelta(seconds=44))
    assert not breakers.is_open("304", NOW + timedelta(seconds=45))
