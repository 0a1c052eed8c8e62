"""A circuit breaker per target council, so a target that is down is not hammered.

Closed: deliveries flow. After `threshold` consecutive temporary failures the breaker opens
for `cooldown` (at least as long as a `Retry-After` the target gave), doubling on each
re-opening up to `max_cooldown`. Then it is half-open: one delivery probes the target; success
closes it, failure opens it again. State is per process: each worker backs off on its own,
and the persisted retry schedule still bounds what every worker sends.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(slots=True)
class _State:
    failures: int = 0
    opened: int = 0  # consecutive openings, for the doubling cooldown
    open_until: datetime | None = None


class CircuitBreakers:
    """Breakers keyed by council, safe to share between threads."""

    def __init__(
        self,
        threshold: int = 5,
        cooldown: timedelta = timedelta(seconds=30),
        max_cooldown: timedelta = timedelta(minutes=10),
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def capacity(self, key: str, limit: int, now: datetime) -> int:
        """How many deliveries may be in flight to `key`: `limit`, 1 when half-open, 0 open."""
        with self._lock:
            state = self._states.get(key)
            if state is None or state.open_until is None:
                return limit
            return 0 if now < state.open_until else 1

    def is_open(self, key: str, now: datetime) -> bool:
        """Whether the breaker stops deliveries to `key` right now."""
        return self.capacity(key, 1, now) == 0

    def success(self, key: str) -> None:
        """The target answered: close the breaker."""
        with self._lock:
            self._states.pop(key, None)

    def failure(self, key: str, now: datetime, *, retry_after: float | None = None) -> None:
        """A temporary failure: count it, opening the breaker at the threshold."""
        with self._lock:
            state = self._states.setdefault(key, _State())
            state.failures += 1
            if state.open_until is not None and now < state.open_until:
                return  # already open: failures of deliveries sent before it opened
            half_open = state.open_until is not None
            if state.failures < self.threshold and not half_open and retry_after is None:
                return
            if state.failures < self.threshold and not half_open:
                # Told to wait, but not (yet) failing: hold off for as long as asked.
                state.open_until = now + timedelta(seconds=retry_after or 0)
                return
            cooldown = min(self.max_cooldown, self.cooldown * (1 << min(state.opened, 16)))
            if retry_after is not None:
                cooldown = max(cooldown, timedelta(seconds=retry_after))
            state.opened += 1
            state.open_until = now + cooldown
