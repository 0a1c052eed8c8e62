"""Every lock a transaction takes, in the one order transactions take them (the lock levels).

A unit of work (`gateway.store.work.unit_of_work`) names the levels it takes. It takes them
through `hold` (advisory locks) and `take` (row locks, declared just before the statement
that locks the rows), and is refused with `LockOrderError`, on every backend, when it takes a
level it did not name or one below a level it already holds. The same level may be taken
again, for other keys or rows.

Levels, lowest first:

- `POLICY_CONFIG` (advisory): the policy configuration's fingerprint check; one process
  re-arms the timers at a time.
- `CHILD` (advisory, per match key): finding or creating a child.
- `ACK_FEED` (advisory, per council): one worker applies a council's acknowledgements at a time.
- `EPISODE` (rows): an episode and what hangs on it (its sources, messages, events, unroutable
  rows, flags), locked `FOR NO KEY UPDATE`: by ingest, unroutable replay, the policy timer
  (`SKIP LOCKED`), the policy re-arm, and the purge of raw messages (`SKIP LOCKED`).
- `BREAKER` (rows): the councils' circuit breakers (`gateway/delivery/slots.py`), locked
  `FOR UPDATE` by the worker's claim, which so counts each council's attempts in flight across
  every worker before it claims more.
- `DELIVERY` (rows): deliveries and their attempts: by the worker's claim (`SKIP LOCKED`),
  finish and acknowledgements, by replay, and by the purge of payloads (`SKIP LOCKED`).
- `CASE_RECORD` (rows): the ids a council's case system gave a child and an episode.
- `AUDIT_CHAIN` (advisory, one key): numbering and chaining a unit's audit entries. Only the
  unit of work takes it, at commit, after everything else.

Why the audit chain cannot close a deadlock: a transaction takes it last, and while holding it
only reads the chain's head and inserts its entries (which no other lock guards: only the
chain's holder writes the table, and no constraint is deferred to commit), then commits. It
waits for nothing, so it is never one of the transactions on a cycle.

Why the foreign-key checks do not count: inserting a row that references an episode or an
event (a case record, a delivery, an event) takes `FOR KEY SHARE` on it, which waits only for
`FOR UPDATE`, a key change or a delete. Nothing takes those on episodes or events, so it never
waits. (`tests/gateway/test_lock_order.py` holds each episode lock against it.)

Ingest is the one exception, and does not declare its row locks through `take`: it stores a
batch of messages in one transaction (decision 0011), each message taking its own `CHILD` and
`EPISODE` locks in turn, so the order holds within a message and restarts at the next. Two
batches can wait on each other; PostgreSQL aborts one, and its messages are stored one by one.

SQLite takes no advisory or row lock: `BEGIN IMMEDIATE` makes one writer at a time. The order
is still checked there, so a wrong order fails the tests on either backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache

from sqlalchemy import Connection, text

from gateway.store.prepared import Prepared

_CHAIN = Prepared(text("SELECT pg_advisory_xact_lock(:key)"))
_CHAIN_KEY = 0x6D69_7373  # arbitrary, fixed ("miss"): the one-key space, apart from `Space`
_LEDGER = "gateway.locks.ledger"  # Connection.info key, set by the unit of work


class Level(IntEnum):
    """The lock levels, in the order a transaction takes them (see the module docstring)."""

    POLICY_CONFIG = 10
    CHILD = 20
    ACK_FEED = 30
    EPISODE = 40
    BREAKER = 45
    DELIVERY = 50
    CASE_RECORD = 60
    AUDIT_CHAIN = 90


class Space(IntEnum):
    """The advisory-lock levels' key spaces: the first of the two keys (never renumbered)."""

    CHILD = 1  # an NHS number or a name-and-birth-date match key
    POLICY_CONFIG = 2  # the policy configuration's fingerprint check
    ACK_FEED = 3  # a council's acknowledgement feed


