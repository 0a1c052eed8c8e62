"""Bytes to a checked `CompactMessage`: hardened parse, XSD, typed model, semantic rules.

The XSD settles structure and code lists; what it cannot say is checked here, each failure a
`SemanticInvalid` naming the element (or `/@attribute`) and line, never the offending value
(which may be personal data). Reading is direct lxml
child lookups on the validated tree: this runs on every inbound request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from lxml import etree

from adapters import xml
from adapters.compact import councils, localtime, mapping
from adapters.compact.model import (
    Address,
    Care,
    Case,
    CompactMessage,
    Council,
    Locate,
    Located,
    Oic,
    Person,
    PreventionInterview,
    RiskAssessment,
    Timeline,
)
from gateway.canonical import nhs_number_is_valid, normalise_nhs_number, normalise_postcode
from gateway.errors import SchemaInvalid, SemanticInvalid

NAMESPACE = "urn:compact:missing-persons:export:3"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "compact-3.4.xsd"
_NS = "{" + NAMESPACE + "}"
Element = etree._Element
T = TypeVar("T")


def parse(body: bytes) -> CompactMessage:
    """Parse, validate and semantically check one COMPACT export.

    Raises:
        gateway.errors.MalformedXml: not well-formed or a forbidden construct (400).
        gateway.errors.SchemaInvalid: breaks the XSD (422 `schema-invalid`).
        gateway.errors.SemanticInvalid: breaks a rule of docs/police-it.md (422, with its code).
    """
    doc = xml.parse(body)
    xml.load_schema(SCHEMA_PATH).validate(doc)
    reader = _Reader(doc)
    message = reader.message()
    _check(message, reader)
    return message


@dataclass(frozen=True, slots=True)
class _Kids:
    """An element's children by tag: one pass over them, then dictionary lookups."""

    parent: Element
    tags: dict[object, Element]  # keyed by Clark-notation tag


def _kids(parent: Element) -> _Kids:
    # The hardened parser drops comments and processing instructions: every child is an element.
    return _Kids(parent, {child.tag: child for child in parent})


def _token(element: Element) -> str:
    return " ".join((element.text or "").split())


def _flag(element: Element) -> bool:
    return mapping.flag(_token(element))


