"""The canonical episode model (DESIGN.md §2, canonical-codes.md).

Every inbound adapter maps its source message into `EpisodeEvent`s of this model and every
outbound adapter renders from it, so no adapter ever sees another's format. Times are
timezone-aware and normalised to UTC on the way in.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class PoliceCategory(StrEnum):
    """The police grading: `absent` is not DfE "away" (its whereabouts are unknown too)."""

    MISSING = "missing"
    ABSENT = "absent"


class DfeMissingType(StrEnum):
    """SSDA903 `MISSING` column: `M` missing from placement, `A` away without authorisation."""

    MISSING = "M"
    AWAY = "A"


class RiskLevel(StrEnum):
    """Police risk grade; "very low" maps to `no_apparent_risk`."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NO_APPARENT_RISK = "no_apparent_risk"


class EpisodeStatus(StrEnum):
    """Where the episode stands."""

    OPEN = "open"
    FOUND = "found"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class EventType(StrEnum):
    """What happened to the episode."""

    REPORTED = "reported"
    RISK_CHANGED = "risk_changed"
    UPDATED = "updated"
    FOUND = "found"
    DEBRIEFED = "debriefed"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Gender(StrEnum):
    """Gender as recorded by the police."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    NOT_KNOWN = "not_known"
    NOT_STATED = "not_stated"


class Ethnicity(StrEnum):
    """2011 census 18+1 codes as used in police self-defined ethnicity."""

    W1 = "W1"
    W2 = "W2"
    W3 = "W3"
    W9 = "W9"
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M9 = "M9"
    A1 = "A1"
    A2 = "A2"
    A3 = "A3"
    A4 = "A4"
    A9 = "A9"
    B1 = "B1"
    B2 = "B2"
    B9 = "B9"
    O1 = "O1"
    O2 = "O2"
    O9 = "O9"
    NS = "NS"


class LegalStatus(StrEnum):
    """DfE SSDA903 legal status of a looked-after child."""

    C1 = "C1"
    C2 = "C2"
    D1 = "D1"
    E1 = "E1"
    J1 = "J1"
    J2 = "J2"
    J3 = "J3"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    V2 = "V2"
    V3 = "V3"
    V4 = "V4"


class PlacementType(StrEnum):
    """Where a looked-after child is placed."""

    FOSTER = "foster"
    RESIDENTIAL = "residential"
    SEMI_INDEPENDENT = "semi_independent"
    WITH_PARENTS = "with_parents"
    KINSHIP = "kinship"
    SECURE = "secure"
    OTHER = "other"


class Vulnerability(StrEnum):
    """Coded vulnerabilities (risk factors) recorded by the police."""

    CSE = "cse"
    CCE = "cce"
    COUNTY_LINES = "county_lines"
    TRAFFICKING = "trafficking"
    RADICALISATION = "radicalisation"
    FGM = "fgm"
    FORCED_MARRIAGE = "forced_marriage"
    MENTAL_HEALTH = "mental_health"
    SELF_HARM = "self_harm"
    SUICIDE_RISK = "suicide_risk"
    SUBSTANCE_MISUSE = "substance_misuse"
    PHYSICAL_DISABILITY = "physical_disability"
    LEARNING_DISABILITY = "learning_disability"
    MEDICAL_NEEDS = "medical_needs"
    GANG_ASSOCIATION = "gang_association"
    DOMESTIC_ABUSE = "domestic_abuse"
    MISSING_WITH_FAMILY = "missing_with_family"
    UNACCOMPANIED_ASYLUM_SEEKER = "unaccompanied_asylum_seeker"
    CHILD_PROTECTION_PLAN = "child_protection_plan"
    OTHER = "other"


class FoundBy(StrEnum):
    """Who found the child, or whether the child came back alone."""

    POLICE = "police"
    SELF_RETURNED = "self_returned"
    PARENT_OR_CARER = "parent_or_carer"
    PROFESSIONAL = "professional"
    MEMBER_OF_PUBLIC = "member_of_public"
    OTHER = "other"


class Condition(StrEnum):
    """The child's condition when found."""

    SAFE_AND_WELL = "safe_and_well"
    INJURED = "injured"
    HOSPITAL = "hospital"
    IN_CUSTODY = "in_custody"
    DECEASED = "deceased"
    CONCERNS = "concerns"  # not safe and well, no detail given (COMPACT SafeAndWell N)
    NOT_KNOWN = "not_known"  # the message says nothing of the child's condition


