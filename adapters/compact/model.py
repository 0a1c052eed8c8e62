"""The typed COMPACT case export (docs/police-it.md, interface v3.4).

Field for field what the export says, in COMPACT's own codes, with two conversions already
made by the parser: times are aware UTC datetimes (COMPACT sends Europe/London wall-clock
time), and each council name carries the DfE LA code it was matched to (None when it matches
no council: the name is then an unresolved council, docs/police-it.md). Identifiers are
normalised (NHS number without spaces, postcode in the standard form). Mapping to canonical
codes happens in `mapping.py`.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from adapters.base import SourceMessage


class Part(BaseModel):
    """Base of the export's parts: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Council(Part):
    """A council as named in the export, with the DfE LA code the name matched, if any."""

    name: str
    code: str | None


class Address(Part):
    """`Person/Address`: up to six lines and a normalised postcode."""

    lines: tuple[str, ...]
    postcode: str


class Person(Part):
    """`Person`: the missing child."""

    urn: str
    forename: str
    middle_names: str | None = None
    surname: str
    dob: date
    sex: str
    ethnicity: str | None = None
    nhs_number: str | None = None
    address: Address
    local_authority: Council


class Care(Part):
    """`Care`: social care status as the police record it."""

    looked_after: bool
    placing_authority: Council | None = None
    placement_kind: str | None = None
    placement_local_authority: Council | None = None
    cp_plan: bool


class RiskAssessment(Part):
    """One `RiskAssessment`."""

    grade: str
    assessed_at: datetime
    assessed_by: str
    rationale: str


class Located(Part):
    """`Timeline/Located`: when, by whom and where the child was located."""

    at: datetime
    by: str
    location: str


class Timeline(Part):
    """`Timeline`."""

    last_seen_at: datetime
    last_seen_location: str
    reported_at: datetime
    reported_by: str
    whereabouts_known: bool = False
    located: Located | None = None


class PreventionInterview(Part):
    """`Locate/PreventionInterview`: the police prevention (safe and well) interview."""

    date: datetime
    method: str
    declined: bool
    account: str | None = None
    disclosures: bool


class Locate(Part):
    """`Locate`: the child's return."""

    returned_to: str
    safe_and_well: bool
    injuries: str | None = None
    prevention_interview: PreventionInterview | None = None


class Oic(Part):
    """`OIC`: the officer in the case."""

    name: str
    collar: str
    station: str
    phone: str
    email: str


class Case(Part):
    """`Case`: the whole case as it stands (every export carries all of it).

    `risk_assessments` is oldest first; the last one is the current grade.
    """

    case_number: str
    sequence_no: int
    incident_number: str | None = None
    person: Person
    care: Care | None = None
    vulnerabilities: tuple[str, ...] = ()
    risk_assessments: tuple[RiskAssessment, ...]
    timeline: Timeline
    locate: Locate | None = None
    closure_reason: str | None = None
    oic: Oic

    @property
    def current_risk(self) -> RiskAssessment:
        """The newest risk assessment."""
        return self.risk_assessments[-1]


class CompactMessage(SourceMessage):
    """A parsed, validated and checked COMPACT export.

    The `SourceMessage` fields come from the header and case: `message_id` is `ExportId` as
    sent, `force` is `ForceCode`, `reference` is `CaseNumber`, `version` is `SequenceNo` and
    `sent_at` is `ExportedAt` in UTC.
    """

    event_type: str
    case: Case