class _Reader:
    """Builds the typed model from a validated tree, remembering elements to point at."""

    def __init__(self, doc: xml.ParsedXml) -> None:
        self.doc = doc
        self.seen: dict[str, Element] = {}

    # --- locating ----------------------------------------------------------------------------

    def reject(
        self, code: str, element: Element, message: str, attribute: str | None = None
    ) -> SemanticInvalid:
        """A `SemanticInvalid` pointing at `element` (or its `attribute`)."""
        where = xml.locate(element, self.doc, message)
        if attribute is not None:
            where = replace(where, path=f"{where.path}/@{attribute}")
        return SemanticInvalid(f"{where.path}: {message}", [where], code=code)

    def child(self, kids: _Kids, name: str) -> Element:
        """A child the XSD requires (absent only if validation was skipped)."""
        element = kids.tags.get(_NS + name)
        if element is None:
            where = xml.locate(kids.parent, self.doc, f"{name} is missing")
            raise SchemaInvalid(f"{where.path}: {name} is missing", [where])
        return element

    def text(self, kids: _Kids, name: str) -> str:
        """The whitespace-collapsed text of a required child."""
        return _token(self.child(kids, name))

    def optional(self, kids: _Kids, name: str, read: Callable[[Element], T]) -> T | None:
        """`read(child)` when the optional child is present, else None."""
        element = kids.tags.get(_NS + name)
        return None if element is None else read(element)

    def time(self, element: Element, attribute: str | None = None) -> datetime:
        """A local time (element text or attribute) in UTC."""
        text = element.get(attribute, "") if attribute else (element.text or "")
        try:
            return localtime.to_utc(text)
        except localtime.LocalTimeError as exc:
            raise self.reject(exc.code, element, str(exc), attribute) from exc

    def date(self, element: Element) -> date:
        """A `dd/mm/yyyy` date."""
        try:
            return localtime.parse_date(element.text or "")
        except localtime.LocalTimeError as exc:
            raise self.reject(exc.code, element, str(exc)) from exc

    def council(self, element: Element) -> Council:
        """A council name with the LA code it matches, or None: never a reason to refuse.

        A name that matches no council is kept verbatim (whitespace collapsed, as the XSD's
        token type reads it) for an operator to resolve (docs/police-it.md). A blank one breaks the
        XSD's `minLength`; it is checked here too, so no caller can build a nameless council.
        """
        name = _token(element)
        if not name:
            raise self.reject("blank-council-name", element, "the council name is blank")
        return Council(name=name, code=councils.lookup(name))

    # --- sections ----------------------------------------------------------------------------

    def message(self) -> CompactMessage:
        """The whole export."""
        root = _kids(self.doc.root)
        case = self.child(root, "Case")
        header = _kids(self.child(root, "ExportHeader"))
        self.seen.update(Case=case, ExportedAt=self.child(header, "ExportedAt"))
        typed = self.case(case)
        return CompactMessage(
            source="compact",
            message_id=self.text(header, "ExportId"),
            force=self.text(header, "ForceCode"),
            reference=typed.case_number,
            version=typed.sequence_no,
            sent_at=self.time(self.seen["ExportedAt"]),
            c14n_sha256=self.doc.c14n_sha256,
            event_type=self.text(header, "EventType"),
            case=typed,
        )

    def case(self, case: Element) -> Case:
        """`Case`."""
        k = _kids(case)
        self.seen["CaseNumber"] = self.child(k, "CaseNumber")
        return Case(
            case_number=_token(self.seen["CaseNumber"]),
            sequence_no=int(self.text(k, "SequenceNo")),
            incident_number=self.optional(k, "IncidentNumber", _token),
            person=self.person(self.child(k, "Person")),
            care=self.optional(k, "Care", self.care),
            vulnerabilities=self.optional(k, "Vulnerabilities", self.vulnerabilities) or (),
            risk_assessments=self.risks(self.child(k, "RiskAssessments")),
            timeline=self.timeline(self.child(k, "Timeline")),
            locate=self.optional(k, "Locate", self.locate),
            closure_reason=self.optional(k, "ClosureReason", _token),
            oic=self.oic(self.child(k, "OIC")),
        )

    def person(self, person: Element) -> Person:
        """`Person`."""
        k = _kids(person)
        self.seen["DOB"] = self.child(k, "DOB")
        return Person(
            urn=self.text(k, "PersonURN"),
            forename=self.text(k, "Forename"),
            middle_names=self.optional(k, "MiddleNames", _token),
            surname=self.text(k, "Surname"),
            dob=self.date(self.seen["DOB"]),
            sex=self.text(k, "Sex"),
            ethnicity=self.optional(k, "Ethnicity", _token),
            nhs_number=self.optional(k, "NHSNo", self.nhs_number),
            address=self.address(self.child(k, "Address")),
            local_authority=self.council(self.child(k, "LocalAuthority")),
        )

    def nhs_number(self, element: Element) -> str:
        """`NHSNo` without spaces, its check digit verified."""
        number = normalise_nhs_number(element.text or "")
        if not nhs_number_is_valid(number):
            raise self.reject(
                "invalid-nhs-number", element, "the NHS number fails its modulus 11 check"
            )
        return number

    def address(self, address: Element) -> Address:
        """`Address` with its postcode normalised."""
        k = _kids(address)
        postcode = self.child(k, "Postcode")
        normalised = normalise_postcode(postcode.text or "")
        if normalised is None:
            raise self.reject("invalid-postcode", postcode, "not a UK postcode")
        lines = tuple(_token(line) for line in address.iterfind(_NS + "AddressLine"))
        return Address(lines=lines, postcode=normalised)

    def care(self, care: Element) -> Care:
        """`Care`."""
        k = _kids(care)
        return Care(
            looked_after=_flag(self.child(k, "LookedAfter")),
            placing_authority=self.optional(k, "PlacingAuthority", self.council),
            placement_kind=self.optional(k, "PlacementKind", _token),
            placement_local_authority=self.optional(k, "PlacementLocalAuthority", self.council),
            cp_plan=_flag(self.child(k, "CPPlan")),
        )

    def vulnerabilities(self, section: Element) -> tuple[str, ...]:
        """`Vulnerabilities`: the force's wording, each checked to have a mapping."""
        wordings: list[str] = []
        for element in section.iterfind(_NS + "Vulnerability"):
            if mapping.vulnerability(element.text or "") is None:
                where = xml.locate(element, self.doc, "")
                raise mapping.unmapped(where.path, where.line, where.column)
            wordings.append(_token(element))
        return tuple(wordings)

    def risks(self, section: Element) -> tuple[RiskAssessment, ...]:
        """`RiskAssessments`, oldest first whatever order they were sent in."""
        risks = [self.risk(_kids(element)) for element in section]
        # A stable sort: the spec says oldest first, and the newest must be the current one.
        return tuple(sorted(risks, key=lambda risk: risk.assessed_at))

    def risk(self, k: _Kids) -> RiskAssessment:
        """One `RiskAssessment`."""
        return RiskAssessment(
            grade=self.text(k, "Grade"),
            assessed_at=self.time(self.child(k, "AssessedAt")),
            assessed_by=self.text(k, "AssessedBy"),
            rationale=(self.child(k, "Rationale").text or "").strip(),
        )

    def timeline(self, timeline: Element) -> Timeline:
        """`Timeline`."""
        k = _kids(timeline)
        last_seen = self.seen["LastSeen"] = self.child(k, "LastSeen")
        reported = self.seen["Reported"] = self.child(k, "Reported")
        self.seen["Timeline"] = timeline
        return Timeline(
            last_seen_at=self.time(last_seen, "at"),
            last_seen_location=(last_seen.text or "").strip(),
            reported_at=self.time(reported, "at"),
            reported_by=" ".join(reported.get("by", "").split()),
            whereabouts_known=bool(self.optional(k, "WhereaboutsKnown", _flag)),
            located=self.optional(k, "Located", self.located),
        )

    def located(self, located: Element) -> Located:
        """`Timeline/Located`."""
        self.seen["Located"] = located
        return Located(
            at=self.time(located, "at"),
            by=" ".join(located.get("by", "").split()),
            location=(located.text or "").strip(),
        )

    def locate(self, locate: Element) -> Locate:
        """`Locate`."""
        k = _kids(locate)
        self.seen["Locate"] = locate
        return Locate(
            returned_to=(self.child(k, "ReturnedTo").text or "").strip(),
            safe_and_well=_flag(self.child(k, "SafeAndWell")),
            injuries=self.optional(k, "Injuries", lambda e: (e.text or "").strip()),
            prevention_interview=self.optional(k, "PreventionInterview", self.interview),
        )

    def interview(self, interview: Element) -> PreventionInterview:
        """`Locate/PreventionInterview`."""
        k = _kids(interview)
        return PreventionInterview(
            date=self.time(self.child(k, "Date")),
            method=self.text(k, "Method"),
            declined=_flag(self.child(k, "Declined")),
            account=self.optional(k, "Account", lambda e: (e.text or "").strip()),
            disclosures=_flag(self.child(k, "Disclosures")),
        )

    def oic(self, oic: Element) -> Oic:
        """`OIC`."""
        k = _kids(oic)
        return Oic(
            name=self.text(k, "Name"),
            collar=self.text(k, "Collar"),
            station=self.text(k, "Station"),
            phone=self.text(k, "Phone"),
            email=self.text(k, "Email"),
        )