class CouncilRole(StrEnum):
    """Why a council is told of an episode, and so which duties are its own (councils.md).

    `responsible`: the placing authority of a looked-after child; `home`: the council of the
    home address of a child who is not looked after; `host`: where a looked-after child is
    placed, when that is not the responsible authority. The statutory duties (return home
    interview, strategy meetings, the SSDA903 return) belong to `responsible` or `home`.
    """

    RESPONSIBLE = "responsible"
    HOME = "home"
    HOST = "host"


class InterviewMethod(StrEnum):
    """How the police prevention (safe and well) interview was held."""

    TELEPHONE_CARER = "telephone_carer"
    TELEPHONE_CHILD = "telephone_child"
    VIDEO = "video"
    FACE_TO_FACE = "face_to_face"


class ReportedBy(StrEnum):
    """Who reported the child missing."""

    PARENT = "parent"
    FOSTER_CARER = "foster_carer"
    RESIDENTIAL_STAFF = "residential_staff"
    SOCIAL_WORKER = "social_worker"
    SCHOOL = "school"
    POLICE = "police"
    OTHER = "other"


class ClosureReason(StrEnum):
    """Why the police closed or cancelled the report."""

    FOUND_SAFE = "found_safe"
    ENQUIRIES_COMPLETE = "enquiries_complete"
    CREATED_IN_ERROR = "created_in_error"
    DUPLICATE_REPORT = "duplicate_report"


# A police system the gateway accepts notifications from, by its inbound adapter's name
# (`merlin`, `compact`): `adapters.registry.INBOUND` is the list, so a new source is one
# registry line. The pattern is the registry's rule for a name: a URL segment that fits the
# `source` columns (String(16)).
SOURCE_NAME = r"^[a-z][a-z0-9_]{0,15}$"
Source = Annotated[str, Field(pattern=SOURCE_NAME)]


# --- identifiers ---------------------------------------------------------------------------

_NHS_WEIGHTS = range(10, 1, -1)
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


def nhs_number_is_valid(value: str) -> bool:
    """Whether `value` is ten digits with a correct modulus 11 check digit."""
    if len(value) != 10 or not value.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:9], _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(value[9])


def normalise_nhs_number(value: str) -> str:
    """Strip the spaces some systems print inside an NHS number."""
    return "".join(value.split())


def normalise_postcode(value: str) -> str | None:
    """Upper-case a UK postcode with one space before the inward code; None if not one."""
    compact = "".join(value.split()).upper()
    match = _POSTCODE.match(compact)
    if match is None:
        return None
    return f"{match.group(1)} {match.group(2)}"


def _check_nhs(value: str) -> str:
    if not nhs_number_is_valid(value):
        raise ValueError("NHS number fails its modulus 11 check")
    return value


def _check_postcode(value: str) -> str:
    normalised = normalise_postcode(value)
    if normalised is None:
        raise ValueError("not a UK postcode")
    return normalised


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("times must carry a timezone")
    return value.astimezone(UTC)


NhsNumber = Annotated[str, AfterValidator(_check_nhs)]
Postcode = Annotated[str, AfterValidator(_check_postcode)]
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
LaCode = Annotated[str, Field(pattern=r"^[0-9]{3}$")]
ForceCode = Annotated[str, Field(pattern=r"^[0-9]{2}$")]


# --- the model -----------------------------------------------------------------------------


class Canonical(BaseModel):
    """Base for canonical records: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(Canonical):
    """A postal address: free-text lines and a normalised postcode."""

    lines: list[str] = Field(min_length=1)
    postcode: Postcode


class Child(Canonical):
    """The child the episode is about."""

    given_names: str
    family_name: str
    aliases: list[str] = Field(default_factory=list)
    date_of_birth: date
    gender: Gender
    ethnicity: Ethnicity | None = None
    nhs_number: NhsNumber | None = None
    police_person_ref: str | None = None
    home_address: Address


class RiskAssessment(Canonical):
    """One police risk grading, with the time it was made."""

    level: RiskLevel
    at: UtcDateTime
    rationale: str | None = None
    assessed_by: str | None = None


class Found(Canonical):
    """How, when and where the child was found."""

    at: UtcDateTime
    location: str
    found_by: FoundBy
    returned_to: str | None = None
    condition: Condition


class Debrief(Canonical):
    """The police prevention (safe and well) interview after the child's return.

    `crime_disclosed` is None when the source cannot say (COMPACT's one `Disclosures` flag
    does not tell harm from crime): not known, which no payload may turn into "no".
    """

    conducted_at: UtcDateTime
    method: InterviewMethod
    declined: bool
    harm_disclosed: bool
    crime_disclosed: bool | None
    summary: str | None = None


class PoliceContact(Canonical):
    """The officer in the case and how to reach them."""

    officer: str
    rank: str | None = None
    unit: str
    phone: str
    email: str


class Care(Canonical):
    """What the police know of the child's social care status."""

    looked_after: bool
    legal_status: LegalStatus | None = None
    placement_type: PlacementType | None = None
    placement_address: Address | None = None
    child_protection_plan: bool = False


