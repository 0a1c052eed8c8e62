"""Database engines: SQLite (embedded default) and PostgreSQL (production, several processes).

SQLite runs in WAL mode with `synchronous=FULL`, so a `202` survives `kill -9` and power loss,
and every transaction starts with `BEGIN IMMEDIATE`: one writer at a time, taken up front,
instead of a read lock that deadlocks when it is upgraded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from gateway.store.files import private_sqlite

_READ_ONLY = "gateway_read_only"  # execution option of `reading` connections


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine is the embedded SQLite backend."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine configured for the gateway's durability guarantees."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        private_sqlite(url)  # 0600 before SQLite creates it 0644 (gateway/store/files.py)
        # One connection per process: every transaction is BEGIN IMMEDIATE, so only one can
        # run at a time anyway, and threads waiting in the pool's queue are handed the
        # connection the moment it is free, where SQLite's busy handler would have them poll
        # with sleeps that set the tail latency under concurrent clients (docs/decisions/0036).
        # Other processes (the CLI, `gateway serve`'s ingest processes) wait on the busy timeout.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **({"pool_size": 1, "max_overflow": 0, "pool_timeout": 60} | kwargs),
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below control transactions instead of pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 64 MiB of page cache (the default is 2 MiB): the hot path's index lookups stay in
        # memory as the store grows to millions of messages (bench/: growth).
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read-only transaction (`reading`) begins deferred: in WAL mode it reads a snapshot
        # and takes no lock a writer needs. BEGIN IMMEDIATE would queue it, on the busy
        # timeout's sleeps, behind another process's writes (`gateway serve`'s ingest process).
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads alone (an API key check, a receipt): it must never write.

    On SQLite its transactions begin deferred (see `_configure_sqlite`); elsewhere it is a
    plain connection.
    """
    with engine.connect() as connection:
        yield connection.execution_options(**{_READ_ONLY: True})
