"""Alembic's `upgrade head` builds exactly the schema the SQLAlchemy metadata declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from gateway.store import migrate
from gateway.store.schema import metadata


def test_upgrade_head_matches_metadata(engine: Engine) -> None:
    """No difference between the migrated database and the metadata, on each backend."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_database_is_current_after_upgrade(engine: Engine) -> None:
    """The readiness check sees the migrated database as current."""
    assert migrate.is_current(engine)
