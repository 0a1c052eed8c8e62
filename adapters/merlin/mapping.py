"""Map a parsed MERLIN notification to one canonical `EpisodeEvent` (pure and deterministic).

Every code goes through a table of `mappings/merlin.yaml`; a value with no row is a
`SemanticInvalid` ("unmapped-code") naming its path and value, never a silent default.
The rules that are not code tables (which time is the event's, the episode status, which
council is home) are the lead's decisions, documented on the functions below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, Generic, TypeVar

import mappings
from adapters.merlin.model import (
    Address,
    CareStatus,
    Found,
    MerlinMessage,
    MerlinNotification,
    PreventionInterview,
    Report,
    Subject,
)
from gateway import canonical as c
from gateway.errors import ConfigurationError, ErrorLocation, SemanticInvalid

MAPPING_FILE = "merlin.yaml"
_ROOT = "/MerlinNotification"
_REPORT = f"{_ROOT}/Report"

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class CodeTable(Generic[E]):
    """One code list of `mappings/merlin.yaml`: MERLIN code -> canonical value."""

    name: str
    rows: Mapping[str, E]

    def lookup(self, code: str, path: str) -> E:
        """The canonical value of `code`, found at `path` in the message.

        Raises:
            gateway.errors.SemanticInvalid: "unmapped-code" when the table has no row for it.
        """
        try:
            return self.rows[code]
        except KeyError as exc:
            # Codes are not personal data, so the value may be named.
            message = f"code {code!r} has no mapping in {MAPPING_FILE} table {self.name!r}"
            raise SemanticInvalid(
                f"{path}: {message}",
                [ErrorLocation(path, None, None, message)],
                code="unmapped-code",
            ) from exc

    def optional(self, code: str | None, path: str) -> E | None:
        """`lookup` for an optional element: None stays None."""
        return None if code is None else self.lookup(code, path)


@dataclass(frozen=True, slots=True)
class Tables:
    """Every code table the MERLIN mapping uses, typed by canonical list."""

    notification_type: CodeTable[c.EventType]
    gender: CodeTable[c.Gender]
    ethnicity: CodeTable[c.Ethnicity]
    legal_status: CodeTable[c.LegalStatus]
    placement_type: CodeTable[c.PlacementType]
    category: CodeTable[c.PoliceCategory]
    risk_level: CodeTable[c.RiskLevel]
    reported_by: CodeTable[c.ReportedBy]
    risk_factor: CodeTable[c.Vulnerability]
    found_by: CodeTable[c.FoundBy]
    condition: CodeTable[c.Condition]
    interview_method: CodeTable[c.InterviewMethod]
    closure_reason: CodeTable[c.ClosureReason]


def code_table(data: Mapping[str, Any], name: str, kind: type[E]) -> CodeTable[E]:
    """The table `name` of the loaded YAML, its values checked against `kind`.

    Raises:
        gateway.errors.ConfigurationError: the table is absent, not a mapping, or maps a
            code to a value outside `kind`.
    """
    rows = data.get(name)
    if not isinstance(rows, dict):
        raise ConfigurationError(
            f"table {name!r} is missing or not a mapping", file=str(mappings.path(MAPPING_FILE))
        )
    try:
        return CodeTable(name, {str(code): kind(value) for code, value in rows.items()})
    except ValueError as exc:
        raise ConfigurationError(
            f"table {name!r} maps to a value that is not a {kind.__name__}",
            file=str(mappings.path(MAPPING_FILE)),
        ) from exc


@cache
def tables() -> Tables:
    """Load and check `mappings/merlin.yaml` once per process.

    Raises:
        gateway.errors.ConfigurationError: a table is missing, unknown, or maps to a value
            outside its canonical list.
    """
    data = mappings.load(MAPPING_FILE)
    if not isinstance(data, dict):
        raise ConfigurationError("not a mapping of tables", file=str(mappings.path(MAPPING_FILE)))
    unknown = sorted(set(data) - set(Tables.__dataclass_fields__))
    if unknown:
        raise ConfigurationError(
            f"unknown table(s) {unknown}", file=str(mappings.path(MAPPING_FILE))
        )
    return Tables(
        notification_type=code_table(data, "notification_type", c.EventType),
        gender=code_table(data, "gender", c.Gender),
        ethnicity=code_table(data, "ethnicity", c.Ethnicity),
        legal_status=code_table(data, "legal_status", c.LegalStatus),
        placement_type=code_table(data, "placement_type", c.PlacementType),
        category=code_table(data, "category", c.PoliceCategory),
        risk_level=code_table(data, "risk_level", c.RiskLevel),
        reported_by=code_table(data, "reported_by", c.ReportedBy),
        risk_factor=code_table(data, "risk_factor", c.Vulnerability),
        found_by=code_table(data, "found_by", c.FoundBy),
        condition=code_table(data, "condition", c.Condition),
        interview_method=code_table(data, "interview_method", c.InterviewMethod),
        closure_reason=code_table(data, "closure_reason", c.ClosureReason),
    )


def to_events(message: MerlinMessage) -> list[c.EpisodeEvent]:
    """The one event a MERLIN notification describes, with the episode as it now stands.

    Raises:
        gateway.errors.SemanticInvalid: a code with no mapping ("unmapped-code"), or a section
            the event needs is absent ("missing-required-section").
    """
    t = tables()
    n = message.notification
    kind = t.notification_type.lookup(
        n.header.notification_type, f"{_ROOT}/Header/NotificationType"
    )
    source = c.SourceRef(
        source=message.source,
        force=message.force,
        reference=message.reference,
        version=message.version,
        message_id=message.message_id,
    )
    return [
        c.EpisodeEvent(
            type=kind,
            at=event_time(kind, n),
            source=source,
            child=_child(n.report.subject, t),
            episode=_episode(n.report, kind, t),
        )
    ]


def event_time(kind: c.EventType, n: MerlinNotification) -> datetime:
    """The event's own time: when it happened, or SentAt when the message is the event.

    reported -> ReportedAt; risk_changed -> RiskAssessedAt; found -> FoundAt;
    debriefed -> PreventionInterview/ConductedAt; updated, closed, cancelled -> SentAt.
    """
    missing = n.report.missing
    match kind:
        case c.EventType.REPORTED:
            return missing.reported_at
        case c.EventType.RISK_CHANGED:
            return missing.risk_assessed_at
        case c.EventType.FOUND:
            return _need(n.report.found, "Found", kind).found_at
        case c.EventType.DEBRIEFED:
            return _need(n.report.prevention_interview, "PreventionInterview", kind).conducted_at
        case _:
            return n.header.sent_at


_T = TypeVar("_T")


def _need(section: _T | None, name: str, kind: c.EventType) -> _T:
    if section is None:
        message = f"a {kind} event needs {name}"
        raise SemanticInvalid(
            message, [ErrorLocation(_REPORT, None, None, message)], code="missing-required-section"
        )
    return section


def episode_status(kind: c.EventType, report: Report) -> c.EpisodeStatus:
    """The episode status after the event.

    cancelled and closed follow their events; found and debriefed mean found; any other
    event leaves the episode open, or found once the report has a Found section.
    """
    match kind:
        case c.EventType.CANCELLED:
            return c.EpisodeStatus.CANCELLED
        case c.EventType.CLOSED:
            return c.EpisodeStatus.CLOSED
        case c.EventType.FOUND | c.EventType.DEBRIEFED:
            return c.EpisodeStatus.FOUND
        case _:
            return c.EpisodeStatus.FOUND if report.found is not None else c.EpisodeStatus.OPEN


def _address(address: Address) -> c.Address:
    # The parser has rejected unparseable postcodes (invalid-postcode).
    return c.Address(
        lines=address.lines, postcode=c.normalise_postcode(address.postcode) or address.postcode
    )


def _child(subject: Subject, t: Tables) -> c.Child:
    path = f"{_REPORT}/Subject"
    return c.Child(
        given_names=subject.given_names,
        family_name=subject.family_name,
        aliases=subject.aliases,
        date_of_birth=subject.date_of_birth,
        gender=t.gender.lookup(subject.gender, f"{path}/Gender"),
        ethnicity=t.ethnicity.optional(subject.ethnicity, f"{path}/SelfDefinedEthnicity"),
        nhs_number=subject.nhs_number,
        police_person_ref=None,  # MERLIN identifies reports, not people
        home_address=_address(subject.home_address),
    )


def _episode(report: Report, kind: c.EventType, t: Tables) -> c.EpisodeSnapshot:
    missing = report.missing
    path = f"{_REPORT}/Missing"
    care = report.care_status
    level = t.risk_level.lookup(missing.risk_level, f"{path}/RiskLevel")
    return c.EpisodeSnapshot(
        police_category=t.category.lookup(missing.category, f"{path}/Category"),
        whereabouts_known=missing.whereabouts_known,
        risk_level=level,
        risk_history=[
            c.RiskAssessment(
                level=level, at=missing.risk_assessed_at, rationale=missing.risk_rationale
            )
        ],
        status=episode_status(kind, report),
        reported_at=missing.reported_at,
        reported_by=t.reported_by.lookup(missing.reported_by, f"{path}/ReportedBy"),
        last_seen_at=missing.last_seen_at,
        last_seen_location=missing.last_seen_location,
        circumstances=missing.circumstances,
        vulnerabilities=_vulnerabilities(report, t),
        care=None if care is None else _care(care, t),
        home_council=home_council(report),
        responsible_council=None if care is None else care.responsible_authority,
        found=None if report.found is None else _found(report.found, t),
        debrief=_debrief(report.prevention_interview, t),
        closure_reason=t.closure_reason.optional(report.closure_reason, f"{_REPORT}/ClosureReason"),
        police=_police(report),
        incident_number=report.cad_ref,
        previous_reports_12m=missing.previous_reports_12m,
    )


def home_council(report: Report) -> str:
    """The host council (PlacementBorough) when the child is placed, else HomeBorough."""
    care = report.care_status
    if care is not None and care.placement_borough is not None:
        return care.placement_borough
    return report.subject.home_borough


def _vulnerabilities(report: Report, t: Tables) -> list[c.Vulnerability]:
    factors = report.missing.risk_factors
    path = f"{_REPORT}/Missing/RiskFactors/Factor"
    found: dict[c.Vulnerability, None] = {}  # an ordered set: document order, no repeats
    for index, factor in enumerate(factors, start=1):
        where = f"{path}[{index}]/@code" if len(factors) > 1 else f"{path}/@code"
        found[t.risk_factor.lookup(factor.code, where)] = None
    return list(found)


def _care(care: CareStatus, t: Tables) -> c.Care:
    path = f"{_REPORT}/CareStatus"
    return c.Care(
        looked_after=care.looked_after,
        legal_status=t.legal_status.optional(care.legal_status, f"{path}/LegalStatus"),
        placement_type=t.placement_type.optional(care.placement_type, f"{path}/PlacementType"),
        placement_address=None
        if care.placement_address is None
        else _address(care.placement_address),
        child_protection_plan=care.child_protection_plan,
    )


def _found(found: Found, t: Tables) -> c.Found:
    path = f"{_REPORT}/Found"
    return c.Found(
        at=found.found_at,
        location=found.found_location,
        found_by=t.found_by.lookup(found.found_by, f"{path}/FoundBy"),
        returned_to=found.returned_to,
        condition=t.condition.lookup(found.condition, f"{path}/Condition"),
    )


def _debrief(interview: PreventionInterview | None, t: Tables) -> c.Debrief | None:
    if interview is None:
        return None
    return c.Debrief(
        conducted_at=interview.conducted_at,
        method=t.interview_method.lookup(interview.method, f"{_REPORT}/PreventionInterview/Method"),
        declined=interview.declined,
        harm_disclosed=interview.harm_disclosed,
        crime_disclosed=interview.crime_disclosed,
        summary=debrief_summary(interview),
    )


def debrief_summary(interview: PreventionInterview) -> str | None:
    """The debrief's free text as `Where: ...; With: ...; Reason: ...; Welfare: ...`.

    Only the parts present are joined; None when there are none.
    """
    parts = (
        ("Where", interview.where_went),
        ("With", interview.with_whom),
        ("Reason", interview.reason_given),
        ("Welfare", interview.welfare_concerns),
    )
    summary = "; ".join(f"{label}: {text}" for label, text in parts if text)
    return summary or None


def _police(report: Report) -> c.PoliceContact:
    officer = report.officer
    return c.PoliceContact(
        officer=officer.name,
        rank=officer.rank,
        unit=officer.unit,
        phone=officer.phone,
        email=officer.email,
    )
