"""FWi outbound adapter: SOAP 1.1 with WS-Security UsernameToken (docs/council-it.md, "FWi").

`ADAPTER` is everything the gateway needs of FWi: `renderer` builds and validates the
RecordMissingEpisodeEvent body, `client` wraps it in a freshly secured envelope, sends it and
classifies the answer, `simulator` is an FWi for tests and the demo.
"""

from __future__ import annotations

from pathlib import Path

from adapters.base import OutboundAdapter
from adapters.fwi import client, renderer

ADAPTER = OutboundAdapter(
    name="fwi",
    folder=Path(__file__).resolve().parent,
    schema_path=renderer.SCHEMA_PATH,
    codes=renderer.CODES,
    render=renderer.render,
    send=client.send,
    classify=client.classify,
    credentials=client.CREDENTIALS,
    demo_credentials={"username": "demo-gateway", "password": "demo-password"},
    simulator="adapters.fwi.simulator:create_app",
)
