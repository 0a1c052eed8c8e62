"""The Mosaic client against the Mosaic simulator, in process (and once over loopback)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from adapters.mosaic import client, renderer, simulator
from adapters.simulation import FaultConfig
from gateway.errors import PermanentDelivery, RetryableDelivery
from tests.adapters.simulators import live_server, mounted, sim_target
from tests.contract.canonical_cases import CASES


class Mosaic:
    """A mounted simulator with a fake clock, and a client sending canonical cases to it."""

    def __init__(self, token_ttl_s: float = 3600.0) -> None:
        self.now = 0.0
        self.app = simulator.create_app(token_ttl_s=token_ttl_s, clock=lambda: self.now)
        self.http = mounted("mosaic", self.app)
        self.tokens = client.TokenCache(clock=lambda: self.now)

    def send(self, case: str, council: str = "304", **changes):
        """Deliver a canonical case (with optional changes) to a council."""
        request = CASES[case].model_copy(update=changes)
        return client.send(
            request,
            renderer.render(request),
            sim_target("mosaic", council),
            self.http,
            tokens=self.tokens,
        )

    def records(self) -> dict[str, Any]:
        """The simulator's record book."""
        book: dict[str, Any] = self.http.get("/sim/mosaic/_control/records").json()
        return book

    def faults(self, **config) -> None:
        """Switch the simulator's faults."""
        self.http.put("/sim/mosaic/_control/faults", json=config).raise_for_status()


@pytest.fixture
def mosaic() -> Mosaic:
    """A fresh Mosaic simulator."""
    return Mosaic()


def test_create_then_events_land_on_one_episode(mosaic):
    """The first event creates the episode; a later one is added to the same episode."""
    created = mosaic.send("reported_not_looked_after")
    found = mosaic.send("found")
    assert created.http_status == found.http_status == 201
    assert created.episode_ref == found.episode_ref
    assert created.person_id and created.person_id.startswith("MOS-P-")
    book = mosaic.records()["304"]
    assert [(r["event_type"], r["times_recorded"]) for r in book] == [("REPORTED", 1), ("FOUND", 1)]


def test_a_retry_with_the_same_key_is_answered_200_and_recorded_once(mosaic):
    """A resend (unknown outcome) gets the first answer again; Mosaic holds one record."""
    first = mosaic.send("reported_not_looked_after")
    again = mosaic.send("reported_not_looked_after")
    assert again.http_status == 200
    assert again.target_reference == first.target_reference
    [record] = mosaic.records()["304"]
    assert (record["times_recorded"], record["times_received"]) == (1, 2)


def test_an_event_for_an_episode_mosaic_lacks_falls_back_to_create(mosaic):
    """A later event reaching a council first creates the episode through the create call."""
    result = mosaic.send("found")
    assert result.http_status == 201
    assert [r["event_type"] for r in mosaic.records()["304"]] == ["FOUND"]


def test_the_same_key_with_another_body_is_refused(mosaic):
    """IDEMPOTENCY_KEY_REUSED is permanent."""
    mosaic.send("reported_not_looked_after")
    with pytest.raises(PermanentDelivery, match="Idempotency-Key"):
        mosaic.send("reported_not_looked_after", cin_factors=["10A"])


def test_no_matching_person_gives_a_null_person_id(mosaic):
    """Without an NHS number Mosaic matches no person (the MASH does it by hand)."""
    assert mosaic.send("reported_absent", council="830").person_id is None


def test_councils_are_kept_apart(mosaic):
    """Two councils served by one app have their own episodes and record books."""
    mosaic.send("reported_not_looked_after", council="304")
    mosaic.send("reported_not_looked_after", council="831")
    records = mosaic.records()
    assert sorted(records) == ["304", "831"]


def test_an_invalid_body_is_a_validation_error(mosaic):
    """A body breaking the schema answers 422 VALIDATION with paths."""
    token = client.fetch_token(mosaic.http, sim_target("mosaic"))[0]
    body = json.loads(renderer.render(CASES["reported_not_looked_after"]).body)
    body["person"]["gender"] = "X"
    answer = mosaic.http.post(
        "/sim/mosaic/304/api/v1/missing-episodes",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"},
    )
    assert answer.status_code == 422
    assert answer.json() == {"error": "VALIDATION", "details": ["$.person.gender: enum"]}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer made-up"}, 401),
    ],
)
def test_calls_without_a_live_token_are_refused(mosaic, headers, status):
    """The API refuses a missing or unknown bearer token."""
    answer = mosaic.http.post(
        "/sim/mosaic/304/api/v1/missing-episodes",
        json={},
        headers={"Idempotency-Key": "k", **headers},
    )
    assert answer.status_code == status


