"""Alembic environment: runs against the engine the gateway hands over.

On SQLite, foreign keys are not enforced while the migrations run, and all of them are checked
before the migrations commit. A batch migration rebuilds a table (copy, drop, rename); with
enforcement on, dropping a table other rows reference counts violations that the rename never
takes back, so the commit fails (SQLite's own procedure for such changes turns enforcement
off, which it allows only outside a transaction).
"""

from typing import Any

from alembic import context
from sqlalchemy import Connection

from gateway.store.schema import metadata


def _run(connection: Connection, *, sqlite: bool) -> None:
    with connection.begin():
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=sqlite)
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(
                    f"the migration left {len(broken)} row(s) referring to no row, "
                    f"the first in table {broken[0][0]}: nothing was changed"
                )


engine = context.config.attributes["engine"]
with engine.connect() as connection:
    if connection.dialect.name != "sqlite":
        _run(connection, sqlite=False)
    else:
        raw: Any = connection.connection.dbapi_connection
        raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, or SQLite ignores it
        try:
            _run(connection, sqlite=True)
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
