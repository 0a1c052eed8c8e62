"""The MERLIN inbound adapter: Metropolitan Police notifications (docs/police-it.md, v2.1)."""

from __future__ import annotations

from pathlib import Path

from adapters.base import InboundAdapter
from adapters.merlin import mapping, parser
from adapters.merlin.model import MerlinMessage

__all__ = ["ADAPTER", "MerlinMessage"]

ADAPTER = InboundAdapter(
    name="merlin",
    folder=Path(__file__).resolve().parent,
    schema_path=parser.SCHEMA_PATH,
    message_type=MerlinMessage,
    parse=parser.parse,
    map_events=mapping.to_events,
    personal_elements=frozenset(
        {"FamilyName", "GivenNames", "Alias", "DateOfBirth", "NhsNumber", "Line", "Postcode"}
    ),
    summary="Submit a MERLIN missing-person notification",
    description="Accept a MERLIN notification (docs/police-it.md); 202 means it is committed.",
)
