"""Parse a MERLIN v2.1 notification: hardened parse, XSD, typed model, then the spec's rules.

`parse()` is on the ingest hot path, so the typed model is built with direct lxml lookups on
the validated tree (no xmlschema decoding). Semantic errors are located on the element at
fault and never quote its value: the values are personal data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from lxml import etree

from adapters import xml
from adapters.merlin.model import (
    Address,
    CareStatus,
    Found,
    Header,
    MerlinMessage,
    MerlinNotification,
    Missing,
    NotificationType,
    Officer,
    PreventionInterview,
    Report,
    RiskFactor,
    Subject,
)
from adapters.merlin.rules import check

NAMESPACE = "urn:mps:merlin:notification:2"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "merlin-2.1.xsd"

_NS = f"{{{NAMESPACE}}}"
_Element = etree._Element


def parse(body: bytes) -> MerlinMessage:
    """Parse, validate and check one MERLIN notification.

    Raises:
        gateway.errors.MalformedXml: the body is not well-formed (or uses a forbidden construct).
        gateway.errors.SchemaInvalid: the document breaks `schema/merlin-2.1.xsd`.
        gateway.errors.SemanticInvalid: the document breaks a rule of docs/police-it.md.
    """
    parsed = xml.parse(body)
    xml.load_schema(SCHEMA_PATH).validate(parsed)
    notification = _notification(parsed.root)
    check(notification, parsed)
    header = notification.header
    return MerlinMessage(
        source="merlin",
        message_id=header.message_id,
        force=header.force_code,
        reference=notification.report.merlin_ref,
        version=notification.report.report_version,
        sent_at=header.sent_at.astimezone(UTC),
        c14n_sha256=parsed.c14n_sha256,
        notification=notification,
    )


# --- lookups on the validated tree ----------------------------------------------------------


class _Node:
    """A validated element's children by local name, gathered in one pass.

    Dictionary lookups instead of `find`/`findtext`, whose path parsing dominated the cost of
    building the model on the hot path.
    """

    __slots__ = ("_children", "element")

    def __init__(self, element: _Element) -> None:
        self.element = element
        children: dict[str, list[_Element]] = {}
        for child in element:
            if isinstance(child.tag, str):
                children.setdefault(child.tag[len(_NS) :], []).append(child)
        self._children = children

    def elements(self, name: str) -> list[_Element]:
        """Every child called `name`, in document order."""
        return self._children.get(name, [])

    def child(self, name: str) -> _Node:
        """The required child `name`."""
        found = self.elements(name)
        if not found:  # the XSD makes it required, so validation has already failed
            raise LookupError(f"required element {name} absent after schema validation")
        return _Node(found[0])

    def opt_child(self, name: str) -> _Node | None:
        """The optional child `name`, if present."""
        found = self.elements(name)
        return _Node(found[0]) if found else None

    def raw(self, name: str) -> str | None:
        """The text of child `name` as written ('' when empty, None when absent)."""
        found = self.elements(name)
        return (found[0].text or "") if found else None

    def text(self, name: str) -> str:
        """Free text or a code (xs:string): as written, without surrounding white space."""
        return (self.raw(name) or "").strip()

    def opt_text(self, name: str) -> str | None:
        """`text` of an optional child."""
        value = self.raw(name)
        return None if value is None else value.strip()

    def token(self, name: str) -> str:
        """A name (xs:token semantics): inner white space collapsed."""
        return " ".join((self.raw(name) or "").split())

    def opt_token(self, name: str) -> str | None:
        """`token` of an optional child."""
        value = self.raw(name)
        return None if value is None else " ".join(value.split())

    def tokens(self, name: str) -> list[str]:
        """`token` of every child called `name`."""
        return [" ".join((e.text or "").split()) for e in self.elements(name)]

    def datetime(self, name: str) -> datetime:
        """An xs:dateTime whose offset the XSD requires."""
        return datetime.fromisoformat(self.text(name))

    def date(self, name: str) -> date:
        """An xs:date without offset."""
        return date.fromisoformat(self.text(name))

    def flag(self, name: str) -> bool:
        """A `true` / `false` flag; an absent optional flag is false."""
        return self.text(name) == "true"

    def opt_int(self, name: str) -> int | None:
        """An optional integer."""
        value = self.opt_text(name)
        return None if value is None else int(value)


# --- building the typed model ---------------------------------------------------------------


def _notification(root: _Element) -> MerlinNotification:
    node = _Node(root)
    return MerlinNotification(
        schema_version=root.get("schemaVersion", ""),
        header=_header(node.child("Header")),
        report=_report(node.child("Report")),
    )


def _header(element: _Node) -> Header:
    return Header(
        message_id=element.text("MessageId"),
        sent_at=element.datetime("SentAt"),
        notification_type=NotificationType(element.text("NotificationType")),
        force_code=element.text("ForceCode"),
        sending_unit=element.token("SendingUnit"),
    )


def _report(element: _Node) -> Report:
    care = element.opt_child("CareStatus")
    found = element.opt_child("Found")
    interview = element.opt_child("PreventionInterview")
    return Report(
        merlin_ref=element.text("MerlinRef"),
        report_version=int(element.text("ReportVersion")),
        cad_ref=element.opt_token("CadRef"),
        subject=_subject(element.child("Subject")),
        care_status=None if care is None else _care_status(care),
        missing=_missing(element.child("Missing")),
        found=None if found is None else _found(found),
        prevention_interview=None if interview is None else _interview(interview),
        closure_reason=element.opt_text("ClosureReason"),
        officer=_officer(element.child("OfficerInCase")),
    )


def _address(element: _Node) -> Address:
    return Address(lines=element.tokens("Line"), postcode=element.token("Postcode"))


def _subject(element: _Node) -> Subject:
    return Subject(
        family_name=element.token("FamilyName"),
        given_names=element.token("GivenNames"),
        aliases=element.tokens("Alias"),
        date_of_birth=element.date("DateOfBirth"),
        gender=element.text("Gender"),
        ethnicity=element.opt_text("SelfDefinedEthnicity"),
        nhs_number=element.opt_text("NhsNumber"),
        home_address=_address(element.child("HomeAddress")),
        home_borough=element.text("HomeBorough"),
    )


def _care_status(element: _Node) -> CareStatus:
    placement = element.opt_child("PlacementAddress")
    return CareStatus(
        looked_after=element.flag("LookedAfter"),
        legal_status=element.opt_text("LegalStatus"),
        responsible_authority=element.opt_text("ResponsibleAuthority"),
        placement_type=element.opt_text("PlacementType"),
        placement_address=None if placement is None else _address(placement),
        placement_borough=element.opt_text("PlacementBorough"),
        child_protection_plan=element.flag("ChildProtectionPlan"),
    )


def _missing(element: _Node) -> Missing:
    factors = element.opt_child("RiskFactors")
    return Missing(
        category=element.text("Category"),
        whereabouts_known=element.flag("WhereaboutsKnown"),
        risk_level=element.text("RiskLevel"),
        risk_rationale=element.text("RiskRationale"),
        risk_assessed_at=element.datetime("RiskAssessedAt"),
        last_seen_at=element.datetime("LastSeenAt"),
        last_seen_location=element.text("LastSeenLocation"),
        reported_at=element.datetime("ReportedAt"),
        reported_by=element.text("ReportedBy"),
        circumstances=element.text("Circumstances"),
        risk_factors=[] if factors is None else _risk_factors(factors),
        previous_reports_12m=element.opt_int("PreviousReports12m"),
    )


def _risk_factors(element: _Node) -> list[RiskFactor]:
    return [
        RiskFactor(code=factor.get("code", ""), detail=(factor.text or "").strip() or None)
        for factor in element.elements("Factor")
    ]


def _found(element: _Node) -> Found:
    return Found(
        found_at=element.datetime("FoundAt"),
        found_location=element.text("FoundLocation"),
        found_by=element.text("FoundBy"),
        returned_to=element.text("ReturnedTo"),
        condition=element.text("Condition"),
    )


def _interview(element: _Node) -> PreventionInterview:
    return PreventionInterview(
        conducted_at=element.datetime("ConductedAt"),
        method=element.text("Method"),
        declined=element.flag("Declined"),
        where_went=element.opt_text("WhereWent"),
        with_whom=element.opt_text("WithWhom"),
        reason_given=element.opt_text("ReasonGiven"),
        harm_disclosed=element.flag("HarmDisclosed"),
        crime_disclosed=element.flag("CrimeDisclosed"),
        welfare_concerns=element.opt_text("WelfareConcerns"),
    )


def _officer(element: _Node) -> Officer:
    return Officer(
        name=element.token("Name"),
        rank=element.token("Rank"),
        warrant_number=element.token("WarrantNumber"),
        unit=element.token("Unit"),
        phone=element.token("Phone"),
        email=element.token("Email"),
    )
