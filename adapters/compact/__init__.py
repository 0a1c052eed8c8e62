"""COMPACT case exports in (docs/police-it.md, interface v3.4): `ADAPTER` is the inbound adapter."""

from __future__ import annotations

from pathlib import Path

from adapters.base import InboundAdapter
from adapters.compact import mapping, parser
from adapters.compact.model import CompactMessage

__all__ = ["ADAPTER", "CompactMessage"]

ADAPTER = InboundAdapter(
    name="compact",
    folder=Path(__file__).resolve().parent,
    schema_path=parser.SCHEMA_PATH,
    message_type=CompactMessage,
    parse=parser.parse,
    map_events=mapping.to_events,
    personal_elements=frozenset(
        {"Forename", "MiddleNames", "Surname", "DOB", "NHSNo", "AddressLine", "Postcode"}
    ),
    summary="Submit a COMPACT missing-person case export",
    description="Accept a COMPACT export (docs/police-it.md); 202 means it is committed.",
)
