"""COMPACT case exports in (compact.md, interface v3.4): `ADAPTER` is the inbound adapter."""

from __future__ import annotations

from pathlib import Path

from adapters.base import SourceMessage
from adapters.compact import mapping, parser
from adapters.compact.model import CompactMessage
from gateway.canonical import EpisodeEvent, Source


class CompactAdapter:
    """The COMPACT inbound adapter (satisfies `adapters.base.InboundAdapter`)."""

    @property
    def name(self) -> Source:
        """`compact`, as the folder and the URL segment."""
        return Source.COMPACT

    @property
    def schema_path(self) -> Path:
        """The COMPACT 3.4 XSD."""
        return parser.SCHEMA_PATH

    def parse(self, body: bytes) -> CompactMessage:
        """Parse, validate and semantically check one export (see `parser.parse`)."""
        return parser.parse(body)

    def to_events(self, message: SourceMessage) -> list[EpisodeEvent]:
        """Map a parsed export into its canonical event (see `mapping.to_events`).

        Raises:
            TypeError: `message` did not come from this adapter's `parse`.
        """
        if not isinstance(message, CompactMessage):
            raise TypeError(f"expected a CompactMessage, got {type(message).__name__}")
        return mapping.to_events(message)


ADAPTER = CompactAdapter()

__all__ = ["ADAPTER", "CompactAdapter", "CompactMessage"]
