"""Ingest, step 1: parse, validate and map a message, and check its sender (no database).

Mapping is pure, so it is done before the store and not in the one-at-a-time transaction of
a batch (gateway/ingest/batching.py). A message that cannot be mapped keeps its rejection in
`Submission.unmappable`: it is the answer unless the message turns out to be a resend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters import registry
from adapters.base import InboundAdapter, SourceMessage
from gateway.canonical import EpisodeEvent
from gateway.errors import ForceMismatch, InboundRejected
from gateway.keys import Principal, Role


@dataclass(frozen=True, slots=True)
class Received:
    """A message as it arrived: what is handed to an ingest lane (gateway/ingest/processes.py)."""

    source: str  # the inbound adapter's name in `adapters.registry.INBOUND`
    body: bytes
    principal: Principal


@dataclass(frozen=True, slots=True)
class Submission:
    """A parsed and mapped message of a caller allowed to send it, waiting to be stored."""

    adapter: InboundAdapter[Any]
    message: SourceMessage
    body: bytes
    principal: Principal
    events: tuple[EpisodeEvent, ...] = ()
    canonical: tuple[dict[str, Any], ...] = ()  # each event's canonical JSON, as stored
    unmappable: InboundRejected | None = None


def prepare(adapter: InboundAdapter[Any], body: bytes, principal: Principal) -> Submission:
    """Parse, validate and map `body`, and check that `principal` may send it.

    Raises:
        InboundRejected: a subclass for every kind of bad input, but for a mapping error,
            which is kept in the submission (see `Submission`).
    """
    message = adapter.parse(body)
    if principal.role is Role.POLICE and message.force != principal.force:
        raise ForceMismatch(
            f"the message is for force {message.force}; this key may submit "
            f"for force {principal.force} only"
        )
    try:
        events = tuple(adapter.to_events(message))
    except InboundRejected as rejected:
        return Submission(adapter, message, body, principal, unmappable=rejected)
    canonical = tuple(event.model_dump(mode="json") for event in events)
    return Submission(adapter, message, body, principal, events, canonical)


def prepare_received(received: Received) -> Submission:
    """`prepare` a message as it arrived, by its source's registered adapter.

    Raises:
        InboundRejected: as `prepare`.
        KeyError: no inbound adapter has that name (the routes offer only registered ones).
    """
    return prepare(registry.INBOUND[received.source], received.body, received.principal)