def test_the_token_endpoint_checks_the_grant_and_the_credentials(mosaic):
    """Only client_credentials with a non-empty id and secret and the right scope get a token."""
    url = "/sim/mosaic/304/oauth/token"
    good = {
        "grant_type": "client_credentials",
        "client_id": "a",
        "client_secret": "b",
        "scope": client.SCOPE,
    }
    assert mosaic.http.post(url, data=good).json()["token_type"] == "Bearer"
    assert mosaic.http.post(url, data={**good, "grant_type": "password"}).status_code == 400
    assert mosaic.http.post(url, data={**good, "scope": "other"}).status_code == 400
    assert mosaic.http.post(url, data={**good, "client_secret": ""}).status_code == 401


def test_an_expired_token_is_renewed_on_401():
    """A token that dies before its advertised expiry is replaced after the 401."""
    mosaic = Mosaic(token_ttl_s=60)
    mosaic.send("reported_not_looked_after")
    mosaic.now = 120.0  # the client still trusts its token; the simulator does not
    assert mosaic.send("found").http_status == 201


def test_revoked_tokens_are_renewed_on_401(mosaic):
    """After the control API revokes every token, the next send renews and succeeds."""
    mosaic.send("reported_not_looked_after")
    mosaic.http.post("/sim/mosaic/_control/revoke-tokens").raise_for_status()
    assert mosaic.send("found").http_status == 201


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        ({"outage": True}, 503),
        ({"error_rate": 1.0}, 500),
        ({"rate_limit_rate": 1.0, "retry_after_s": 9}, 429),
    ],
)
def test_injected_faults_are_retryable(mosaic, faults, status):
    """Outage, errors and rate limits answer as Mosaic would, and nothing is recorded."""
    mosaic.send("reported_not_looked_after")  # a token first, so faults hit the API call
    mosaic.faults(**faults)
    with pytest.raises(RetryableDelivery) as caught:
        mosaic.send("found")
    assert caught.value.http_status == status
    if status == 429:
        assert caught.value.retry_after == 9
    assert len(mosaic.records()["304"]) == 1


def test_reset_clears_records_and_episodes(mosaic):
    """After a reset the simulator holds nothing."""
    mosaic.send("reported_not_looked_after")
    mosaic.http.post("/sim/mosaic/_control/reset").raise_for_status()
    assert mosaic.records() == {}


def test_a_timeout_records_then_the_retry_is_exactly_once():
    """A timed-out call was recorded; the retry gets the first answer, still one record."""
    app = simulator.create_app(FaultConfig(timeout_rate=1.0, timeout_delay_s=1.0))
    request = CASES["reported_not_looked_after"]
    payload = renderer.render(request)
    tokens = client.TokenCache()
    with live_server("mosaic", app) as server, httpx.Client() as http:
        target = sim_target("mosaic", server=server, timeout_s=0.3)
        tokens.get(http, sim_target("mosaic", server=server))  # token before the faults bite
        with pytest.raises(RetryableDelivery, match="no answer in time"):
            client.send(request, payload, target, http, tokens=tokens)
        http.put(f"{server}/sim/mosaic/_control/faults", json={}).raise_for_status()
        result = client.send(request, payload, target, http, tokens=tokens)
        [record] = http.get(f"{server}/sim/mosaic/_control/records").json()["304"]
    assert result.http_status == 200
    assert record["times_recorded"] == 1
    assert record["target_reference"] == result.target_reference


def test_the_safeguarding_facts_are_recorded(mosaic):
    """Mosaic keeps the council's role, the interview's owner, the CP plan and the condition."""
    mosaic.send("reported_looked_after_away", council="831")
    mosaic.send("found_concerns")
    [host] = mosaic.records()["831"]
    assert (host["council_role"], host["return_interview_owner"]) == ("HOST", "830")
    assert (host["child_protection_plan"], host["found_condition"]) == (False, None)
    [home] = mosaic.records()["304"]
    assert (home["council_role"], home["return_interview_owner"]) == ("HOME", "304")
    assert home["found_condition"] == "CONCERNS"


def test_a_debrief_with_crime_not_known_is_accepted(mosaic):
    """`crimeDisclosed: null` is valid: Mosaic records the debrief."""
    result = mosaic.send("debriefed_crime_not_known", council="831")
    assert result.http_status == 201
    assert [r["event_type"] for r in mosaic.records()["831"]] == ["DEBRIEFED"]


@pytest.mark.parametrize(
    "field",
    ["councilRole", "returnInterviewOwnerLaCode", "childProtectionPlan", "foundCondition"],
)
def test_a_body_without_a_safeguarding_field_is_a_validation_error(mosaic, field):
    """Each new episode field is required (null where not known): leaving it out is a 422."""
    token = client.fetch_token(mosaic.http, sim_target("mosaic"))[0]
    body = json.loads(renderer.render(CASES["found"]).body)
    del body["episode"][field]
    answer = mosaic.http.post(
        "/sim/mosaic/304/api/v1/missing-episodes",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"},
    )
    assert answer.status_code == 422
    assert answer.json() == {"error": "VALIDATION", "details": ["$.episode: required"]}
    assert mosaic.records() == {}
