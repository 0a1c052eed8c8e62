"""Lock levels: a unit of work takes only the locks it names, in their order, on each backend."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, text

from gateway import audit
from gateway.delivery import outbox
from gateway.ingest import batching
from gateway.policy import timer as policy_timer
from gateway.store import locks
from gateway.store.locks import Level, LockOrderError, Space
from gateway.store.work import unit_of_work


def test_levels_taken_in_order_are_allowed(engine: Engine) -> None:
    """Advisory and row levels, lowest first, each as often as needed."""
    named = (Level.POLICY_CONFIG, Level.CHILD, Level.EPISODE, Level.DELIVERY, Level.CASE_RECORD)
    with unit_of_work(engine, audits=True, locks=named) as connection:
        locks.hold(connection, Space.POLICY_CONFIG, "policy-packs")
        locks.hold(connection, Space.CHILD, "b", "a")
        locks.hold(connection, Space.CHILD, "c")  # the same level again: another key
        locks.take(connection, Level.EPISODE)
        locks.take(connection, Level.DELIVERY)
        locks.take(connection, Level.DELIVERY)
        locks.take(connection, Level.CASE_RECORD)
        audit.append(connection, actor="t", action=audit.Action.RECEIVED)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        (Level.CHILD, Level.POLICY_CONFIG),
        (Level.EPISODE, Level.CHILD),
        (Level.CASE_RECORD, Level.DELIVERY),  # why acknowledgements save case records last
        (Level.DELIVERY, Level.EPISODE),
    ],
)
def test_a_level_below_one_held_is_refused(engine: Engine, first: Level, then: Level) -> None:
    """Taking a lower level after a higher one could close a cycle: it fails, on every backend."""
    space = {Level.CHILD: Space.CHILD, Level.POLICY_CONFIG: Space.POLICY_CONFIG}

    def take(connection: Connection, level: Level) -> None:
        if level in space:
            locks.hold(connection, space[level], "k")
        else:
            locks.take(connection, level)

    with unit_of_work(engine, locks=(first, then)) as connection:
        take(connection, first)
        with pytest.raises(LockOrderError, match=f"taken after {first.name}"):
            take(connection, then)


def test_a_level_the_unit_did_not_name_is_refused(engine: Engine) -> None:
    """A unit says which locks it takes; any other is a bug the tests catch."""
    with unit_of_work(engine, locks=(Level.DELIVERY,)) as connection:
        with pytest.raises(LockOrderError, match="not named by its unit of work"):
            locks.take(connection, Level.EPISODE)
        with pytest.raises(LockOrderError, match="not named"):
            locks.hold(connection, Space.CHILD, "k")


def test_locks_outside_a_unit_of_work_are_refused(engine: Engine) -> None:
    """Every transaction that locks is a unit of work."""
    with engine.begin() as connection, pytest.raises(LockOrderError, match="outside a unit"):
        locks.take(connection, Level.DELIVERY)


def test_nothing_is_taken_after_the_audit_chain(engine: Engine) -> None:
    """The chain's lock is the last: with it held, any other lock is refused."""
    with unit_of_work(engine, audits=True, locks=(Level.DELIVERY,)) as connection:
        locks.take_chain(connection)
        with pytest.raises(LockOrderError, match="taken after AUDIT_CHAIN"):
            locks.take(connection, Level.DELIVERY)


def test_only_an_audited_unit_takes_the_chain(engine: Engine) -> None:
    """A unit that does not audit never takes the chain's lock."""
    with unit_of_work(engine) as connection, pytest.raises(LockOrderError, match="AUDIT_CHAIN"):
        locks.take_chain(connection)


def test_row_levels_are_taken_with_take_and_advisory_ones_with_hold(engine: Engine) -> None:
    """`take` is for row levels alone: an advisory level has keys to lock."""
    with (
        unit_of_work(engine, locks=(Level.CHILD,)) as connection,
        pytest.raises(LockOrderError, match="not a row level"),
    ):
        locks.take(connection, Level.CHILD)


def test_every_units_named_locks_are_in_order() -> None:
    """The levels each unit of work names are listed lowest first, as it takes them."""
    named = [
        batching.INGEST_LOCKS,
        outbox.FINISH_LOCKS,
        outbox.CLAIM_LOCKS,
        outbox.ROUND_LOCKS,
        outbox.ACK_LOCKS,
        policy_timer._ARM_LOCKS,
    ]
    assert all(list(levels) == sorted(levels) for levels in named)
    assert max(Level) is Level.AUDIT_CHAIN


def test_every_key_held_is_locked_until_the_transaction_ends(engine: Engine) -> None:
    """Several keys of one level, taken in one statement, are each held (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes no advisory lock")
    held = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :space"
        " AND pid = pg_backend_pid()"
    )
    with unit_of_work(engine, locks=(Level.CHILD,)) as connection:
        locks.hold(connection, Space.CHILD, "c", "a", "b", "a")
        assert connection.execute(held, {"space": int(Space.CHILD)}).scalar() == 3
    with engine.connect() as connection:
        assert connection.execute(held, {"space": int(Space.CHILD)}).scalar() == 0
