"""The SQLite engine's transactions: writers begin IMMEDIATE, `reading` connections deferred."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from gateway.store.engine import make_engine, reading


def _insert_from_another_process(other: Engine) -> None:
    """A write on another connection, as the ingest process makes, giving up after 0.2 s."""
    with other.connect() as writer:
        writer.connection.dbapi_connection.execute("PRAGMA busy_timeout=200")  # type: ignore[union-attr]
        with writer.begin():
            writer.exec_driver_sql("INSERT INTO t VALUES (1)")


def test_a_reading_connection_leaves_the_write_lock_to_other_writers(tmp_path: Path) -> None:
    """A read that began IMMEDIATE would hold the one write lock; `reading` reads a snapshot."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    server, other = make_engine(url), make_engine(url)
    try:
        with server.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with reading(server) as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
            _insert_from_another_process(other)  # while the read's transaction is open
            assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0  # snapshot
        with server.connect() as connection:  # the default, for transactions that may write
            connection.exec_driver_sql("SELECT count(*) FROM t")
            with pytest.raises(OperationalError, match="locked"):
                _insert_from_another_process(other)
    finally:
        server.dispose()
        other.dispose()
