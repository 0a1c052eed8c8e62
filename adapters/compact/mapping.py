"""Map a checked COMPACT export to canonical events through `mappings/compact.yaml`.

Pure and deterministic: one export gives one event, carrying the episode as the export
describes it now (COMPACT sends the whole case every time). The code tables are read and
checked against the canonical enums once, at import; a wrong value is a configuration error,
so the gateway does not start with a table that could mis-code a child.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import mappings
from adapters.compact.model import Case, CompactMessage
from gateway import canonical as c
from gateway.errors import ConfigurationError, ErrorLocation, SemanticInvalid

FILE = "compact.yaml"
E = TypeVar("E", bound=StrEnum)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Grade:
    """What one COMPACT risk grade means canonically."""

    risk_level: c.RiskLevel
    police_category: c.PoliceCategory


@dataclass(frozen=True, slots=True)
class Tables:
    """The COMPACT code tables, checked against the canonical enums."""

    event_types: Mapping[str, c.EventType]
    statuses: Mapping[str, c.EpisodeStatus]
    grades: Mapping[str, Grade]
    sex: Mapping[str, c.Gender]
    ethnicity: Mapping[str, c.Ethnicity]
    flags: Mapping[str, bool]
    placement_kinds: Mapping[str, c.PlacementType]
    vulnerabilities: Mapping[str, c.Vulnerability]  # keyed by `wording_key()`
    reported_by: Mapping[str, c.ReportedBy]
    located_by: Mapping[str, c.FoundBy]
    interview_methods: Mapping[str, c.InterviewMethod]
    closure_reasons: Mapping[str, c.ClosureReason]


def wording_key(wording: str) -> str:
    """How a force's vulnerability wording is matched: trimmed, one space, case-folded."""
    return " ".join(wording.split()).casefold()


def load_tables(data: Any, file: str = FILE) -> Tables:
    """Check the YAML document of `compact.yaml` and build the tables.

    Raises:
        ConfigurationError: a table is missing or maps to a value that is not canonical.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError("expected a mapping of code tables", file=file)
    vulnerabilities = _table(data, "vulnerabilities", c.Vulnerability, file)
    return Tables(
        event_types=_table(data, "event_types", c.EventType, file),
        statuses=_table(data, "statuses", c.EpisodeStatus, file),
        grades=_grades(data, file),
        sex=_table(data, "sex", c.Gender, file),
        ethnicity=_table(data, "ethnicity", c.Ethnicity, file),
        flags=_flags(data, file),
        placement_kinds=_table(data, "placement_kinds", c.PlacementType, file),
        vulnerabilities={wording_key(k): v for k, v in vulnerabilities.items()},
        reported_by=_table(data, "reported_by", c.ReportedBy, file),
        located_by=_table(data, "located_by", c.FoundBy, file),
        interview_methods=_table(data, "interview_methods", c.InterviewMethod, file),
        closure_reasons=_table(data, "closure_reasons", c.ClosureReason, file),
    )


def _table(data: Mapping[str, Any], name: str, enum: type[E], file: str) -> dict[str, E]:
    rows = data.get(name)
    if not isinstance(rows, Mapping) or not rows:
        raise ConfigurationError(f"table {name!r} is missing or empty", file=file)
    table: dict[str, E] = {}
    for key, value in rows.items():
        try:
            table[str(key)] = enum(value)
        except ValueError as exc:
            raise ConfigurationError(
                f"{name}: {key!r} maps to {value!r}, which is not a canonical {enum.__name__}",
                file=file,
            ) from exc
    return table


def _flags(data: Mapping[str, Any], file: str) -> dict[str, bool]:
    rows = data.get("flags")
    if not isinstance(rows, Mapping) or set(map(type, rows.values())) != {bool}:
        raise ConfigurationError("table 'flags' must map each flag to true or false", file=file)
    return {str(key): value for key, value in rows.items()}


def _grades(data: Mapping[str, Any], file: str) -> dict[str, Grade]:
    rows = data.get("grades")
    if not isinstance(rows, Mapping) or not rows:
        raise ConfigurationError("table 'grades' is missing or empty", file=file)
    grades: dict[str, Grade] = {}
    for key, row in rows.items():
        try:
            grades[str(key)] = Grade(
                c.RiskLevel(row["risk_level"]), c.PoliceCategory(row["police_category"])
            )
        except (TypeError, KeyError, ValueError) as exc:
            raise ConfigurationError(
                f"grades: {key!r} needs a canonical risk_level and police_category", file=file
            ) from exc
    return grades


TABLES = load_tables(mappings.load(FILE), str(mappings.path(FILE)))


def flag(value: str) -> bool:
    """A COMPACT Y/N flag as a boolean (the XSD allows no other value)."""
    return TABLES.flags[value]


def vulnerability(wording: str) -> c.Vulnerability | None:
    """The canonical vulnerability for a force's wording, or None when it is not mapped."""
    return TABLES.vulnerabilities.get(wording_key(wording))


