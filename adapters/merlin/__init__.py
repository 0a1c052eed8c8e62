"""The MERLIN inbound adapter: Metropolitan Police notifications (specs/merlin.md, v2.1)."""

from __future__ import annotations

from pathlib import Path

from adapters.base import SourceMessage
from adapters.merlin import mapping, parser
from adapters.merlin.model import MerlinMessage
from gateway.canonical import EpisodeEvent, Source

__all__ = ["ADAPTER", "MerlinAdapter", "MerlinMessage"]


class MerlinAdapter:
    """MERLIN notifications in, canonical episode events out (pure: no I/O)."""

    @property
    def name(self) -> Source:
        """`merlin`, the folder's and the URL segment's name."""
        return Source.MERLIN

    @property
    def schema_path(self) -> Path:
        """The v2.1 XSD the notifications are validated against."""
        return parser.SCHEMA_PATH

    def parse(self, body: bytes) -> MerlinMessage:
        """Parse, validate and check one notification (see `parser.parse`)."""
        return parser.parse(body)

    def to_events(self, message: SourceMessage) -> list[EpisodeEvent]:
        """Map a message from `parse` to its one event (see `mapping.to_events`).

        Raises:
            TypeError: the message did not come from this adapter.
        """
        if not isinstance(message, MerlinMessage):
            raise TypeError(f"not a MERLIN message: {type(message).__name__}")
        return mapping.to_events(message)


ADAPTER = MerlinAdapter()
