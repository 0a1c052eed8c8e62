"""Minisource: a minimal police source, defined in the test suite (one XML report per event).

It exists to prove that a new police source is one folder and one registry line: the tests
register `ADAPTER` and nothing else, and it must then pass the inbound contract suite and be
accepted at `POST /v1/inbound/minisource` like MERLIN and COMPACT.
"""

from __future__ import annotations

from pathlib import Path

from adapters.base import InboundAdapter
from tests.adapters.minisource import mapping, parser

ADAPTER = InboundAdapter(
    name="minisource",
    folder=Path(__file__).resolve().parent,
    schema_path=parser.SCHEMA_PATH,
    message_type=parser.MinisourceMessage,
    parse=parser.parse,
    map_events=mapping.to_events,
    personal_elements=frozenset(
        {"GivenNames", "FamilyName", "DateOfBirth", "AddressLine", "Postcode"}
    ),
    summary="Submit a minisource report",
    description="Accept a minisource report; 202 means it is committed.",
)
