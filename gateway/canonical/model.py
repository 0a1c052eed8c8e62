"""The canonical episode model (docs/architecture.md: the canonical model).

Every inbound adapter maps its source message into `EpisodeEvent`s of this model and every
outbound adapter renders from it, so no adapter ever sees another's format. Times are
timezone-aware and normalised to UTC on the way in (gateway/canonical/identifiers.py).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from gateway.canonical.codes import (
    ClosureReason,
    Condition,
    CouncilRole,
    DfeMissingType,
    EpisodeStatus,
    Ethnicity,
    EventType,
    FoundBy,
    Gender,
    InterviewMethod,
    LegalStatus,
    PlacementType,
    PoliceCategory,
    ReportedBy,
    RiskLevel,
    Source,
    Vulnerability,
)
from gateway.canonical.identifiers import (
    ForceCode,
    LaCode,
    NhsNumber,
    Postcode,
    UtcDateTime,
)


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

    `role` is the role the council would have had (docs/council-it.md: roles): the name waits on the
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
        """Each council to tell, with its role, the home or host council first (docs/council-it.md).

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
        """Who owes the return home interview (docs/council-it.md: roles).

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
