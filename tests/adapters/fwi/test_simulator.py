"""The FWi client against the FWi simulator: security header, MessageKey, episodes, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from adapters.fwi import client, renderer, simulator
from gateway.errors import PermanentDelivery, RetryableDelivery
from tests.adapters.simulators import mounted, sim_target
from tests.contract.canonical_cases import CASES

NOW = datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
SERVICE = "/sim/fwi/830/FWiIntegration/MissingEpisodeService.svc"


class Fwi:
    """A mounted FWi simulator on a fixed clock, and a client sending canonical cases to it."""

    def __init__(self) -> None:
        self.now = NOW
        self.http = mounted("fwi", simulator.create_app(clock=lambda: self.now))

    def send(
        self,
        case: str,
        *,
        created: datetime = NOW,
        nonce: bytes | None = None,
        credentials: dict[str, str] | None = None,
        **changes,
    ):
        """Deliver a canonical case (with optional changes) to council 830."""
        request = CASES[case].model_copy(update=changes)
        target = sim_target("fwi", "830")
        if credentials is not None:
            target = target.model_copy(update={"credentials": credentials})
        return client.send(
            request,
            renderer.render(request),
            target,
            self.http,
            clock=lambda: created,
            nonce=(lambda: nonce) if nonce else client.new_nonce,
        )

    def records(self) -> dict[str, Any]:
        """The simulator's record book."""
        book: dict[str, Any] = self.http.get("/sim/fwi/_control/records").json()
        return book


@pytest.fixture
def fwi() -> Fwi:
    """A fresh FWi simulator."""
    return Fwi()


def test_reported_creates_and_later_events_update(fwi):
    """Reported opens the episode (Created); found is added to it (Updated)."""
    created = fwi.send("reported_not_looked_after")
    found = fwi.send("found")
    assert created.episode_ref == found.episode_ref
    assert created.target_reference != found.target_reference
    assert created.person_id and created.person_id.startswith("FWI-C-")
    assert [r["event_type"] for r in fwi.records()["830"]] == ["Reported", "Found"]


def test_a_repeated_message_key_is_a_duplicate_success(fwi):
    """The same MessageKey again answers Duplicate with the first ids; one record."""
    first = fwi.send("reported_not_looked_after")
    again = fwi.send("reported_not_looked_after")
    assert (again.target_reference, again.episode_ref) == (
        first.target_reference,
        first.episode_ref,
    )
    [record] = fwi.records()["830"]
    assert (record["times_recorded"], record["times_received"]) == (1, 2)


def test_an_event_for_an_unknown_episode_is_retryable(fwi):
    """UnknownEpisode: FWi does not hold the episode yet."""
    with pytest.raises(RetryableDelivery, match="UnknownEpisode"):
        fwi.send("found")


def test_an_empty_client_id_is_no_person(fwi):
    """Without an NHS number FWi finds no client: person_id is None."""
    assert fwi.send("reported_absent").person_id is None


def test_a_reused_nonce_is_refused(fwi):
    """The same nonce twice is an Authentication fault: permanent."""
    nonce = b"0123456789abcdef"
    fwi.send("reported_not_looked_after", nonce=nonce)
    with pytest.raises(PermanentDelivery, match="Authentication"):
        fwi.send("found", nonce=nonce)


@pytest.mark.parametrize("skew", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_created_outside_five_minutes_is_refused(fwi, skew):
    """wsu:Created more than five minutes from the server's clock is refused."""
    with pytest.raises(PermanentDelivery, match="Authentication"):
        fwi.send("reported_not_looked_after", created=NOW + skew)


def test_created_within_five_minutes_is_accepted(fwi):
    """A client clock four minutes behind is fine."""
    assert fwi.send("reported_not_looked_after", created=NOW - timedelta(minutes=4))


def test_an_empty_password_is_refused(fwi):
    """The simulator accepts any credentials but requires both."""
    with pytest.raises(PermanentDelivery):
        fwi.send("reported_not_looked_after", credentials={"username": "u", "password": " "})


def _post(fwi: Fwi, body: bytes, **headers: str):
    return fwi.http.post(
        SERVICE,
        content=body,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": client.SOAP_ACTION,
            **headers,
        },
    )


