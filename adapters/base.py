"""The two adapter protocols: inbound (police → canonical) and outbound (canonical → case system).

Inbound adapters are pure: `parse(bytes) -> SourceMessage`, `to_events(msg) -> list[EpisodeEvent]`.
Every inbound adapter passes the shared contract suite in `tests/contract/`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict

from gateway.canonical import CouncilRole, EpisodeEvent, Source


class SourceMessage(BaseModel):
    """What the gateway needs of any parsed source message; adapters subclass it.

    Attributes:
        source: which police system sent it.
        message_id: the sender's id; a resend carries the same id.
        force: the two-digit Home Office force code in the message.
        reference: the police report/case reference, the same on every message of one report.
        version: ReportVersion / SequenceNo; orders messages of one report.
        sent_at: when the sender says it sent the message (UTC).
        c14n_sha256: hash of the canonical XML (C14N 1.0, blank text removed), telling a
            resend from a conflict.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    source: Source
    message_id: str
    force: str
    reference: str
    version: int
    sent_at: datetime
    c14n_sha256: str


@runtime_checkable
class InboundAdapter(Protocol):
    """A police system the gateway accepts notifications from."""

    @property
    def name(self) -> Source:
        """The adapter's name, equal to its folder's and the URL segment."""
        ...

    @property
    def schema_path(self) -> Path:
        """The XSD the adapter validates against."""
        ...

    def parse(self, body: bytes) -> SourceMessage:
        """Parse, validate and semantically check raw bytes.

        Raises:
            gateway.errors.InboundRejected: a subclass saying exactly what is wrong and where.
        """
        ...

    def to_events(self, message: SourceMessage) -> list[EpisodeEvent]:
        """Map a parsed message into canonical events (pure and deterministic).

        Raises:
            gateway.errors.SemanticInvalid: a code or name with no mapping.
        """
        ...


# --- outbound --------------------------------------------------------------------------------


class Alert(BaseModel):
    """A policy flag sent with a delivery (e.g. strategy meeting required)."""

    model_config = ConfigDict(frozen=True)

    code: str  # canonical snake case, e.g. "strategy_meeting_required"
    rule: str  # the policy rule that fired, e.g. "missing_4_in_28_days"
    reason: str  # short human text, no personal data


class DeliveryRequest(BaseModel):
    """Everything a renderer needs for one delivery of one event to one council.

    Attributes:
        delivery_id: the gateway's id of this delivery.
        idempotency_key: stable across every retry and replay of this delivery.
        council: DfE LA code of the receiving council.
        council_role: why that council is told (responsible, home or host: councils.md).
        return_interview_owner: DfE LA code of the council that owes the return home
            interview (None: a looked-after child whose responsible authority is unknown).
        episode_id: the gateway's episode id (the case system's external reference).
        first_for_target: true when no earlier event of this episode reached this council,
            so the case system must create the episode (Mosaic's create call).
        event: the canonical event with the episode snapshot after it.
        return_interview_due_by: found time + 72 h, when the child has been found.
        cin_factors: DfE CIN census assessment factor codes for the episode.
        episodes_last_28_days / episodes_last_90_days: per-child counts, this episode included.
        alerts: policy flags to raise with this delivery.
    """

    model_config = ConfigDict(frozen=True)

    delivery_id: str
    idempotency_key: str
    council: str
    council_role: CouncilRole
    return_interview_owner: str | None
    episode_id: str
    first_for_target: bool
    event: EpisodeEvent
    return_interview_due_by: datetime | None = None
    cin_factors: list[str] = []
    episodes_last_28_days: int = 1
    episodes_last_90_days: int = 1
    alerts: list[Alert] = []


class Payload(BaseModel):
    """A rendered payload exactly as it will be sent (and shown on the delivery log)."""

    model_config = ConfigDict(frozen=True)

    media_type: str
    body: bytes


class TargetConfig(BaseModel):
    """One council's endpoint, from the routing file (secrets already resolved)."""

    model_config = ConfigDict(frozen=True)

    council: str
    system: str
    base_url: str
    credentials: dict[str, str] = {}
    timeout_s: float = 10.0


class SendResult(BaseModel):
    """A successful send.

    Attributes:
        acknowledged: true when the case system recorded it (Mosaic, FWi); false when it was
            only received and an asynchronous acknowledgement must follow (Protocol).
        target_reference: the case system's id for what it recorded (or the dropped file name).
        person_id / episode_ref: the case system's own ids for the child and the episode,
            when it gave them (kept as the episode's `case_records`).
        http_status: the final HTTP status.
    """

    model_config = ConfigDict(frozen=True)

    acknowledged: bool
    target_reference: str | None = None
    person_id: str | None = None
    episode_ref: str | None = None
    http_status: int


class Ack(BaseModel):
    """An asynchronous acknowledgement (Protocol's import acks)."""

    model_config = ConfigDict(frozen=True)

    target_reference: str  # the file name the ack is about
    idempotency_key: str | None = None  # the delivery's key, when the file name carries it
    accepted: bool
    reference: str | None = None
    person_id: str | None = None
    errors: list[str] = []
    cursor: str


@runtime_checkable
class OutboundAdapter(Protocol):
    """A council case system the gateway delivers to."""

    @property
    def name(self) -> str:
        """The adapter's name, equal to its folder's and the routing file's `system`."""
        ...

    def render(self, request: DeliveryRequest) -> Payload:
        """Render and validate the payload against the system's own schema (pure).

        Raises:
            gateway.errors.PermanentDelivery: the canonical data cannot be expressed.
        """
        ...

    def send(
        self, request: DeliveryRequest, payload: Payload, target: TargetConfig, http: httpx.Client
    ) -> SendResult:
        """Send one payload (the only I/O), authenticating as the system requires.

        Raises:
            gateway.errors.RetryableDelivery: try again later (`retry_after` when told).
            gateway.errors.PermanentDelivery: dead-letter with the reason.
        """
        ...
