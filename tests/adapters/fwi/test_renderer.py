"""The FWi renderer: the RecordMissingEpisodeEvent body exactly as docs/council-it.md describes."""

from __future__ import annotations

import pytest
from lxml import etree

from adapters import xml
from adapters.fwi import renderer
from gateway.errors import PermanentDelivery
from tests.contract.canonical_cases import CASES

NS = {"f": renderer.NS}


def doc(case: str) -> etree._Element:
    """The rendered body of a canonical case, parsed."""
    return xml.parse(renderer.render(CASES[case]).body).root


def text(root: etree._Element, path: str) -> str | None:
    """The text at an `f:`-prefixed path below Request."""
    return root.findtext(f"f:Request/{path}", namespaces=NS)


def test_episode_type_is_away_from_placement_only_for_dfe_type_a():
    """AwayFromPlacement for DfE type A; Missing for type M and other children."""
    assert text(doc("reported_looked_after_away"), "f:Episode/f:EpisodeType") == "AwayFromPlacement"
    assert text(doc("reported_looked_after_missing"), "f:Episode/f:EpisodeType") == "Missing"
    assert text(doc("reported_absent"), "f:Episode/f:EpisodeType") == "Missing"
    assert text(doc("reported_absent"), "f:Episode/f:PoliceCategory") == "Absent"


def test_the_message_key_is_the_idempotency_key():
    """MessageKey carries the delivery's idempotency key; ExternalReference the episode id."""
    root = doc("found")
    assert text(root, "f:MessageKey") == "key-found"
    assert text(root, "f:ExternalReference") == "EP-000001"


def test_codes_are_pascal_case():
    """Vulnerabilities, alerts and the event type use FWi's PascalCase codes."""
    root = doc("updated_with_alerts")
    assert text(root, "f:EventType") == "Updated"
    alerts = root.findall("f:Request/f:Alerts/f:Alert", NS)
    assert [a.get("code") for a in alerts] == ["StrategyMeetingRequired", "CseScreeningRequired"]
    vulnerabilities = root.findall("f:Request/f:Episode/f:Vulnerabilities/f:Vulnerability", NS)
    assert [v.text for v in vulnerabilities] == [
        "GangAssociation",
        "DomesticAbuse",
        "MissingWithFamily",
    ]


def test_optional_elements_are_left_out_when_unknown():
    """No NHS number, no vulnerabilities, no debrief, no alerts: the elements are absent."""
    root = doc("reported_absent")
    for path in (
        "f:Client/f:NHSNumber",
        "f:Episode/f:Vulnerabilities",
        "f:Debrief",
        "f:Alerts",
        "f:Episode/f:Found",
        "f:Episode/f:LegalStatus",
    ):
        assert root.find(f"f:Request/{path}", NS) is None, path
    assert text(root, "f:Episode/f:Circumstances") == ""


def test_debrief_and_return_interview_on_the_debriefed_event():
    """Debriefed carries the disclosures as xs:boolean and the return-interview deadline."""
    root = doc("debriefed_with_disclosures")
    assert text(root, "f:Debrief/f:HarmDisclosed") == "true"
    assert text(root, "f:Debrief/f:Declined") == "false"
    assert text(root, "f:Episode/f:ReturnInterviewDue") == "2024-05-05T09:15:00Z"
    assert doc("closed").find("f:Request/f:Debrief", NS) is None


def test_the_payload_holds_no_security_header():
    """Credentials are added per attempt by the client, never stored with the payload."""
    body = renderer.render(CASES["found"]).body
    assert b"Security" not in body and b"Envelope" not in body


def test_text_xml_cannot_carry_is_permanent():
    """A control character in free text cannot be expressed in XML 1.0."""
    request = CASES["found"]
    episode = request.event.episode.model_copy(update={"circumstances": "bad \x01 text"})
    event = request.event.model_copy(update={"episode": episode})
    with pytest.raises(PermanentDelivery, match="Circumstances"):
        renderer.render(request.model_copy(update={"event": event}))


@pytest.mark.parametrize(
    ("code", "expected"), [("strategy_meeting_required", "StrategyMeetingRequired"), ("cse", "Cse")]
)
def test_pascal(code, expected):
    """Canonical snake case becomes PascalCase."""
    assert renderer.pascal(code) == expected
