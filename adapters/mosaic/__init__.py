"""Mosaic outbound adapter: REST/JSON with OAuth2 client credentials (docs/council-it.md, "Mosaic").

`ADAPTER` is everything the gateway needs of Mosaic: `renderer` builds and validates the body,
`client` sends it and classifies the answer, `simulator` is a Mosaic for tests and the demo.
"""

from __future__ import annotations

from pathlib import Path

from adapters.base import OutboundAdapter
from adapters.mosaic import client, renderer

ADAPTER = OutboundAdapter(
    name="mosaic",
    folder=Path(__file__).resolve().parent,
    schema_path=renderer.SCHEMA_PATH,
    codes=renderer.CODES,
    render=renderer.render,
    send=client.send,
    classify=client.classify,
    credentials=client.CREDENTIALS,
    demo_credentials={"client_id": "demo-gateway", "client_secret": "demo-secret"},
    simulator="adapters.mosaic.simulator:create_app",
)
