"""Response models: they are the API's published contract (openapi.yaml is generated from them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters import registry

DeliveryStatus = Literal[
    "pending", "in_flight", "sent", "delivered", "retrying", "dead", "cancelled"
]
# The canonical code lists as the API publishes them (a test keeps them equal to the enums).
CouncilRoleCode = Literal["responsible", "home", "host"]
ConditionCode = Literal[
    "safe_and_well", "injured", "hospital", "in_custody", "deceased", "concerns", "not_known"
]


class ProblemError(BaseModel):
    """One located error in an inbound message."""

    path: str
    line: int | None
    column: int | None
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[ProblemError] | None = None


class ReceiptDelivery(BaseModel):
    """A delivery created by a message, with its current status."""

    delivery_id: str
    council: str
    system: str
    status: DeliveryStatus


class ReceiptWarning(BaseModel):
    """A fact police IT should act on; the message was accepted all the same."""

    code: str = Field(
        description="council_name_unresolved, responsible_authority_unknown or no_council_told"
    )
    message: str


class Receipt(BaseModel):
    """What the gateway did with an inbound message."""

    receipt_id: str
    source: registry.SourceName
    message_id: str
    status: Literal["accepted", "duplicate"]
    episode_id: str | None
    event_types: list[str]
    deliveries: list[ReceiptDelivery]
    unroutable_councils: list[str] = Field(
        description="DfE codes of councils that must be told but are not onboarded"
    )
    unresolved_councils: list[str] = Field(
        default_factory=list,
        description="Council names (COMPACT) that match no council, verbatim: they wait on "
        "the unroutable list for an operator",
    )
    warnings: list[ReceiptWarning] = Field(default_factory=list)
    stale: bool
    received_at: datetime


class AddressView(BaseModel):
    """A postal address."""

    lines: list[str]
    postcode: str


class ChildView(BaseModel):
    """The child, as the police describe them."""

    model_config = ConfigDict(extra="allow")

    given_names: str
    family_name: str
    aliases: list[str]
    date_of_birth: date
    gender: str
    ethnicity: str | None
    nhs_number: str | None
    police_person_ref: str | None
    home_address: AddressView


class RiskEntry(BaseModel):
    """One grading in the risk history."""

    level: str
    at: datetime


class SourceView(BaseModel):
    """A police report that names this episode."""

    source: str
    force: str
    reference: str


class CaseRecordView(BaseModel):
    """What a council's case system answered: its own ids for the child and the episode."""

    council: str
    system: str
    person_id: str | None
    episode_id: str | None


class FlagView(BaseModel):
    """A council policy flag raised on the episode (docs/policy-packs.md)."""

    model_config = ConfigDict(extra="allow")

    code: str
    rule: str
    council: str
    reason: str | None = None
    period: int = Field(default=0, description="0, or which repeat of a repeating rule")
    due_at: datetime | None = Field(default=None, description="When the rule's condition was met")
    raised_at: datetime | None = Field(default=None, description="When the gateway raised it")


class CouncilView(BaseModel):
    """A council told of the episode, and the role it is told in."""

    council: str = Field(description="DfE LA code")
    role: CouncilRoleCode = Field(
        description="`responsible`: placing authority of a looked-after child; `home`: home "
        "council of a child who is not looked after; `host`: where a looked-after child is "
        "placed, when not the responsible authority"
    )


class EventView(BaseModel):
    """One event of the episode."""

    type: str
    at: datetime
    source_message_id: str | None = Field(
        description="The police message it came from; null for an `updated` event the gateway "
        "raised itself to carry a policy timer's flag"
    )
    seq: int


class EpisodeView(BaseModel):
    """The canonical episode (openapi.yaml)."""

    model_config = ConfigDict(extra="allow")

    episode_id: str
    police_category: Literal["missing", "absent"]
    whereabouts_known: bool
    dfe_missing_type: Literal["M", "A"] | None
    status: Literal["open", "found", "closed", "cancelled"]
    risk_level: Literal["high", "medium", "low", "no_apparent_risk"]
    risk_history: list[RiskEntry]
    child: ChildView
    looked_after: bool
    legal_status: str | None
    placement_type: str | None
    home_council: str | None = Field(
        description="Null while the council where the child is has a name that matches none"
    )
    responsible_council: str | None
    councils: list[CouncilView] = Field(
        description="Each council told, with its role; the home or host council first"
    )
    return_interview_owner: str | None = Field(
        description="DfE LA code of the council that owes the return home interview: the "
        "responsible authority of a looked-after child (null when the police named none), "
        "else the home council"
    )
    reported_at: datetime
    last_seen_at: datetime
    last_seen_location: str
    found_at: datetime | None
    found_location: str | None
    found_condition: ConditionCode | None = Field(
        description="The child's condition when found; null while the child is missing"
    )
    vulnerabilities: list[str]
    cin_factors: list[str]
    child_protection_plan: bool = Field(
        default=False,
        description="On a child protection plan: the care status's flag or the coded "
        "vulnerability says so",
    )
    return_interview_due_by: datetime | None = Field(
        description="Found time + 72 h (docs/council-it.md), once the child has been found"
    )
    episodes_last_28_days: int = Field(description="The child's episodes reported in 28 days")
    episodes_last_30_days: int = Field(description="… in 30 days (this one included)")
    episodes_last_60_days: int = Field(description="… in 60 days")
    episodes_last_90_days: int = Field(description="… in 90 days")
    episodes_total: int = Field(description="… ever, as seen by the gateway")
    flags: list[FlagView]
    sources: list[SourceView]
    case_records: list[CaseRecordView]
    events: list[EventView]


