"""Shared fixtures: a database per test on SQLite and on PostgreSQL, app, clients and keys."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text

from gateway import audit, keys
from gateway.audit import checkpoints
from gateway.audit.checkpoints import CheckpointLog
from gateway.settings import Settings
from gateway.store import migrate
from gateway.store.engine import make_engine
from gateway.store.schema import metadata
from gateway.store.work import unit_of_work

if TYPE_CHECKING:
    from gateway.api.deps import Services

POSTGRES_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_available() -> bool:
    probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False
    finally:
        probe.dispose()
    return True


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A private schema in the test PostgreSQL database, migrated once, dropped at the end."""
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} (CI must start it)")
        pytest.skip("PostgreSQL is not reachable")
    schema = f"gw_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    migrate.upgrade(engine)
    engine.dispose()
    yield schema
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def postgres_engine(schema: str) -> Engine:
    """An engine on the private schema."""
    return make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})


AUDIT_KEY = b"a synthetic audit key for the tests, 32+ bytes long"

# Each backend a test runs on: PostgreSQL's runs are marked, to deselect with -m.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
        migrate.upgrade(eng)
    else:
        eng = postgres_engine(request.getfixturevalue("postgres_schema"))
        empty(eng)
    checkpoints.attach(eng, CheckpointLog(tmp_path / "audit-checkpoints", AUDIT_KEY))
    yield eng
    eng.dispose()


def verified(connection: Connection, engine: Engine) -> audit.Report:
    """The audit chain's report against `engine`'s checkpoints, which must verify."""
    report = audit.verify(connection, checkpoints.attached(engine))
    assert report.ok, report.problems
    return report


def empty(engine: Engine) -> None:
    """Empty every table of a PostgreSQL test schema, the append-only audit log included.

    As a superuser may: with triggers off for the transaction (`session_replication_role`).
    """
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a test: a private data dir, the demo routing, no background worker.

    Ingest runs in a lane in the test's process, which hands batches and results over pickled
    as the ingest processes' pipes do (gateway/ingest/processes.py); those processes are
    covered by tests/gateway/test_ingest_processes.py and the acceptance tests.
    """
    return Settings(
        data_dir=tmp_path / "data",
        worker=False,
        ingest_processes=0,
        _env_file=None,
    )


@pytest.fixture
def services(settings: Settings, engine: Engine) -> Services:
    """Gateway services over the test database."""
    from gateway.api.app import build_services

    return build_services(settings, engine=engine, upgrade=False)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """An HTTP client for the app."""
    from gateway.api.app import create_app

    with TestClient(create_app(services)) as test_client:
        yield test_client


class KeyRing:
    """Issues API keys in the test database and builds their headers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def issue(self, role: str, *, force: str | None = None, council: str | None = None) -> str:
        """A new key for the role and binding."""
        with unit_of_work(self.engine, audits=True) as connection:
            return keys.create(connection, keys.Role(role), force=force, council=council)

    def headers(self, role: str, **binding: str) -> dict[str, str]:
        """Authorization headers with a fresh key."""
        return {"Authorization": f"Bearer {self.issue(role, **binding)}"}


@pytest.fixture
def keyring(engine: Engine) -> KeyRing:
    """Issue keys for tests."""
    return KeyRing(engine)


@pytest.fixture
def met(keyring: KeyRing) -> dict[str, str]:
    """A Metropolitan Police (force 01) key."""
    return keyring.headers("police", force="01")


@pytest.fixture
def derbys(keyring: KeyRing) -> dict[str, str]:
    """A Derbyshire Constabulary (force 30) key."""
    return keyring.headers("police", force="30")


@pytest.fixture
def operator(keyring: KeyRing) -> dict[str, str]:
    """An operator key."""
    return keyring.headers("operator")
