"""Failed authentications are logged (who, from where, never the key) and limited with 429."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from structlog.testing import capture_logs

from gateway.api import auth_failures
from gateway.api.app import build_services, create_app
from gateway.api.auth_failures import AuthFailures
from gateway.keys import Refused, parse
from gateway.settings import Settings
from tests.conftest import KeyRing
from tests.messages import merlin, new_id
from tests.ui.conftest import csrf_of

LIMIT = 3
XML = {"Content-Type": "application/xml"}


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_limited_until_its_oldest_failure_leaves_the_window() -> None:
    """The limit is a sliding window: `limit` failures, then a wait until the first expires."""
    clock = Clock()
    failures = AuthFailures(LIMIT, 60, clock)
    for _ in range(LIMIT):
        assert failures.address_wait("192.0.2.1") is None
        failures.failed("192.0.2.1", Refused("malformed"), via="api", path="/v1/deliveries")
        clock.now += 10
    assert failures.address_wait("192.0.2.1") == 30
    assert failures.address_wait("192.0.2.2") is None
    clock.now += 30
    assert failures.address_wait("192.0.2.1") is None


def test_a_key_past_its_limit_is_answered_with_its_wait_from_any_address() -> None:
    """Wrong secrets naming one key, from many addresses, reach the key's limit."""
    failures = AuthFailures(LIMIT, 60, Clock())
    refused = Refused("wrong_secret", "abcdefghijkl")
    waits = [
        failures.failed(f"192.0.2.{n}", refused, via="api", path="/x") for n in range(LIMIT + 2)
    ]
    assert waits[:LIMIT] == [None] * LIMIT and waits[LIMIT:] == [60, 60]


def test_memory_is_bounded_however_many_addresses_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the most recently failing addresses are remembered."""
    monkeypatch.setattr(auth_failures, "CAPACITY", 5)
    failures = AuthFailures(1, 60, Clock())
    for n in range(20):
        failures.failed(f"10.0.0.{n}", Refused("malformed"), via="api", path="/x")
    assert failures.address_wait("10.0.0.0") is None  # forgotten
    assert failures.address_wait("10.0.0.19") == 60
    assert len(failures._addresses._times) == 5


@pytest.fixture
def limited(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The app with a failure limit of 3 per minute."""
    tight = settings.model_copy(update={"auth_failure_limit": LIMIT})
    with TestClient(create_app(build_services(tight, engine=engine, upgrade=False))) as client:
        yield client


def _bad(key: str) -> dict[str, str]:
    """The key with its secret changed (its id kept)."""
    return {"Authorization": f"Bearer {key[:-4]}{'BBBB' if key.endswith('AAAA') else 'AAAA'}"}


def test_a_refused_key_is_logged_with_its_id_and_the_client_never_its_secret(
    limited: TestClient, keyring: KeyRing
) -> None:
    """`auth_failed` names the reason, the key's id and the client's address."""
    key = keyring.issue("police", force="01")
    wrong = _bad(key)
    with capture_logs() as logs:
        assert limited.get("/v1/deliveries", headers=wrong).status_code == 401
        assert limited.get("/v1/deliveries").status_code == 401
    failed = [e for e in logs if e["event"] == "auth_failed"]
    assert [(e["reason"], e["key_id"], e["client"], e["via"]) for e in failed] == [
        ("wrong_secret", key.split("_")[1], "testclient", "api"),
        ("missing", None, "testclient", "api"),
    ]
    text = json.dumps(logs)
    parsed = parse(key)  # the secret itself may hold "_": parse it, do not split on "_"
    assert parsed is not None
    assert parsed[1] not in text and wrong["Authorization"][7:] not in text


def test_an_address_past_its_limit_gets_429_for_any_key(
    limited: TestClient, keyring: KeyRing
) -> None:
    """After 3 failures, the address is refused before its key is looked at, valid or not."""
    good = keyring.headers("police", force="01")
    with capture_logs() as logs:
        for _ in range(LIMIT):
            assert (
                limited.get("/v1/deliveries", headers=_bad(good["Authorization"])).status_code
                == 401
            )
        refused = limited.get("/v1/deliveries", headers=good)
        again = limited.get("/v1/deliveries", headers=good)
    assert refused.status_code == 429 and again.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "too-many-failed-authentications"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    events = [e["event"] for e in logs]
    assert events.count("auth_failed") == LIMIT
    assert [e["limited"] for e in logs if e["event"] == "auth_failures_limited"] == ["client"]
    other = TestClient(limited.app, client=("192.0.2.50", 1000))
    assert other.get("/v1/deliveries", headers=good).status_code == 403  # police: not 429


def test_a_key_past_its_limit_refuses_wrong_secrets_but_not_its_own(
    limited: TestClient, keyring: KeyRing
) -> None:
    """Nobody who knows a key's id can lock its force out: the right secret still works."""
    key = keyring.issue("police", force="01")
    answers = []
    for n in range(LIMIT + 1):
        client = TestClient(limited.app, client=(f"192.0.2.{n}", 1000))
        answers.append(client.get("/v1/deliveries", headers=_bad(key)).status_code)
    assert answers == [401] * LIMIT + [429]
    owner = TestClient(limited.app, client=("198.51.100.1", 1000))
    body = merlin(message_id=new_id())
    sent = owner.post(
        "/v1/inbound/merlin", content=body, headers={**XML, "Authorization": f"Bearer {key}"}
    )
    assert sent.status_code == 202, sent.text


def _sign_in(client: TestClient, key: str) -> Any:
    form = client.get("/ui/sign-in")
    data = {"api_key": key, "csrf_token": csrf_of(form.text)}
    return client.post("/ui/sign-in", data=data, follow_redirects=False)


def test_failed_sign_ins_are_logged_and_then_paused_with_429(
    limited: TestClient, keyring: KeyRing
) -> None:
    """The sign-in form counts with the API; past the limit it shows a 429 page."""
    key = keyring.issue("council", council="304")
    with capture_logs() as logs:
        statuses = [_sign_in(limited, _bad(key)["Authorization"][7:]).status_code for _ in range(4)]
        paused = _sign_in(limited, key)
    assert statuses == [401, 401, 401, 429] and paused.status_code == 429
    assert "Too many failed sign-ins" in paused.text and "Retry-After" in paused.headers
    assert {e["via"] for e in logs if e["event"] == "auth_failed"} == {"ui"}