_LEVEL_OF = {
    Space.CHILD: Level.CHILD,
    Space.POLICY_CONFIG: Level.POLICY_CONFIG,
    Space.ACK_FEED: Level.ACK_FEED,
}
ROW_LEVELS = frozenset({Level.EPISODE, Level.BREAKER, Level.DELIVERY, Level.CASE_RECORD})


class LockOrderError(RuntimeError):
    """A transaction took a lock its unit of work did not name, or out of order (a bug)."""

    def __init__(self, level: Level, problem: str) -> None:
        super().__init__(f"lock {level.name}: {problem}")
        self.level = level
        self.problem = problem


@dataclass(slots=True)
class Ledger:
    """The levels a unit of work named, and the highest it has taken so far."""

    declared: frozenset[Level]
    taken: list[Level] = field(default_factory=list)

    def enter(self, level: Level) -> None:
        """Record that `level` is taken now, or raise `LockOrderError`."""
        if level not in self.declared:
            named = ", ".join(sorted(lv.name for lv in self.declared)) or "none"
            raise LockOrderError(level, f"not named by its unit of work (it names {named})")
        highest = max(self.taken, default=None)
        if highest is not None and level < highest:
            raise LockOrderError(level, f"taken after {highest.name}, which comes later")
        self.taken.append(level)


def open_ledger(connection: Connection, declared: frozenset[Level]) -> Ledger:
    """Start checking the connection's locks against `declared` (the unit of work calls this)."""
    ledger = Ledger(declared)
    connection.info[_LEDGER] = ledger
    return ledger


def close_ledger(connection: Connection) -> None:
    """Stop checking (the unit of work ended)."""
    connection.info.pop(_LEDGER, None)


def _ledger(connection: Connection, level: Level) -> Ledger:
    ledger: Ledger | None = connection.info.get(_LEDGER)
    if ledger is None:
        raise LockOrderError(level, "taken outside a unit of work (gateway.store.work)")
    return ledger


def hold(connection: Connection, space: Space, *keys: str) -> None:
    """Wait for, then hold until the transaction ends, an advisory lock on each key.

    Keys are taken in one order, so two transactions locking overlapping keys of one level
    never wait on each other in a cycle. PostgreSQL only; the order is checked everywhere.

    Raises:
        LockOrderError: the level is not named by the unit of work, or comes too late.
    """
    _ledger(connection, _LEVEL_OF[space]).enter(_LEVEL_OF[space])
    if connection.dialect.name != "postgresql":
        return
    ordered = sorted(set(keys))
    if ordered:
        params = {f"k{n}": key for n, key in enumerate(ordered)}
        _holding(len(ordered)).run(connection, {"space": int(space), **params})


@cache
def _holding(count: int) -> Prepared:
    """One statement that takes `count` advisory locks of a space, `:k0` first (one round trip).

    Nested CASE, whose order of evaluation PostgreSQL documents (unlike a select list's): each
    lock is asked for only once the one before it is held.
    """
    sql = f"pg_advisory_xact_lock(:space, hashtext(:k{count - 1}))"
    for n in reversed(range(count - 1)):
        first = f"pg_advisory_xact_lock(:space, hashtext(:k{n}))"
        sql = f"CASE WHEN {first} IS NOT NULL THEN {sql} END"
    return Prepared(text(f"SELECT {sql}"))


def take(connection: Connection, level: Level) -> None:
    """Declare that the next statement locks rows of `level` (it takes them itself).

    Raises:
        LockOrderError: not a row level, not named by the unit of work, or too late.
    """
    if level not in ROW_LEVELS:
        raise LockOrderError(level, "not a row level: advisory levels are taken with `hold`")
    _ledger(connection, level).enter(level)


def take_chain(connection: Connection) -> None:
    """Take the audit chain's lock until the transaction ends (the unit of work, at commit)."""
    _ledger(connection, Level.AUDIT_CHAIN).enter(Level.AUDIT_CHAIN)
    if connection.dialect.name == "postgresql":
        _CHAIN.run(connection, {"key": _CHAIN_KEY})
