"""Fixtures the gateway's tests share."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from gateway import keys
from tests.conftest import KeyRing
from tests.gateway.delivery import (  # noqa: F401 - the delivery fixtures
    clock,
    example,
    sims,
    worker,
)
from tests.gateway.onboarding import cli  # noqa: F401 - a CLI on the test database


@pytest.fixture
def police_principal(keyring: KeyRing, engine: Engine) -> keys.Principal:
    """The Metropolitan Police's principal (force 01, the MERLIN example's force)."""
    key = keyring.issue("police", force="01")
    with engine.connect() as connection:  # after the issue: SQLite has one connection
        principal = keys.authenticate(connection, key)
    assert principal is not None
    return principal
