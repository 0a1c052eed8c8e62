"""The typed MERLIN v2.1 notification (docs/police-it.md), as the parser builds it.

The model mirrors the XML structure. Code values (gender, risk level, ...) stay as the source's
own strings: `mapping.py` translates them through `mappings/merlin.yaml`, so the code lists
live in data, not here. Times keep the offset the message gave; the canonical model converts
them to UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import SourceMessage


class NotificationType(StrEnum):
    """What a notification reports; decides which sections it must carry."""

    MISSING_REPORT = "MISSING_REPORT"
    RISK_REVIEW = "RISK_REVIEW"
    UPDATE = "UPDATE"
    FOUND = "FOUND"
    PREVENTION_INTERVIEW = "PREVENTION_INTERVIEW"
    CLOSURE = "CLOSURE"
    CANCELLATION = "CANCELLATION"


class MerlinModel(BaseModel):
    """Base for the notification's parts: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Header(MerlinModel):
    """`Header`: who sent the notification, when, and of which type."""

    message_id: str
    sent_at: datetime
    notification_type: NotificationType
    force_code: str
    sending_unit: str


class Address(MerlinModel):
    """`HomeAddress` / `PlacementAddress`: up to five lines and a postcode (as sent)."""

    lines: list[str] = Field(min_length=1, max_length=5)
    postcode: str


class Subject(MerlinModel):
    """`Subject`: the missing child."""

    family_name: str
    given_names: str
    aliases: list[str] = Field(default_factory=list)
    date_of_birth: date
    gender: str
    ethnicity: str | None = None
    nhs_number: str | None = None
    home_address: Address
    home_borough: str


class CareStatus(MerlinModel):
    """`CareStatus`: present when the child is known to children's social care."""

    looked_after: bool
    legal_status: str | None = None
    responsible_authority: str | None = None
    placement_type: str | None = None
    placement_address: Address | None = None
    placement_borough: str | None = None
    child_protection_plan: bool


class RiskFactor(MerlinModel):
    """`RiskFactors/Factor`: a coded risk factor with optional detail text."""

    code: str
    detail: str | None = None


class Missing(MerlinModel):
    """`Missing`: the police grading and the circumstances of the disappearance."""

    category: str
    whereabouts_known: bool = False
    risk_level: str
    risk_rationale: str
    risk_assessed_at: datetime
    last_seen_at: datetime
    last_seen_location: str
    reported_at: datetime
    reported_by: str
    circumstances: str
    risk_factors: list[RiskFactor] = Field(default_factory=list)
    previous_reports_12m: int | None = None


class Found(MerlinModel):
    """`Found`: when, where and by whom the child was found."""

    found_at: datetime
    found_location: str
    found_by: str
    returned_to: str
    condition: str


class PreventionInterview(MerlinModel):
    """`PreventionInterview`: the debrief recorded after the safe and well interview."""

    conducted_at: datetime
    method: str
    declined: bool
    where_went: str | None = None
    with_whom: str | None = None
    reason_given: str | None = None
    harm_disclosed: bool
    crime_disclosed: bool
    welfare_concerns: str | None = None


class Officer(MerlinModel):
    """`OfficerInCase`: the officer responsible for the report."""

    name: str
    rank: str
    warrant_number: str
    unit: str
    phone: str
    email: str


class Report(MerlinModel):
    """`Report`: the full current state of one MERLIN missing report."""

    merlin_ref: str
    report_version: int = Field(ge=1)
    cad_ref: str | None = None
    subject: Subject
    care_status: CareStatus | None = None
    missing: Missing
    found: Found | None = None
    prevention_interview: PreventionInterview | None = None
    closure_reason: str | None = None
    officer: Officer


class MerlinNotification(MerlinModel):
    """`MerlinNotification`: one notification, schema version 2.1."""

    schema_version: str
    header: Header
    report: Report


class MerlinMessage(SourceMessage):
    """A parsed, validated and checked MERLIN notification with its gateway-level identity."""

    notification: MerlinNotification
