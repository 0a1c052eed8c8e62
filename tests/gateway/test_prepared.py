"""Prepared statements write and read exactly what Core writes and reads, on both backends."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import ArgumentError, IntegrityError

from gateway.store import migrate
from gateway.store.dialects import in_list
from gateway.store.engine import make_engine
from gateway.store.prepared import Prepared
from gateway.store.schema import children, deliveries, episodes, messages, policy_flags

_NOW = datetime(2025, 3, 30, 0, 30, 15, 123456, tzinfo=UTC)  # the night the clocks go forward


def _message(row_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "source": "merlin",
        "force": "01",
        "message_id": f"m-{row_id}",
        "reference": "01MIS000001",
        "version": 3,
        "received_at": _NOW,
        "c14n_sha256": "ab" * 32,
        "body": b"<a>\x00\xff</a>",
        "episode_id": None,
        "stale": False,
        "receipt": {"receipt_id": row_id, "nested": [1, "two", None], "text": "Zoë"},
        **overrides,
    }


def _episode(row_id: str, child_id: str) -> dict[str, Any]:
    return {
        "id": row_id,
        "child_id": child_id,
        "status": "open",
        "risk_level": "high",
        "looked_after": True,
        "dfe_missing_type": "M",
        "home_council": "304",
        "responsible_council": None,
        "reported_at": _NOW,
        "found_at": None,
        "created_at": _NOW,
        "updated_at": _NOW,
        "state": {"flags": [{"code": "x"}], "n": 1},
        "policy_due_at": _NOW + timedelta(hours=24),
    }


def _all(engine: Engine, table: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(table).order_by(table.c.id))]


def test_an_insert_stores_what_core_stores(engine: Engine) -> None:
    """Every column type (times, JSON, bytes, booleans, nulls) is stored as Core stores it."""
    with engine.begin() as connection:
        same = {"receipt": {"nested": [1, "two", None], "text": "Zoë"}}
        Prepared(insert(messages)).run(connection, _message("b", message_id="one", **same))
        connection.execute(insert(messages), _message("a", message_id="two", **same))
    core, prepared = _all(engine, messages)
    assert (prepared[0], *prepared[4:]) == ("b", *core[4:])
    assert prepared[1:3] == core[1:3]


def test_a_select_reads_what_core_reads(engine: Engine) -> None:
    """Rows come back with Core's values and types, by column name, with fixed binds bound."""
    with engine.begin() as connection:
        connection.execute(
            insert(children), {"id": "c1", "nhs_number": None, "match_key": "k", "created_at": _NOW}
        )
        connection.execute(insert(episodes), _episode("e1", "c1"))
        statement = select(episodes).where(episodes.c.child_id == bindparam("child")).limit(1)
        core = connection.execute(statement, {"child": "c1"}).one()
        row = Prepared(statement).first(connection, {"child": "c1"})
        absent = Prepared(statement).first(connection, {"child": "nobody"})
    assert tuple(row) == tuple(core)
    assert row.state == {"flags": [{"code": "x"}], "n": 1}
    assert row.reported_at == _NOW and row.reported_at.tzinfo is not None
    assert row.looked_after is True and row.found_at is None
    assert absent is None


def test_an_update_sets_the_columns_its_parameters_name(engine: Engine) -> None:
    """As with Core, an UPDATE's SET columns are its parameters' keys; `row_id` picks the row."""
    statement = update(messages).where(messages.c.id == bindparam("row_id"))
    with engine.begin() as connection:
        connection.execute(
            insert(children), {"id": "c1", "nhs_number": None, "match_key": "k", "created_at": _NOW}
        )
        connection.execute(insert(episodes), _episode("e9", "c1"))
        Prepared(insert(messages)).run(connection, _message("m1"))
        Prepared(insert(messages)).run(connection, _message("m2"))
        changed = Prepared(statement).run(
            connection, {"row_id": "m1", "episode_id": "e9", "receipt": {"done": True}}
        )
        Prepared(statement).run(connection, {"row_id": "m2", "stale": True})
    (first, second) = _all(engine, messages)
    assert changed == 1
    assert (first[9], first[11], first[10]) == ("e9", {"done": True}, False)
    assert (second[9], second[10], second[11]["text"]) == (None, True, "Zoë")


