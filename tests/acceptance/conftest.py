"""Acceptance fixtures: a real gateway process per backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.acceptance.process import GatewayProcess
from tests.conftest import POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A real gateway process on each backend (a private PostgreSQL schema per test)."""
    url = None
    schema = f"gw_acc_{uuid.uuid4().hex[:10]}"
    if request.param == "postgres":
        request.getfixturevalue("postgres_schema")  # skips or fails when PostgreSQL is absent
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    process = GatewayProcess(tmp_path / "data", url)
    yield process
    process.stop()
    if request.param == "postgres":
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
