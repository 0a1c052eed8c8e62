"""API keys are checked from memory, and revocation reaches every app within GATEWAY_KEY_CACHE_S."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from gateway import keys
from gateway.api import key_cache
from gateway.api.app import build_services, create_app
from gateway.api.key_cache import KeyCache
from gateway.keys import Principal, Refused
from gateway.settings import Settings
from gateway.store.work import unit_of_work
from tests.conftest import KeyRing

SECONDS = 10.0


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Reads:
    """Counts the statements an engine runs."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_: object) -> None:
        self.count += 1


def _verdict(cache: KeyCache, key: str) -> Principal | Refused:
    """As the API dependency asks: from memory, else read."""
    return cache.cached(key) or cache.check(key)


def _revoke(engine: Engine, key: str) -> None:
    with unit_of_work(engine, audits=True) as connection:
        assert keys.revoke(connection, key.split("_")[1])


def test_a_checked_key_is_answered_from_memory_until_it_is_read_again(
    engine: Engine, keyring: KeyRing
) -> None:
    """A key read once costs no read for `seconds`; a revocation is seen once it is read again."""
    clock, reads = Clock(), Reads(engine)
    cache = KeyCache(engine, SECONDS, clock=clock)
    key = keyring.issue("police", force="01")
    assert isinstance(_verdict(cache, key), Principal)
    before = reads.count
    clock.now += SECONDS - 0.5
    assert isinstance(cache.cached(key), Principal)
    assert reads.count == before
    _revoke(engine, key)
    assert isinstance(cache.cached(key), Principal)  # within the bound: still remembered
    clock.now += 0.5
    assert cache.cached(key) is None  # the bound reached: the row must be read again
    assert _verdict(cache, key) == Refused("revoked", key.split("_")[1])


def test_a_new_key_works_at_once(engine: Engine, keyring: KeyRing) -> None:
    """A key issued after the cache started is read, not refused from memory."""
    cache = KeyCache(engine, SECONDS, clock=Clock())
    assert isinstance(_verdict(cache, keyring.issue("operator")), Principal)
    assert isinstance(_verdict(cache, keyring.issue("council", council="304")), Principal)


def test_a_wrong_secret_is_refused_from_memory_and_adds_nothing(
    engine: Engine, keyring: KeyRing
) -> None:
    """Wrong secrets for a remembered key cost no read and no memory; the right one still works."""
    clock, reads = Clock(), Reads(engine)
    cache = KeyCache(engine, SECONDS, clock=clock)
    key = keyring.issue("police", force="01")
    key_id = key.split("_")[1]
    _verdict(cache, key)
    before = reads.count
    for n in range(20):
        wrong = f"mep_{key_id}_{n:043d}"
        assert cache.cached(wrong) == Refused("wrong_secret", key_id)
    assert cache.cached("nonsense") == Refused("malformed")
    assert reads.count == before
    assert cache.sizes() == (1, 0)
    assert isinstance(cache.cached(key), Principal)


def test_made_up_ids_are_remembered_in_a_bounded_set_that_spares_real_keys(
    engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown ids are cached (a repeated one costs no read) but never more than the bound."""
    monkeypatch.setattr(key_cache, "UNKNOWN_CAPACITY", 3)
    clock, reads = Clock(), Reads(engine)
    cache = KeyCache(engine, SECONDS, clock=clock)
    key = keyring.issue("police", force="01")
    _verdict(cache, key)
    made_up = [f"mep_{n:012d}_{'A' * 43}" for n in range(50)]
    assert all(_verdict(cache, k) == Refused("unknown") for k in made_up)
    assert cache.sizes() == (1, 3)
    before = reads.count
    assert cache.cached(made_up[-1]) == Refused("unknown")
    assert isinstance(cache.cached(key), Principal)
    assert reads.count == before


@pytest.fixture
def two_apps(settings: Settings, engine: Engine) -> Iterator[list[TestClient]]:
    """Two gateway apps on one database (as two servers would be), keys cached for 0.5 s."""
    quick = settings.model_copy(update={"key_cache_s": 0.5})
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                TestClient(create_app(build_services(quick, engine=engine, upgrade=False)))
            )
            for _ in range(2)
        ]


def test_a_revoked_key_is_refused_by_every_app_within_the_bound(
    two_apps: list[TestClient], engine: Engine, keyring: KeyRing
) -> None:
    """After a revocation, each app refuses the key at most GATEWAY_KEY_CACHE_S later."""
    key = keyring.issue("police", force="01")
    headers = {"Authorization": f"Bearer {key}"}
    for client in two_apps:
        assert client.get("/v1/receipts", headers=headers).status_code == 200
    _revoke(engine, key)
    time.sleep(0.5)
    for client in two_apps:
        answer = client.get("/v1/receipts", headers=headers)
        assert answer.status_code == 401, answer.text
    fresh = {"Authorization": f"Bearer {keyring.issue('police', force='01')}"}
    for client in two_apps:
        assert client.get("/v1/receipts", headers=fresh).status_code == 200
