"""API keys checked from memory, each read again from the database after `GATEWAY_KEY_CACHE_S`.

A request's key is checked against this process's copy of its row (the secret's hash, the
role and binding, whether it is revoked), taken at most `seconds` ago; an older copy, or none,
is read again on the thread pool. So a key revoked in the database is refused by every server
on it (each `gateway serve`, however many share one PostgreSQL; their ingest processes are
handed the caller, they check no key) within `seconds` of the revocation's commit, and a new
key works at once: its id was never cached, or, if a caller presented it before it existed,
as "unknown" for at most `seconds` (docs/decisions/0034).

What is cached is a key's row, not a presented key's verdict: a wrong secret is checked
against the cached hash and refused without another read, and cannot add an entry. Ids that
name no key are cached too, so a client repeating a mistyped key costs no reads, but in a
bounded set of their own: made-up ids cannot grow memory without bound, nor push the real keys
out. Failures are logged and limited as before (gateway/api/auth_failures.py); the cache only
decides how the row is found.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import Engine

from gateway import keys
from gateway.keys import Principal, Refused, Stored
from gateway.store.engine import reading

KNOWN_CAPACITY = 10_000  # existing keys remembered at most (a deployment has far fewer)
UNKNOWN_CAPACITY = 1_000  # ids that name no key remembered at most


class _Entries:
    """Rows (or None: no such key) by key id, each with when it was read; oldest evicted."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[str, tuple[float, Stored | None]] = OrderedDict()

    def get(self, key_id: str) -> tuple[float, Stored | None] | None:
        return self._rows.get(key_id)

    def put(self, key_id: str, read_at: float, row: Stored | None) -> None:
        self._rows.pop(key_id, None)
        self._rows[key_id] = (read_at, row)
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)

    def drop(self, key_id: str) -> None:
        self._rows.pop(key_id, None)

    def __len__(self) -> int:
        return len(self._rows)


class KeyCache:
    """The keys one app has checked lately (thread-safe: reads run on the thread pool)."""

    def __init__(
        self, engine: Engine, seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Answer from a key's row for `seconds` after reading it from `engine`."""
        self.engine = engine
        self.seconds = seconds
        self._clock = clock
        self._known = _Entries(KNOWN_CAPACITY)
        self._unknown = _Entries(UNKNOWN_CAPACITY)
        self._lock = threading.Lock()

    def cached(self, presented: str) -> Principal | Refused | None:
        """The verdict on a presented key from memory; None if its row must be read first."""
        parsed = keys.parse(presented)
        if parsed is None:
            return Refused("malformed")
        key_id, secret = parsed
        with self._lock:
            entry = self._known.get(key_id) or self._unknown.get(key_id)
        if entry is None or self._clock() - entry[0] >= self.seconds:
            return None
        return keys.verify(entry[1], key_id, secret)

    def check(self, presented: str) -> Principal | Refused:
        """The verdict on a presented key, reading its row if need be (blocking)."""
        parsed = keys.parse(presented)
        if parsed is None:
            return Refused("malformed")
        key_id, secret = parsed
        read_at = self._clock()  # before the read: an entry is never younger than its row
        with reading(self.engine) as connection:
            row = keys.stored(connection, key_id)
        with self._lock:
            self._known.drop(key_id)
            self._unknown.drop(key_id)
            (self._known if row is not None else self._unknown).put(key_id, read_at, row)
        return keys.verify(row, key_id, secret)

    def sizes(self) -> tuple[int, int]:
        """How many existing keys and unknown ids are remembered."""
        with self._lock:
            return len(self._known), len(self._unknown)
