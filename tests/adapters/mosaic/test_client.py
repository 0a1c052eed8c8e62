"""The Mosaic client against scripted answers: calls, token cache, refresh on 401, fallbacks."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from adapters.base import TargetConfig
from adapters.mosaic import client, renderer
from gateway.errors import PermanentDelivery, RetryableDelivery
from tests.contract.canonical_cases import CASES

BASE = "https://mosaic.example.org/integration"
SECRET = "mosaic-secret-Testchild-0001"
IDS = {"episodeId": "MOS-EP-000001", "personId": None, "eventId": "MOS-EV-000001"}


def target(client_id: str = "gateway", **changes) -> TargetConfig:
    """A Mosaic routing entry."""
    return TargetConfig(
        council="304",
        system="mosaic",
        base_url=BASE,
        credentials={"client_id": client_id, "client_secret": SECRET},
        **changes,
    )


class Script:
    """A scripted Mosaic: tokens numbered from 1, API answers popped from a list."""

    def __init__(self, *answers: httpx.Response, token_status: int = 200) -> None:
        self.answers = list(answers)
        self.token_status = token_status
        self.tokens = 0
        self.calls: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if request.url.path.endswith("/oauth/token"):
                self.tokens += 1
                if self.token_status != 200:
                    return httpx.Response(
                        self.token_status, json={"error": "invalid_client", "echo": SECRET}
                    )
                return httpx.Response(
                    200,
                    json={
                        "access_token": f"token-{self.tokens}",
                        "token_type": "Bearer",
                        "expires_in": 3600,
                    },
                )
            self.calls.append(request)
            return self.answers.pop(0)

    def http(self) -> httpx.Client:
        """An httpx client served by this script."""
        return httpx.Client(transport=httpx.MockTransport(self))


def send(case: str, script: Script, tokens: client.TokenCache | None = None, **target_changes):
    """Send a canonical case through the script with a private token cache."""
    request = CASES[case]
    with script.http() as http:
        return client.send(
            request,
            renderer.render(request),
            target(**target_changes),
            http,
            tokens=tokens or client.TokenCache(),
        )


def test_first_event_for_the_council_is_the_create_call_with_every_header():
    """first_for_target posts to /missing-episodes with bearer token, key and JSON type."""
    script = Script(httpx.Response(201, json=IDS))
    result = send("reported_not_looked_after", script)
    call = script.calls[0]
    assert call.url == f"{BASE}/api/v1/missing-episodes"
    assert call.headers["Authorization"] == "Bearer token-1"
    assert call.headers["Idempotency-Key"] == "key-reported_not_looked_after"
    assert call.headers["Content-Type"] == "application/json"
    assert call.content == renderer.render(CASES["reported_not_looked_after"]).body
    assert (result.acknowledged, result.target_reference, result.episode_ref, result.person_id) == (
        True,
        "MOS-EV-000001",
        "MOS-EP-000001",
        None,
    )


def test_later_events_use_the_events_call():
    """A later event posts to /missing-episodes/{externalReference}/events."""
    script = Script(httpx.Response(201, json=IDS))
    send("found", script)
    assert script.calls[0].url == f"{BASE}/api/v1/missing-episodes/EP-000001/events"


def test_unknown_episode_on_the_events_call_retries_as_create_with_the_same_key():
    """A 404 on the events call resends the same body and key as the create call."""
    script = Script(
        httpx.Response(404, json={"error": "EPISODE_NOT_FOUND"}), httpx.Response(201, json=IDS)
    )
    result = send("found", script)
    events, create = script.calls
    assert create.url == f"{BASE}/api/v1/missing-episodes"
    assert create.content == events.content
    assert create.headers["Idempotency-Key"] == events.headers["Idempotency-Key"]
    assert result.http_status == 201


def test_a_401_renews_the_token_and_tries_once_more():
    """An expired token is replaced and the same call repeated, once."""
    script = Script(httpx.Response(401), httpx.Response(201, json=IDS))
    send("reported_not_looked_after", script)
    assert [c.headers["Authorization"] for c in script.calls] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_a_second_401_is_permanent():
    """Credentials refused after a renewal need a person: permanent, no third attempt."""
    script = Script(httpx.Response(401), httpx.Response(401))
    with pytest.raises(PermanentDelivery, match="credentials"):
        send("reported_not_looked_after", script)
    assert len(script.calls) == 2


def test_tokens_are_cached_per_base_url_and_client_id():
    """Two sends share a token; another client id gets its own."""
    tokens = client.TokenCache()
    script = Script(*(httpx.Response(201, json=IDS) for _ in range(3)))
    send("reported_not_looked_after", script, tokens)
    send("found", script, tokens)
    assert script.tokens == 1
    send("found", script, tokens, client_id="another")
    assert script.tokens == 2


def test_a_token_is_renewed_shortly_before_it_expires():
    """At 3600 s a token is reused for 3540 s, then renewed."""
    now = [0.0]
    tokens = client.TokenCache(clock=lambda: now[0])
    script = Script(*(httpx.Response(201, json=IDS) for _ in range(3)))
    send("found", script, tokens)
    now[0] = 3539.0
    send("found", script, tokens)
    assert script.tokens == 1
    now[0] = 3541.0
    send("found", script, tokens)
    assert script.tokens == 2


def test_concurrent_sends_fetch_one_token():
    """Eight threads sending at once share a single token fetch."""
    tokens = client.TokenCache()
    script = Script(*(httpx.Response(201, json=IDS) for _ in range(8)))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            send("found", script, tokens)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert script.tokens == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, PermanentDelivery), (400, PermanentDelivery), (503, RetryableDelivery)],
)
def test_token_endpoint_failures_are_classified_without_the_secret(status, error):
    """A refused token request is permanent, an unavailable one retryable; no secret leaks."""
    with pytest.raises(error) as caught:
        send("reported_not_looked_after", Script(token_status=status))
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"token_type": "Bearer"}),
        httpx.Response(200, json={"access_token": "has space", "expires_in": 60}),
        httpx.Response(200, content=b"not json"),
    ],
)
def test_a_malformed_token_answer_is_retryable(answer: httpx.Response):
    """A token answer that is not a usable token is a temporary failure."""

    def handler(request: httpx.Request) -> httpx.Response:
        return answer

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
        pytest.raises(RetryableDelivery),
    ):
        client.fetch_token(http, target())


def test_missing_credentials_are_permanent_and_named():
    """A target without a client secret says which key is missing, not any value."""
    bare = TargetConfig(
        council="304", system="mosaic", base_url=BASE, credentials={"client_id": "gateway"}
    )
    with (
        httpx.Client(transport=httpx.MockTransport(Script())) as http,
        pytest.raises(PermanentDelivery, match="client_secret"),
    ):
        client.fetch_token(http, bare)


def test_a_redirect_is_refused_and_not_followed():
    """A 3xx answer is permanent ("redirect refused") and its Location is never called."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        calls.append(request)
        return httpx.Response(302, headers={"Location": "https://elsewhere.example.org/"})

    request = CASES["reported_not_looked_after"]
    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
        pytest.raises(PermanentDelivery, match="redirect refused"),
    ):
        client.send(request, renderer.render(request), target(), http, tokens=client.TokenCache())
    assert len(calls) == 1


def test_a_timeout_is_retryable():
    """No answer in time is an unknown outcome: retry with the same key."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        raise httpx.ReadTimeout("timed out", request=request)

    request = CASES["reported_not_looked_after"]
    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
        pytest.raises(RetryableDelivery, match="no answer in time"),
    ):
        client.send(request, renderer.render(request), target(), http, tokens=client.TokenCache())


def test_validation_details_are_reported_by_path_only():
    """A VALIDATION answer names the JSON paths it gives, never their free text."""
    answer = httpx.Response(
        422,
        content=json.dumps(
            {
                "error": "VALIDATION",
                "details": ["$.person.surname: Testchild is wrong", "no path here"],
            }
        ).encode(),
    )
    with pytest.raises(PermanentDelivery) as caught:
        client.classify(answer)
    assert "$.person.surname" in caught.value.reason
    assert "Testchild" not in caught.value.reason