def _code(table: Mapping[str, V], value: str, path: str) -> V:
    try:
        return table[value]
    except KeyError as exc:
        raise unmapped(path) from exc


def unmapped(path: str, line: int | None = None, column: int | None = None) -> SemanticInvalid:
    """The `unmapped-code` rejection of a value with no row in `mappings/compact.yaml`."""
    message = "the value has no mapping in mappings/compact.yaml"
    return SemanticInvalid(
        f"{path}: {message}",
        [ErrorLocation(path=path, line=line, column=column, message=message)],
        code="unmapped-code",
    )


# --- the event -------------------------------------------------------------------------------


def to_events(message: CompactMessage) -> list[c.EpisodeEvent]:
    """The canonical event of one export (COMPACT has one event per export).

    Raises:
        SemanticInvalid: `unmapped-code` for a code with no row in the tables, or
            `missing-required-section` when the event's own section is absent.
    """
    case = message.case
    event_type = _code(TABLES.event_types, message.event_type, "/CaseExport/ExportHeader/EventType")
    return [
        c.EpisodeEvent(
            type=event_type,
            at=_event_at(event_type, message),
            source=c.SourceRef(
                source=message.source,
                force=message.force,
                reference=message.reference,
                version=message.version,
                message_id=message.message_id,
            ),
            child=_child(case),
            episode=_snapshot(message),
        )
    ]


def _event_at(event_type: c.EventType, message: CompactMessage) -> datetime:
    case = message.case
    if event_type is c.EventType.REPORTED:
        return case.timeline.reported_at
    if event_type is c.EventType.RISK_CHANGED:
        return case.current_risk.assessed_at
    if event_type is c.EventType.FOUND:
        if case.timeline.located is None:
            raise _missing("/CaseExport/Case/Timeline", "Located")
        return case.timeline.located.at
    if event_type is c.EventType.DEBRIEFED:
        if case.locate is None or case.locate.prevention_interview is None:
            raise _missing("/CaseExport/Case/Locate", "PreventionInterview")
        return case.locate.prevention_interview.date
    return message.sent_at


def _missing(parent: str, child: str) -> SemanticInvalid:
    message = f"{child} is required for this EventType"
    return SemanticInvalid(
        f"{parent}: {message}",
        [ErrorLocation(path=parent, line=None, column=None, message=message)],
        code="missing-required-section",
    )


def _child(case: Case) -> c.Child:
    person = case.person
    given = (
        person.forename if not person.middle_names else (f"{person.forename} {person.middle_names}")
    )
    return c.Child(
        given_names=given,
        family_name=person.surname,
        date_of_birth=person.dob,
        gender=_code(TABLES.sex, person.sex, "/CaseExport/Case/Person/Sex"),
        ethnicity=(
            _code(TABLES.ethnicity, person.ethnicity, "/CaseExport/Case/Person/Ethnicity")
            if person.ethnicity
            else None
        ),
        nhs_number=person.nhs_number,
        police_person_ref=person.urn,
        home_address=c.Address(lines=list(person.address.lines), postcode=person.address.postcode),
    )


def _snapshot(message: CompactMessage) -> c.EpisodeSnapshot:
    case = message.case
    grade = _code(
        TABLES.grades,
        case.current_risk.grade,
        "/CaseExport/Case/RiskAssessments/RiskAssessment/Grade",
    )
    return c.EpisodeSnapshot(
        police_category=grade.police_category,
        whereabouts_known=case.timeline.whereabouts_known,
        risk_level=grade.risk_level,
        risk_history=_risk_history(case),
        status=_status(message),
        reported_at=case.timeline.reported_at,
        reported_by=_code(
            TABLES.reported_by, case.timeline.reported_by, "/CaseExport/Case/Timeline/Reported/@by"
        ),
        last_seen_at=case.timeline.last_seen_at,
        last_seen_location=case.timeline.last_seen_location,
        vulnerabilities=_vulnerabilities(case),
        care=_care(case),
        **_councils(case),
        found=_found(case),
        debrief=_debrief(case),
        closure_reason=_closure_reason(case),
        police=_police(case),
        incident_number=case.incident_number,
    )


