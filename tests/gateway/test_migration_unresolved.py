"""Migration 0003 on a database holding data: rows kept, each waiting row's role filled in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text, update

from gateway.store import migrate
from gateway.store.engine import make_engine
from gateway.store.schema import children, deliveries, episodes, events, unroutable
from tests.conftest import BACKENDS, POSTGRES_URL, postgres_engine

NOW = datetime(2024, 5, 1, 21, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def at_0002(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database migrated to 0002 only, on each backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        migrate.upgrade(engine, "0002")
        yield engine
        engine.dispose()
        return
    request.getfixturevalue("postgres_schema")  # skips when PostgreSQL is not reachable
    schema = f"gw_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = postgres_engine(schema)
    migrate.upgrade(engine, "0002")
    yield engine
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _episode(connection: object, episode_id: str, *, looked_after: bool) -> None:
    connection.execute(  # type: ignore[attr-defined]
        insert(episodes).values(
            id=episode_id,
            child_id="c1",
            status="open",
            risk_level="medium",
            looked_after=looked_after,
            home_council="304",
            responsible_council="310" if looked_after else None,
            reported_at=NOW,
            created_at=NOW,
            updated_at=NOW,
            state={},
        )
    )
    connection.execute(  # type: ignore[attr-defined]
        insert(events).values(
            id=f"{episode_id}-1",
            episode_id=episode_id,
            seq=1,
            type="reported",
            at=NOW,
            created_at=NOW,
            canonical={},
        )
    )


def test_upgrade_keeps_the_rows_and_fills_in_each_waiting_rows_role(at_0002: Engine) -> None:
    """Host, responsible and home rows get their roles; episodes and events survive the rebuild."""
    engine = at_0002
    with engine.begin() as connection:
        connection.execute(insert(children).values(id="c1", match_key="k", created_at=NOW))
        _episode(connection, "e1", looked_after=True)
        _episode(connection, "e2", looked_after=False)
        for episode_id, council in (("e1", "312"), ("e1", "310"), ("e2", "304")):
            connection.execute(
                text(
                    "INSERT INTO unroutable (event_id, episode_id, council, created_at) "
                    "VALUES (:event, :episode, :council, :at)"
                ),
                {"event": f"{episode_id}-1", "episode": episode_id, "council": council, "at": NOW},
            )
    migrate.upgrade(engine)
    with engine.begin() as connection:
        roles = connection.execute(
            select(unroutable.c.council, unroutable.c.role, unroutable.c.name).order_by(
                unroutable.c.id
            )
        ).all()
        assert [tuple(r) for r in roles] == [
            ("312", "host", None),
            ("310", "responsible", None),
            ("304", "home", None),
        ]
        assert connection.execute(select(events.c.id).order_by(events.c.id)).scalars().all() == [
            "e1-1",
            "e2-1",
        ]
        connection.execute(update(episodes).where(episodes.c.id == "e2").values(home_council=None))
        assert connection.execute(select(deliveries.c.council_role)).all() == []


def test_sqlite_enforces_foreign_keys_again_after_migrating(tmp_path: Path) -> None:
    """The connection the migrations ran on goes back to the pool with enforcement on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
