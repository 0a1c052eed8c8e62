"""Render a delivery as a Liquidlogic Protocol import document (docs/council-it.md), pure.

The document is validated against `schema/` and kept under the import's 2 MiB limit; its file
name (`<LA code>_<idempotency key>.xml`) is chosen by the client. Codes come from
`mappings/protocol.yaml`.
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
from gateway.errors import PermanentDelivery

NS = "urn:protocol-ics:import:missing:1"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "protocol-import.xsd"
MEDIA_TYPE = "application/xml"
MAX_FILE_BYTES = 2 * 1024 * 1024
CODES = CodeTables("protocol", mappings.path("protocol.yaml"))


def render(request: DeliveryRequest) -> Payload:
    """The `ProtocolImport` document for this delivery, validated against the XSD.

    Raises:
        PermanentDelivery: a code has no Protocol mapping, the document breaks the schema,
            or it is larger than the import accepts.
    """
    root = etree.Element(f"{{{NS}}}ProtocolImport", nsmap={None: NS}, formatVersion="1")
    _notification(sub(root, "Notification"), request)
    body = xml_bytes(root)
    if len(body) > MAX_FILE_BYTES:
        raise PermanentDelivery(f"protocol: document of {len(body)} bytes is over 2 MiB")
    validate_xml(root, body, SCHEMA_PATH, "protocol")
    return Payload(media_type=MEDIA_TYPE, body=body)


def _yes_no(value: bool) -> str:
    return "Y" if value else "N"


def _notification(parent: etree._Element, request: DeliveryRequest) -> None:
    event = request.event
    sub(parent, "ExternalRef", request.episode_id)
    sub(parent, "EventCode", CODES.code("event_type", event.type))
    sub(parent, "EventDateTime", utc_text(event.at))
    _child(sub(parent, "Child"), event.child)
    _episode(sub(parent, "Episode"), request)
    _debrief(parent, event)
    for alert in request.alerts:
        sub(parent, "Alert", alert.reason).set("code", alert.code.upper())
    _police(sub(parent, "Police"), event.episode.police)


def _child(parent: etree._Element, child: Child) -> None:
    sub(parent, "Forenames", child.given_names)
    sub(parent, "Surname", child.family_name)
    sub(parent, "DOB", child.date_of_birth.isoformat())
    sub(parent, "Sex", CODES.code("gender", child.gender))
    sub_optional(parent, "NHSNo", child.nhs_number)
    address = sub(parent, "Address")
    for line in child.home_address.lines:
        sub(address, "Line", line)
    sub(address, "PostCode", child.home_address.postcode)


def _episode(parent: etree._Element, request: DeliveryRequest) -> None:
    episode = request.event.episode
    sub(parent, "Kind", CODES.code("episode_type", episode_kind(episode)))
    sub(parent, "PoliceCategory", CODES.code("police_category", episode.police_category))
    sub(parent, "Risk", CODES.code("risk_level", episode.risk_level))
    sub(parent, "State", CODES.code("status", episode.status))
    sub(parent, "LastSeenDateTime", utc_text(episode.last_seen_at))
    sub(parent, "LastSeenPlace", episode.last_seen_location)
    sub(parent, "ReportedDateTime", utc_text(episode.reported_at))
    if episode.found is not None:
        sub(parent, "FoundDateTime", utc_text(episode.found.at))
        sub(parent, "FoundPlace", episode.found.location)
    sub(parent, "Summary", episode.circumstances or "")
    for vulnerability in dict.fromkeys(episode.vulnerabilities):
        sub(parent, "Vulnerability", CODES.code("vulnerability", vulnerability))
    sub(parent, "LAC", _yes_no(episode.looked_after))
    care = episode.care
    sub_optional(
        parent, "LegalStatus", care.legal_status.value if care and care.legal_status else None
    )
    sub_optional(parent, "ResponsibleLA", episode.responsible_council)
    sub(parent, "CPPlan", _yes_no(episode.on_child_protection_plan))
    sub(parent, "Role", CODES.code("council_role", request.council_role))
    if request.return_interview_due_by is not None:
        sub(parent, "RHIDueBy", utc_text(request.return_interview_due_by))
    sub_optional(parent, "RHIOwnerLA", request.return_interview_owner)
    if episode.found is not None:
        sub(parent, "FoundCondition", CODES.code("found_condition", episode.found.condition))


def _debrief(parent: etree._Element, event: EpisodeEvent) -> None:
    """The Debrief element, on a DEBRIEF event only (as Mosaic's debrief object)."""
    debrief = debrief_to_send(event, "protocol")
    if debrief is None:
        return
    element = sub(parent, "Debrief")
    sub(element, "DateTime", utc_text(debrief.conducted_at))
    sub(element, "Method", CODES.code("interview_method", debrief.method))
    sub(element, "Declined", _yes_no(debrief.declined))
    sub(element, "Harm", _yes_no(debrief.harm_disclosed))
    if debrief.crime_disclosed is None:  # not known: the element stays, nil (decision 0019)
        sub_nil(element, "Crime")
    else:
        sub(element, "Crime", _yes_no(debrief.crime_disclosed))
    sub_optional(element, "Notes", debrief.summary or None)


def _police(parent: etree._Element, police: PoliceContact) -> None:
    sub(parent, "Officer", police.officer)
    sub(parent, "Unit", police.unit)
    sub(parent, "Phone", police.phone)
    sub(parent, "Email", police.email)
