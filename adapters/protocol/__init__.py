"""Liquidlogic Protocol outbound adapter: XML drop and asynchronous acks (docs/council-it.md).

`ADAPTER` is everything the gateway needs of Protocol, `poll_acks` included: `renderer` builds
and validates the import document, `client` drops it and reads the acks, `simulator` is a
Protocol import for tests and the demo.
"""

from __future__ import annotations

from pathlib import Path

from adapters.base import OutboundAdapter
from adapters.protocol import client, renderer

ADAPTER = OutboundAdapter(
    name="protocol",
    folder=Path(__file__).resolve().parent,
    schema_path=renderer.SCHEMA_PATH,
    codes=renderer.CODES,
    render=renderer.render,
    send=client.send,
    classify=client.classify,
    credentials=client.CREDENTIALS,
    demo_credentials={"api_key": "demo-api-key"},
    simulator="adapters.protocol.simulator:create_app",
    poll_acks=client.poll_acks,
)
