"""Failed authentications: logged, and limited per client address and per key.

Every refused API key (a missing, malformed, unknown or revoked key, or a wrong secret), on
the API or the `/ui` sign-in form, is logged as `auth_failed` with the client's address, the
reason and, for an existing key, its id: never the key or its secret. After
`GATEWAY_AUTH_FAILURE_LIMIT` failures within `GATEWAY_AUTH_FAILURE_WINDOW_S`:

- from one client address, that address is answered `429` with `Retry-After` for any key,
  before the key is looked at, until the oldest of those failures leaves the window;
- naming one existing key, further failures naming it are answered `429` instead of `401`.
  The right secret is still accepted: whoever knows a key's id (ids are in logs) must not be
  able to lock a police force out of sending reports.

Each limit is logged once, as `auth_failures_limited` (a warning), and the attempts it refuses
are not logged one by one. Counts live in this process only (docs/decisions/0023); behind a
reverse proxy the client address is the one it forwards (GATEWAY_FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from gateway.keys import Refused
from gateway.logs import get_logger

log = get_logger(__name__)
CAPACITY = 10_000  # addresses (and keys) tracked at most; the least recently failed go first


class _Window:
    """The times of the most recent failures of many subjects, `limit` each at most."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, subject: str, now: float) -> int | None:
        """Seconds until `subject` may fail again, if it is at its limit now."""
        times = self._times.get(subject)
        if times is None or len(times) < self.limit or now - times[0] >= self.window_s:
            return None
        return max(1, math.ceil(self.window_s - (now - times[0])))

    def add(self, subject: str, now: float) -> bool:
        """Count a failure; whether it brought `subject` to its limit."""
        times = self._times.pop(subject, None) or deque(maxlen=self.limit)
        times.append(now)
        self._times[subject] = times  # most recent last
        while len(self._times) > CAPACITY:
            self._times.popitem(last=False)
        return self.wait(subject, now) is not None


class AuthFailures:
    """The failure counts of one app (thread-safe: key checks run on the thread pool)."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """At most `limit` failures per address, and per key, within `window_s` seconds."""
        self._addresses = _Window(limit, window_s)
        self._keys = _Window(limit, window_s)
        self._clock = clock
        self._lock = threading.Lock()

    def address_wait(self, address: str) -> int | None:
        """Seconds the address must wait before its next attempt, if it is limited."""
        with self._lock:
            return self._addresses.wait(address, self._clock())

    def failed(self, address: str, refused: Refused, *, via: str, path: str) -> int | None:
        """Log and count a failure; seconds to tell the caller to wait, if it is now limited.

        A key already at its limit is answered with its wait; the attempt that brings a key
        or an address to its limit is still answered as a plain failure.
        """
        key_id = refused.key_id
        with self._lock:
            now = self._clock()
            key_wait = self._keys.wait(key_id, now) if key_id is not None else None
            if key_wait is None:  # a limited key's failures were logged up to its limit
                log.info(
                    "auth_failed",
                    reason=refused.reason,
                    key_id=key_id,
                    client=address,
                    via=via,
                    path=path,
                )
                if key_id is not None and self._keys.add(key_id, now):
                    log.warning(
                        "auth_failures_limited", limited="key", key_id=key_id, client=address
                    )
            if self._addresses.add(address, now):
                log.warning("auth_failures_limited", limited="client", client=address)
        return key_wait