def test_many_parameter_sets_run_as_one_executemany(engine: Engine) -> None:
    """A list of parameter sets inserts every row; an empty list runs nothing."""
    rows = [
        {"id": f"c{n}", "nhs_number": None, "match_key": f"k{n}", "created_at": _NOW}
        for n in range(5)
    ]
    with engine.begin() as connection:
        Prepared(insert(children)).run(connection, rows)
        assert Prepared(insert(children)).run(connection, []) == 0
        count = Prepared(select(func.count()).select_from(children)).scalar(connection)
    assert count == 5


def test_one_parameter_set_in_a_list_counts_its_row(engine: Engine) -> None:
    """A one-row list (run as a plain execute) changes and counts its row as executemany would."""
    rows = [{"id": f"c{n}", "nhs_number": None, "match_key": f"k{n}", "created_at": _NOW}
            for n in range(3)]  # fmt: skip
    statement = update(children).where(children.c.id == bindparam("row_id"))
    with engine.begin() as connection:
        Prepared(insert(children)).run(connection, rows)
        one = Prepared(statement).run(connection, [{"row_id": "c1", "match_key": "changed"}])
        none = Prepared(statement).run(connection, [{"row_id": "nobody", "match_key": "x"}])
    assert (one, none) == (1, 0)
    assert [row[2] for row in _all(engine, children)] == ["k0", "changed", "k2"]


@pytest.mark.parametrize("wanted", [[], ["c2"], ["c0", "c2", "nobody"]])
def test_in_list_selects_the_rows_a_list_parameter_names(engine: Engine, wanted: list[str]) -> None:
    """`in_list` is an IN over a list parameter that a prepared statement can bind, any length."""
    rows = [{"id": f"c{n}", "nhs_number": None, "match_key": f"k{n}", "created_at": _NOW}
            for n in range(3)]  # fmt: skip
    statement = Prepared(
        select(children.c.id).where(in_list(children.c.id, "ids")).order_by(children.c.id)
    )
    with engine.begin() as connection:
        Prepared(insert(children)).run(connection, rows)
        found = statement.rows(connection, {"ids": wanted})
    assert [row.id for row in found] == sorted(set(wanted) - {"nobody"})


def test_a_few_rows_are_stored_as_one_executemany_stores_them(engine: Engine) -> None:
    """A handful of rows (one multi-row INSERT on PostgreSQL) store what Core stores, in order.

    Also a table whose key Core returns by itself (policy_flags), and a duplicate in the
    set is Core's IntegrityError, as from executemany.
    """
    same = {"receipt": {"nested": [1, "two", None], "text": "Zoë"}}
    few = [_message(f"f{n}", message_id=f"few-{n}", **same) for n in range(3)]
    many = [_message(f"m{n}", message_id=f"many-{n}", **same) for n in range(12)]
    with engine.begin() as connection:
        assert Prepared(insert(messages)).run(connection, few) == 3
        assert Prepared(insert(messages)).run(connection, many) == 12
        connection.execute(
            insert(messages), [_message(f"z{n}", message_id=f"core-{n}", **same) for n in range(3)]
        )
        connection.execute(
            insert(children), {"id": "c1", "nhs_number": None, "match_key": "k", "created_at": _NOW}
        )
        connection.execute(insert(episodes), _episode("e1", "c1"))
        flag = {"episode_id": "e1", "council": "304", "rule": "r", "code": "c"}
        flags = [
            {
                **flag,
                "period": n,
                "reason": f"reason {n}",
                "due_at": _NOW,
                "raised_at": _NOW,
                "event_id": None,
            }
            for n in range(2)
        ]
        Prepared(insert(policy_flags)).run(connection, flags)
    stored = _all(engine, messages)
    core = [row for row in stored if row[0].startswith("z")]
    for row in (row for row in stored if not row[0].startswith("z")):
        assert row[4:] == core[0][4:] and row[1:3] == core[0][1:3]
    with engine.connect() as connection:
        reasons = connection.execute(select(policy_flags.c.reason).order_by(policy_flags.c.id))
        assert [r for (r,) in reasons] == ["reason 0", "reason 1"]
    with pytest.raises(IntegrityError), engine.begin() as connection:
        Prepared(insert(messages)).run(connection, [_message("f9", message_id="x"), few[0]])


