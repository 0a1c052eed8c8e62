"""Minicase: a minimal fourth case system, defined in the test suite (REST/JSON, a token).

It exists to prove that a new case system is one folder and one registry line: the tests
register `ADAPTER` and nothing else, and it must then pass the outbound contract suite and be
routed, mounted and delivered to like the three real ones.
"""

from __future__ import annotations

from pathlib import Path

from adapters.base import OutboundAdapter
from tests.adapters.minicase import client, renderer

ADAPTER = OutboundAdapter(
    name="minicase",
    folder=Path(__file__).resolve().parent,
    schema_path=renderer.SCHEMA_PATH,
    codes=renderer.CODES,
    render=renderer.render,
    send=client.send,
    classify=client.classify,
    credentials=client.CREDENTIALS,
    demo_credentials={"token": "demo-token"},
    simulator="tests.adapters.minicase.simulator:create_app",
)