class UnresolvedCouncil(Canonical):
    """A council the message names by a name that matches no council (COMPACT), verbatim.

    `role` is the role the council would have had (councils.md): the name waits on the
    unroutable list until an operator resolves it, and is then told in that role.
    """

    name: str = Field(min_length=1)
    role: CouncilRole


class EpisodeSnapshot(Canonical):
    """The episode as the source message describes it now (sources send the full report).

    `home_council` is the council where the child lives or is placed (home or host
    authority); `responsible_council` is the placing authority of a looked-after child. Either
    is None when the message names that council by a name that matches none: the name is then
    in `unresolved_councils`, with the role it would have had.
    """

    police_category: PoliceCategory
    whereabouts_known: bool = False
    risk_level: RiskLevel
    risk_history: list[RiskAssessment] = Field(min_length=1)
    status: EpisodeStatus
    reported_at: UtcDateTime
    reported_by: ReportedBy
    last_seen_at: UtcDateTime
    last_seen_location: str
    circumstances: str | None = None
    vulnerabilities: list[Vulnerability] = Field(default_factory=list)
    care: Care | None = None
    home_council: LaCode | None
    responsible_council: LaCode | None = None
    unresolved_councils: list[UnresolvedCouncil] = Field(default_factory=list)
    found: Found | None = None
    debrief: Debrief | None = None
    closure_reason: ClosureReason | None = None
    police: PoliceContact
    incident_number: str | None = None
    previous_reports_12m: int | None = None

    @property
    def looked_after(self) -> bool:
        """Whether the child is looked after by a council."""
        return self.care is not None and self.care.looked_after

    @property
    def on_child_protection_plan(self) -> bool:
        """Whether the message says the child is on a child protection plan.

        Either the care status's flag or the coded vulnerability says so (the policy packs
        read it the same way), so no payload says "no plan" where the police said there is one.
        """
        flagged = self.care is not None and self.care.child_protection_plan
        return flagged or Vulnerability.CHILD_PROTECTION_PLAN in self.vulnerabilities

    @property
    def dfe_missing_type(self) -> DfeMissingType | None:
        """SSDA903 missing type: only for looked-after children; `A` only when whereabouts known."""
        if not self.looked_after:
            return None
        return DfeMissingType.AWAY if self.whereabouts_known else DfeMissingType.MISSING

    def council_roles(self) -> list[tuple[str, CouncilRole]]:
        """Each council to tell, with its role, the home or host council first (councils.md).

        A child who is not looked after: the home council. A looked-after child: the council
        where the child is (`home_council`) as host, unless it is the responsible authority
        too, and the responsible authority when the message names one. A council named by an
        unresolved name is not here (`unresolved_councils`).
        """
        home = self.home_council
        if not self.looked_after:
            return [(home, CouncilRole.HOME)] if home else []
        responsible = self.responsible_council
        told: list[tuple[str, CouncilRole]] = []
        if home and home != responsible:
            told.append((home, CouncilRole.HOST))
        if responsible:
            told.append((responsible, CouncilRole.RESPONSIBLE))
        return told

    def role_of(self, council: str) -> CouncilRole | None:
        """The role in which `council` is told of the episode, or None if it is not told."""
        return next((role for code, role in self.council_roles() if code == council), None)

    @property
    def return_interview_owner(self) -> str | None:
        """Who owes the return home interview (councils.md).

        The responsible authority of a looked-after child, else the home council; None for a
        looked-after child whose message names no responsible authority, or when that council's
        name is unresolved.
        """
        return self.responsible_council if self.looked_after else self.home_council


class SourceRef(Canonical):
    """Which police message an event came from, and which report it belongs to."""

    source: Source
    force: ForceCode
    reference: str  # MERLIN MerlinRef or COMPACT CaseNumber: the same on every message of a report
    version: int = Field(ge=1)  # ReportVersion or SequenceNo
    message_id: str


class EpisodeEvent(Canonical):
    """One thing that happened to an episode, with the episode as it stands after it."""

    type: EventType
    at: UtcDateTime
    source: SourceRef
    child: Child
    episode: EpisodeSnapshot


def utc_now() -> datetime:
    """The current time in UTC (one place to read the clock; tests inject their own)."""
    return datetime.now(UTC)