def test_a_body_breaking_the_schema_is_a_validation_fault(fwi):
    """A RecordMissingEpisodeEvent that fails the XSD gets the Validation fault (HTTP 500)."""
    payload = renderer.render(CASES["reported_not_looked_after"])
    broken = payload.model_copy(update={"body": payload.body.replace(b"Reported", b"Invented")})
    envelope = client.envelope(broken, "u", "p", created=NOW, nonce=b"x" * 16)
    answer = _post(fwi, envelope)
    assert answer.status_code == 500
    with pytest.raises(PermanentDelivery, match="Validation"):
        client.classify(answer)


def test_a_wrong_soap_action_is_a_validation_fault(fwi):
    """The SOAPAction must name RecordMissingEpisodeEvent."""
    payload = renderer.render(CASES["reported_not_looked_after"])
    answer = _post(
        fwi,
        client.envelope(payload, "u", "p", created=NOW, nonce=b"y" * 16),
        SOAPAction='"urn:other"',
    )
    assert b"Validation" in answer.content


def test_a_missing_security_header_is_an_authentication_fault(fwi):
    """An envelope without a UsernameToken is refused."""
    body = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soap:Body/></soap:Envelope>"
    )
    assert b"Authentication" in _post(fwi, body).content


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        ({"outage": True}, 503),
        ({"error_rate": 1.0}, 500),
        ({"rate_limit_rate": 1.0, "retry_after_s": 4}, 503),
    ],
)
def test_injected_faults_are_retryable(fwi, faults, status):
    """Outage and rate limits are 503 without an envelope; errors an Unavailable fault."""
    fwi.http.put("/sim/fwi/_control/faults", json=faults).raise_for_status()
    with pytest.raises(RetryableDelivery) as caught:
        fwi.send("reported_not_looked_after")
    assert caught.value.http_status == status
    if "retry_after_s" in faults:
        assert caught.value.retry_after == 4
    assert fwi.records() == {}


def test_the_safeguarding_facts_are_recorded(fwi):
    """FWi keeps the council's role, the interview's owner, the CP plan and the condition."""
    fwi.send("reported_looked_after_to_responsible")
    fwi.send("found_in_custody")
    reported, found = fwi.records()["830"]
    assert (reported["council_role"], reported["return_interview_owner"]) == ("Responsible", "830")
    assert (reported["child_protection_plan"], reported["found_condition"]) == (False, None)
    assert (found["council_role"], found["found_condition"]) == ("Home", "InCustody")


def test_a_debrief_with_crime_not_known_is_accepted(fwi):
    """`CrimeDisclosed xsi:nil="true"` is valid: FWi records the debrief."""
    fwi.send("reported_not_looked_after")
    fwi.send("debriefed_crime_not_known")
    assert [r["event_type"] for r in fwi.records()["830"]] == ["Reported", "Debriefed"]


@pytest.mark.parametrize("element", ["ChildProtectionPlan", "CouncilRole"])
def test_a_body_without_a_safeguarding_element_is_a_validation_fault(fwi, element):
    """ChildProtectionPlan and CouncilRole are required: leaving one out is a Validation fault."""
    payload = renderer.render(CASES["found"])
    root = etree.fromstring(payload.body)
    (gone,) = root.iterfind(f".//{{{renderer.NS}}}Episode/{{{renderer.NS}}}{element}")
    gone.getparent().remove(gone)
    broken = payload.model_copy(update={"body": etree.tostring(root)})
    answer = _post(fwi, client.envelope(broken, "u", "p", created=NOW, nonce=b"y" * 16))
    assert answer.status_code == 500
    with pytest.raises(PermanentDelivery, match="Validation"):
        client.classify(answer)
    assert fwi.records() == {}
