"""Fixtures of the /ui tests: the spec examples posted, and signed-in browsers per council."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from gateway.store.schema import episodes
from tests.gateway.delivery import post
from tests.messages import compact, merlin

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF.search(html)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, key: str) -> Any:
    """Sign in through the form, as a browser does; returns the answer (not followed)."""
    form = client.get("/ui/sign-in")
    assert form.status_code == 200
    data = {"api_key": key, "csrf_token": csrf_of(form.text)}
    return client.post("/ui/sign-in", data=data, follow_redirects=False)


def set_episode_state(engine: Engine, episode_id: str, **changes: Any) -> None:
    """Change fields of an episode's canonical state (and its status column, if given)."""
    with engine.begin() as connection:
        state = connection.execute(episodes.select().where(episodes.c.id == episode_id)).one().state
        values: dict[str, Any] = {"state": {**state, **changes}}
        if "status" in changes:
            values["status"] = changes["status"]
        connection.execute(update(episodes).where(episodes.c.id == episode_id).values(**values))


@pytest.fixture
def examples(
    client: TestClient, met: dict[str, str], derbys: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Both spec examples: MERLIN (to Brent 304 and Derbyshire 830), COMPACT (to 830 only)."""
    return {
        "merlin": post(client, "merlin", merlin(), met),
        "compact": post(client, "compact", compact(), derbys),
    }


@pytest.fixture
def brent_key(keyring: Any) -> str:
    """A London Borough of Brent (304) council key."""
    key: str = keyring.issue("council", council="304")
    return key


@pytest.fixture
def derbyshire_key(keyring: Any) -> str:
    """A Derbyshire (830) council key."""
    key: str = keyring.issue("council", council="830")
    return key


@pytest.fixture
def brent(client: TestClient, brent_key: str) -> TestClient:
    """The test client signed in as Brent."""
    assert sign_in(client, brent_key).status_code == 303
    return client


@pytest.fixture
def derbyshire(client: TestClient, derbyshire_key: str) -> TestClient:
    """A second browser, on the same app, signed in as Derbyshire."""
    other = TestClient(client.app)
    assert sign_in(other, derbyshire_key).status_code == 303
    return other
