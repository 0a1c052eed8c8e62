"""The canonical code lists: every coded value an episode carries (docs/architecture.md).

Each inbound adapter maps its source's codes to these and each outbound adapter maps these
to its system's (mappings/); docs/police-it.md and docs/council-it.md list them for senders.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field


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
    """Why a council is told of an episode, and so which duties are its own (docs/council-it.md).

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
