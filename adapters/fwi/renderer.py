"""Render a delivery as the body of FWi's RecordMissingEpisodeEvent call (docs/council-it.md), pure.

The payload is the `RecordMissingEpisodeEvent` element alone, validated against `schema/`; the
client wraps it in the SOAP envelope with a fresh WS-Security header on every attempt, so no
password or nonce is ever part of the stored payload. Codes come from `mappings/fwi.yaml`.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

import mappings
from adapters.base import DeliveryRequest, Payload
from adapters.codes import CodeTables, episode_kind
from adapters.rendering import debrief_to_send, utc_text
from adapters.xmldoc import sub, sub_nil, sub_optional, validate_xml, xml_bytes
from gateway.canonical import Child, EpisodeEvent, PoliceContact

NS = "urn:fwi:integration:missing:1"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "record-missing-episode-event.xsd"
MEDIA_TYPE = "text/xml; charset=utf-8"
CODES = CodeTables("fwi", mappings.path("fwi.yaml"))


def render(request: DeliveryRequest) -> Payload:
    """The `RecordMissingEpisodeEvent` document for this delivery, validated against the XSD.

    Raises:
        PermanentDelivery: a code has no FWi mapping, or the document breaks the schema.
    """
    root = etree.Element(f"{{{NS}}}RecordMissingEpisodeEvent", nsmap={None: NS})
    _request(sub(root, "Request"), request)
    body = xml_bytes(root)
    validate_xml(root, body, SCHEMA_PATH, "fwi")
    return Payload(media_type=MEDIA_TYPE, body=body)


def pascal(code: str) -> str:
    """`strategy_meeting_required` → `StrategyMeetingRequired` (FWi's style for codes)."""
    return "".join(part[:1].upper() + part[1:] for part in code.split("_"))


def _boolean(value: bool) -> str:
    return "true" if value else "false"


def _request(parent: etree._Element, request: DeliveryRequest) -> None:
    event = request.event
    sub(parent, "ExternalReference", request.episode_id)
    sub(parent, "MessageKey", request.idempotency_key)
    sub(parent, "EventType", CODES.code("event_type", event.type))
    sub(parent, "EventTime", utc_text(event.at))
    _client(sub(parent, "Client"), event.child)
    _episode(sub(parent, "Episode"), request)
    _debrief(parent, event)
    if request.alerts:
        alerts = sub(parent, "Alerts")
        for alert in request.alerts:
            sub(alerts, "Alert", alert.reason).set("code", pascal(alert.code))
    _police(sub(parent, "Police"), event.episode.police)


def _client(parent: etree._Element, child: Child) -> None:
    sub(parent, "Forename", child.given_names)
    sub(parent, "Surname", child.family_name)
    sub(parent, "DateOfBirth", child.date_of_birth.isoformat())
    sub(parent, "Gender", CODES.code("gender", child.gender))
    sub_optional(parent, "NHSNumber", child.nhs_number)
    address = sub(parent, "Address")
    for line in child.home_address.lines:
        sub(address, "Line", line)
    sub(address, "Postcode", child.home_address.postcode)


def _episode(parent: etree._Element, request: DeliveryRequest) -> None:
    episode = request.event.episode
    sub(parent, "EpisodeType", CODES.code("episode_type", episode_kind(episode)))
    sub(parent, "PoliceCategory", CODES.code("police_category", episode.police_category))
    sub(parent, "RiskLevel", CODES.code("risk_level", episode.risk_level))
    sub(parent, "Status", CODES.code("status", episode.status))
    last_seen = sub(parent, "LastSeen")
    sub(last_seen, "Time", utc_text(episode.last_seen_at))
    sub(last_seen, "Location", episode.last_seen_location)
    sub(sub(parent, "Reported"), "Time", utc_text(episode.reported_at))
    if episode.found is not None:
        found = sub(parent, "Found")
        sub(found, "Time", utc_text(episode.found.at))
        sub(found, "Location", episode.found.location)
    sub(parent, "Circumstances", episode.circumstances or "")
    if episode.vulnerabilities:
        vulnerabilities = sub(parent, "Vulnerabilities")
        for vulnerability in dict.fromkeys(episode.vulnerabilities):
            sub(vulnerabilities, "Vulnerability", CODES.code("vulnerability", vulnerability))
    sub(parent, "LookedAfter", _boolean(episode.looked_after))
    care = episode.care
    sub_optional(
        parent, "LegalStatus", care.legal_status.value if care and care.legal_status else None
    )
    sub_optional(parent, "ResponsibleLA", episode.responsible_council)
    sub(parent, "ChildProtectionPlan", _boolean(episode.on_child_protection_plan))
    sub(parent, "CouncilRole", CODES.code("council_role", request.council_role))
    if request.return_interview_due_by is not None:
        sub(parent, "ReturnInterviewDue", utc_text(request.return_interview_due_by))
    sub_optional(parent, "ReturnInterviewOwnerLA", request.return_interview_owner)
    if episode.found is not None:
        sub(parent, "FoundCondition", CODES.code("found_condition", episode.found.condition))


def _debrief(parent: etree._Element, event: EpisodeEvent) -> None:
    """The Debrief element, on a Debriefed event only (as Mosaic's debrief object)."""
    debrief = debrief_to_send(event, "fwi")
    if debrief is None:
        return
    element = sub(parent, "Debrief")
    sub(element, "Conducted", utc_text(debrief.conducted_at))
    sub(element, "Method", CODES.code("interview_method", debrief.method))
    sub(element, "Declined", _boolean(debrief.declined))
    sub(element, "HarmDisclosed", _boolean(debrief.harm_disclosed))
    if debrief.crime_disclosed is None:  # not known: the element stays, nil (decision 0019)
        sub_nil(element, "CrimeDisclosed")
    else:
        sub(element, "CrimeDisclosed", _boolean(debrief.crime_disclosed))
    sub_optional(element, "Summary", debrief.summary or None)


def _police(parent: etree._Element, police: PoliceContact) -> None:
    sub(parent, "Officer", police.officer)
    sub(parent, "Unit", police.unit)
    sub(parent, "Phone", police.phone)
    sub(parent, "Email", police.email)
