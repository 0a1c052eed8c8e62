"""What an adapter folder exports: one `InboundAdapter` or `OutboundAdapter`, and their data.

Each folder under `adapters/` exports a single `ADAPTER` object of one of the two dataclasses
below, holding everything the gateway needs of that system; `adapters/registry.py` lists them
and is the only list. Inbound adapters are pure: `parse(bytes) -> SourceMessage`,
`to_events(msg) -> list[EpisodeEvent]`; an outbound adapter's `send` is its only I/O. Every
adapter passes its direction's shared contract suite in `tests/contract/`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from adapters.codes import CodeTables
from gateway.canonical import CouncilRole, EpisodeEvent, Source

if TYPE_CHECKING:
    from fastapi import FastAPI


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


MessageT = TypeVar("MessageT", bound=SourceMessage)


@dataclass(frozen=True, kw_only=True, eq=False)
class InboundAdapter(Generic[MessageT]):
    """A police system the gateway accepts notifications from: all of it, in one object.

    The inbound route `POST /v1/inbound/<name>`, the receipt's `source` values, the golden
    refresh and the contract suite all derive from the registered objects.

    Attributes:
        name: the folder's name, the URL segment and the canonical `source` of its events.
        folder: the adapter's folder (`manifest.toml`, `schema/`, `fixtures/`).
        schema_path: the XSD the adapter validates against.
        message_type: the `SourceMessage` subclass that `parse` returns.
        parse: parse, validate and semantically check raw bytes (raises an
            `InboundRejected` subclass saying exactly what is wrong and where).
        map_events: map a parsed message into canonical events, pure and deterministic
            (raises `SemanticInvalid` for a code or name with no mapping).
        personal_elements: local names of the elements whose text is personal data; the
            contract suite proves none of their values reaches an error or a log.
        summary: the inbound route's one-line summary in the OpenAPI document.
        description: the inbound route's description in the OpenAPI document.
    """

    name: str
    folder: Path
    schema_path: Path
    message_type: type[MessageT]
    parse: Callable[[bytes], MessageT]
    map_events: Callable[[MessageT], list[EpisodeEvent]]
    personal_elements: frozenset[str]
    summary: str
    description: str

    def to_events(self, message: SourceMessage) -> list[EpisodeEvent]:
        """Map a message from this adapter's `parse` into canonical events (`map_events`).

        Raises:
            TypeError: the message did not come from this adapter's `parse`.
            gateway.errors.SemanticInvalid: a code or name with no mapping.
        """
        if not isinstance(message, self.message_type):
            raise TypeError(f"not a {self.name} message: {type(message).__name__}")
        return self.map_events(message)


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
        council_role: why that council is told (responsible, home or host: docs/council-it.md).
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


@dataclass(frozen=True, kw_only=True, eq=False)
class OutboundAdapter:
    """A council case system the gateway delivers to: all of it, in one object.

    Routing's system names and credential variables, the simulators mounted under
    `/sim/<name>`, the golden refresh and the contract suite all derive from the registered
    objects.

    Attributes:
        name: the folder's name and the routing file's `system`.
        folder: the adapter's folder (`manifest.toml`, `schema/`, `fixtures/golden/`).
        schema_path: the system's own schema (JSON Schema `.json` or XSD `.xsd`) that every
            rendered payload is validated against.
        codes: the canonical → system code tables (its mapping file).
        render: render and validate the payload, pure (raises `PermanentDelivery` when the
            canonical data cannot be expressed).
        send: send one payload, the only I/O, authenticating as the system requires (raises
            `RetryableDelivery`, with `retry_after` when told, or `PermanentDelivery`).
        classify: the spec's answer table: an answer to a result, or the error to raise.
        credentials: the keys the client reads from the target's credentials; routing reads
            each from the environment variable `<credentials_env>_<KEY upper-cased>`.
        demo_credentials: what loopback routes without `credentials_env` send (the bundled
            simulator accepts them), with the same keys.
        simulator: where the factory of the system's simulator app is, as
            `"package.module:function"`; it is imported only when a simulator is built
            (`create_simulator`), so no other process pays for it.
        poll_acks: reads asynchronous acknowledgements after a cursor, for systems that
            acknowledge later (Protocol); None for the others.
    """

    name: str
    folder: Path
    schema_path: Path
    codes: CodeTables
    render: Callable[[DeliveryRequest], Payload]
    send: Callable[[DeliveryRequest, Payload, TargetConfig, httpx.Client], SendResult]
    classify: Callable[[httpx.Response], SendResult]
    credentials: tuple[str, ...]
    demo_credentials: Mapping[str, str]
    simulator: str
    poll_acks: (
        Callable[[TargetConfig, str | None, httpx.Client], tuple[list[Ack], str | None]] | None
    ) = None

    def create_simulator(self) -> FastAPI:
        """A new simulator app of this system, mounted at `/sim/<name>` by the gateway."""
        module, _, factory = self.simulator.partition(":")
        app: FastAPI = getattr(importlib.import_module(module), factory)()
        return app