def _closure_reason(case: Case) -> c.ClosureReason | None:
    if case.closure_reason is None:
        return None
    return _code(TABLES.closure_reasons, case.closure_reason, "/CaseExport/Case/ClosureReason")


def _police(case: Case) -> c.PoliceContact:
    # COMPACT has no rank field; the rank is usually inside Name ("DC Example").
    oic = case.oic
    return c.PoliceContact(
        officer=oic.name, rank=None, unit=oic.station, phone=oic.phone, email=oic.email
    )


def _risk_history(case: Case) -> list[c.RiskAssessment]:
    path = "/CaseExport/Case/RiskAssessments/RiskAssessment/Grade"
    return [
        c.RiskAssessment(
            level=_code(TABLES.grades, risk.grade, path).risk_level,
            at=risk.assessed_at,
            rationale=risk.rationale,
            assessed_by=risk.assessed_by,
        )
        for risk in case.risk_assessments
    ]


def _status(message: CompactMessage) -> c.EpisodeStatus:
    status = TABLES.statuses.get(message.event_type)
    if status is not None:
        return status
    if message.case.timeline.located is not None:
        return c.EpisodeStatus.FOUND
    return c.EpisodeStatus.OPEN


def _vulnerabilities(case: Case) -> list[c.Vulnerability]:
    found: list[c.Vulnerability] = []
    several = len(case.vulnerabilities) > 1
    for index, wording in enumerate(case.vulnerabilities, start=1):
        code = vulnerability(wording)
        if code is None:
            raise unmapped(
                "/CaseExport/Case/Vulnerabilities/Vulnerability" + (f"[{index}]" if several else "")
            )
        if code not in found:
            found.append(code)
    return found


def _care(case: Case) -> c.Care | None:
    care = case.care
    if care is None:
        return None
    placement = (
        _code(TABLES.placement_kinds, care.placement_kind, "/CaseExport/Case/Care/PlacementKind")
        if care.placement_kind
        else None
    )
    return c.Care(
        looked_after=care.looked_after, placement_type=placement, child_protection_plan=care.cp_plan
    )


def _councils(case: Case) -> dict[str, Any]:
    """`home_council`, `responsible_council` and the names among them that match no council.

    Where the child is (the placement's council, else the home address's) is the home council,
    or the host of a looked-after child; a looked-after child's placing authority is its
    responsible council. An unresolved name keeps the role its council would have had; one
    name for both is the responsible authority alone, as a resolved one would be.
    """
    care = case.care
    where = care.placement_local_authority if care else None
    where = where or case.person.local_authority
    placing = care.placing_authority if care else None
    looked_after = bool(care and care.looked_after)
    unresolved: list[c.UnresolvedCouncil] = []
    if placing is not None and placing.code is None:
        unresolved.append(c.UnresolvedCouncil(name=placing.name, role=c.CouncilRole.RESPONSIBLE))
    if where.code is None and not (unresolved and unresolved[0].name == where.name):
        role = c.CouncilRole.HOST if looked_after else c.CouncilRole.HOME
        unresolved.insert(0, c.UnresolvedCouncil(name=where.name, role=role))
    return {
        "home_council": where.code,
        "responsible_council": placing.code if placing else None,
        "unresolved_councils": unresolved,
    }


def _found(case: Case) -> c.Found | None:
    located = case.timeline.located
    if located is None:
        return None
    locate = case.locate
    if locate is None:  # the export says nothing of the child's condition
        condition = c.Condition.NOT_KNOWN
    elif locate.safe_and_well:
        condition = c.Condition.SAFE_AND_WELL
    else:  # not safe and well: a concern even when no injury is described (docs/police-it.md)
        condition = c.Condition.INJURED if locate.injuries else c.Condition.CONCERNS
    return c.Found(
        at=located.at,
        location=located.location,
        found_by=_code(TABLES.located_by, located.by, "/CaseExport/Case/Timeline/Located/@by"),
        returned_to=locate.returned_to if locate else None,
        condition=condition,
    )


def _debrief(case: Case) -> c.Debrief | None:
    if case.locate is None or case.locate.prevention_interview is None:
        return None
    interview = case.locate.prevention_interview
    return c.Debrief(
        conducted_at=interview.date,
        method=_code(
            TABLES.interview_methods,
            interview.method,
            "/CaseExport/Case/Locate/PreventionInterview/Method",
        ),
        declined=interview.declined,
        # One flag for harm and crime: Y says harm was disclosed and leaves crime not known.
        harm_disclosed=interview.disclosures,
        crime_disclosed=None if interview.disclosures else False,
        summary=interview.account,
    )