def test_a_driver_error_is_core_s_error_without_the_values(engine: Engine) -> None:
    """A duplicate key is SQLAlchemy's IntegrityError, and no parameter value is in its text."""
    prepared = Prepared(insert(messages))
    row = _message("dup", message_id="Synthetic-Childname-Testperson")
    with engine.begin() as connection:
        prepared.run(connection, row)
    with pytest.raises(IntegrityError) as caught, engine.begin() as connection:
        prepared.run(connection, {**row, "message_id": "Another-Synthetic-Testperson"})
    assert "Testperson" not in str(caught.value)


def test_a_rollback_takes_prepared_writes_with_it(engine: Engine) -> None:
    """The statements run in the caller's transaction: rolled back with it."""
    with engine.connect() as connection, connection.begin() as transaction:
        Prepared(insert(messages)).run(connection, _message("gone"))
        transaction.rollback()
    assert _all(engine, messages) == []


def test_statements_that_need_core_are_refused(engine: Engine) -> None:
    """Python-side defaults, IN lists and a missing value fail loudly; so does no transaction."""
    lacking_defaults = {"id": "d1", "event_id": "x"}  # attempts has a Python-side default
    with engine.begin() as connection:
        with pytest.raises(ArgumentError, match="Python-side defaults"):
            Prepared(insert(deliveries)).run(connection, lacking_defaults)
        expanding = select(children.c.id).where(children.c.id.in_(bindparam("ids", expanding=True)))
        with pytest.raises(ArgumentError, match="expanding"):
            Prepared(expanding).rows(connection, {"ids": ["a"]})
        needs_key = select(children.c.id).where(children.c.match_key == bindparam("key"))
        with pytest.raises(ArgumentError, match="'key'"):
            Prepared(needs_key).rows(connection, {})
    with engine.connect() as connection, pytest.raises(RuntimeError, match="transaction"):
        Prepared(needs_key).rows(connection, {"key": "k"})


def test_a_reconnected_connection_gets_a_cursor_of_its_own(engine: Engine) -> None:
    """The kept cursor belongs to its DBAPI connection: after a reconnect a new one is made."""
    count = Prepared(select(func.count()).select_from(children))
    with engine.connect() as connection:
        with connection.begin():
            assert count.scalar(connection) == 0
        connection.invalidate()  # as after a lost connection: the next use reconnects
        with connection.begin():
            Prepared(insert(children)).run(
                connection, {"id": "c1", "nhs_number": None, "match_key": "k", "created_at": _NOW}
            )
            assert count.scalar(connection) == 1


def test_no_statement_is_left_open_after_its_transaction(tmp_path: Path) -> None:
    """A row read with `first` or a SELECT `run` for a lock leaves no snapshot open (SQLite).

    An unfinished statement would hold its read snapshot past the commit, so a checkpoint
    could not empty the WAL and it would grow for as long as the process lives.
    """
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrate.upgrade(engine)
    rows = [
        {"id": f"c{n}", "nhs_number": None, "match_key": "k", "created_at": _NOW} for n in range(3)
    ]
    everyone = select(children.c.id).order_by(children.c.id)
    with engine.begin() as connection:
        Prepared(insert(children)).run(connection, rows)
    with engine.begin() as connection:
        assert Prepared(everyone).first(connection).id == "c0"
        Prepared(everyone).run(connection, {})
    with sqlite3.connect(tmp_path / "gateway.db") as other:
        busy, _log, _done = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    engine.dispose()
    assert busy == 0