# --- rules across fields ---------------------------------------------------------------------

_NEEDS_LOCATE = frozenset({"LOCATED", "RETURN_INTERVIEW", "CLOSED"})
_NEEDS_CLOSURE = frozenset({"CLOSED", "CANCELLED"})
_REPORTING_SLACK = timedelta(minutes=5)


def _check(message: CompactMessage, reader: _Reader) -> None:
    """The rules of docs/police-it.md the XSD cannot express, first failure raised."""
    if message.reference.split("/")[1] != message.force:
        raise reader.reject(
            "case-number-force-mismatch",
            reader.seen["CaseNumber"],
            "the force in the CaseNumber differs from ForceCode",
        )
    _check_sections(message, reader)
    _check_dates(message, reader)


def _check_sections(message: CompactMessage, reader: _Reader) -> None:
    case, event = message.case, message.event_type
    if event in _NEEDS_LOCATE and case.locate is None:
        raise reader.reject(
            "missing-required-section",
            reader.seen["Case"],
            f"Locate is required when EventType is {event}",
        )
    if case.locate is not None and case.timeline.located is None:
        raise reader.reject(
            "missing-required-section",
            reader.seen["Timeline"],
            "Located is required when Locate is present",
        )
    if event == "RETURN_INTERVIEW" and case.locate and not case.locate.prevention_interview:
        raise reader.reject(
            "missing-required-section",
            reader.seen["Locate"],
            "PreventionInterview is required when EventType is RETURN_INTERVIEW",
        )
    if event in _NEEDS_CLOSURE and case.closure_reason is None:
        raise reader.reject(
            "missing-required-section",
            reader.seen["Case"],
            f"ClosureReason is required when EventType is {event}",
        )


def _check_dates(message: CompactMessage, reader: _Reader) -> None:
    case = message.case
    dob, timeline = case.person.dob, case.timeline
    if dob > localtime.local_date(message.sent_at):
        raise reader.reject(
            "date-of-birth-in-future", reader.seen["DOB"], "the date of birth is after ExportedAt"
        )
    if _age(dob, localtime.local_date(timeline.last_seen_at)) >= 18:
        raise reader.reject(
            "subject-adult", reader.seen["DOB"], "the subject was 18 or over when last seen"
        )
    if timeline.last_seen_at > timeline.reported_at + _REPORTING_SLACK:
        raise reader.reject(
            "last-seen-after-reported",
            reader.seen["LastSeen"],
            "LastSeen is more than 5 minutes after Reported",
            "at",
        )
    if timeline.located is not None and timeline.located.at < timeline.last_seen_at:
        raise reader.reject(
            "found-before-last-seen", reader.seen["Located"], "Located is before LastSeen", "at"
        )


def _age(born: date, on: date) -> int:
    """Whole years from `born` to `on` (a 29 February birthday falls on 1 March)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
