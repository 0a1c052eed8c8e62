"""PostgreSQL advisory locks for the steps no row lock covers: find-or-create and check-then-write.

Rows that exist are locked with `SELECT ... FOR UPDATE`; these cover what is not a row yet (a
child about to be matched or created) or a decision over many rows (the policy configuration).
They are transaction-scoped and live in their own two-key space, apart from the audit chain's
one-key lock. SQLite needs none: `BEGIN IMMEDIATE` already makes one writer at a time.
"""

from __future__ import annotations

from enum import IntEnum

from sqlalchemy import Connection, text

from gateway.store.prepared import Prepared

_LOCK = Prepared(text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))"))


class Space(IntEnum):
    """What a lock's key names; the first of the two advisory-lock keys."""

    CHILD = 1  # an NHS number or a name-and-birth-date match key
    POLICY_CONFIG = 2  # the policy configuration's fingerprint check


def hold(connection: Connection, space: Space, *keys: str) -> None:
    """Wait for, then hold until the transaction ends, a lock on each key (PostgreSQL only).

    Keys are taken in one order, so two transactions locking overlapping keys never wait on
    each other in a cycle.
    """
    if connection.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        _LOCK.run(connection, {"space": int(space), "key": key})