class UnroutableItem(BaseModel):
    """An event waiting for an operator: its council is not onboarded, or its name unknown."""

    kind: Literal["not_onboarded", "unresolved_name"]
    council: str | None = Field(
        description="DfE code of the council that waits (null: its name matches none yet)"
    )
    name: str | None = Field(
        description="The council name as the police wrote it, when it matched none (COMPACT)"
    )
    role: Literal["responsible", "home", "host"] = Field(
        description="The role the council is told in once it can be (docs/council-it.md)"
    )
    episode_id: str
    event_id: str
    receipt_id: str | None
    created_at: datetime = Field(description="Waiting since")
    resolved_at: datetime | None


class UnroutableList(BaseModel):
    """A page of the operators' unroutable list, oldest first."""

    items: list[UnroutableItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


class AuditProblem(BaseModel):
    """One thing in the audit chain or its checkpoints that does not verify."""

    problem: str = Field(description="a stable kebab-case name for the kind of problem")
    entry: int | None = Field(default=None, description="the first entry concerned")
    detail: str = Field(description="what is wrong, and where")
    action: str = Field(description="what the person on call should do")


class AuditCheckpoint(BaseModel):
    """The newest checkpoint of the chain's head whose HMAC verified."""

    entry: int
    hash: str
    written_at: str
    writer: str


class AuditVerification(BaseModel):
    """The result of checking the audit chain and its checkpoints."""

    ok: bool
    entries: int
    head: str | None = None
    checkpoint: AuditCheckpoint | None = None
    problems: list[AuditProblem] = []
    notes: list[str] = []
    broken_entry: int | None = Field(default=None, description="the first problem's entry")
    reason: str | None = Field(default=None, description="the first problem's detail")


class Health(BaseModel):
    """Liveness/readiness."""

    status: Literal["ok", "unavailable"]
    detail: str | None = None


class DeliveryFlag(BaseModel):
    """A council policy flag sent with a delivery."""

    model_config = ConfigDict(extra="allow")

    code: str
    rule: str | None = None
    council: str | None = None
    reason: str | None = None


class DeliveryItem(BaseModel):
    """One delivery on the delivery log: an event on its way to one council's case system."""

    delivery_id: str
    episode_id: str
    event_id: str
    event_type: str
    council: str
    system: registry.SystemName
    seq: int = Field(description="Order of this delivery among its episode's to this council")
    status: DeliveryStatus
    priority: int = Field(description="0 high risk … 3 no apparent risk; lower goes first")
    risk: Literal["high", "medium", "low", "no_apparent_risk"]
    attempt_count: int = Field(description="Attempts made so far, replays included")
    created_at: datetime
    updated_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When a pending or retrying one is due")
    deadline_at: datetime = Field(description="Delivered by then, or it is overdue")
    overdue: bool = Field(description="Not delivered (nor cancelled) by its deadline")
    sent_at: datetime | None = Field(description="Protocol: when the drop was accepted")
    ack_overdue: bool = Field(description="Sent, and the acknowledgement is later than allowed")
    delivered_at: datetime | None
    target_reference: str | None = Field(description="The case system's reference for it")
    last_error: str | None = Field(description="Why the last attempt failed (why it is dead)")
    flags: list[DeliveryFlag]


class DeliveryPage(BaseModel):
    """A page of the delivery log, newest first."""

    items: list[DeliveryItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


class DeliveryAttempt(BaseModel):
    """One attempt to deliver."""

    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None = Field(
        description="delivered, sent, retryable, permanent or abandoned; null while under way"
    )
    http_status: int | None
    error: str | None
    target_reference: str | None


class DeliveryPayload(BaseModel):
    """The payload exactly as sent (null body: not rendered yet, or purged)."""

    media_type: str | None
    encoding: Literal["utf-8", "base64"] | None = Field(
        description="How `body` holds the bytes: as text, or base64 when they are not UTF-8"
    )
    body: str | None
    purged: bool = Field(
        description="The body was deleted after the retention period (GATEWAY_RETENTION_DAYS); "
        "its SHA-256 is in the audit log's `purged` entry"
    )


class DeliveryDetail(DeliveryItem):
    """A delivery with its idempotency key, attempts and payload."""

    idempotency_key: str
    attempts: list[DeliveryAttempt]
    payload: DeliveryPayload
