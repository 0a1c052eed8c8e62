"""Liquidlogic Protocol outbound adapter: XML drop and asynchronous acks (specs/protocol.md).

`ADAPTER` satisfies `adapters.base.OutboundAdapter` and adds `poll_acks`; `renderer` builds
and validates the import document, `client` drops it and reads the acks, `simulator` is a
Protocol import for tests and the demo.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from adapters.base import Ack, DeliveryRequest, Payload, SendResult, TargetConfig
from adapters.outbound import CodeTables
from adapters.protocol import client, renderer


class ProtocolAdapter:
    """The Protocol case system as an outbound adapter (send is acknowledged later)."""

    @property
    def name(self) -> str:
        """`protocol`: the folder's name and the routing file's `system`."""
        return "protocol"

    @property
    def schema_path(self) -> Path:
        """The XSD every rendered import document is validated against."""
        return renderer.SCHEMA_PATH

    @property
    def codes(self) -> CodeTables:
        """The canonical → Protocol code tables (`mappings/protocol.yaml`)."""
        return renderer.CODES

    def render(self, request: DeliveryRequest) -> Payload:
        """Render and validate the import document (see `renderer.render`)."""
        return renderer.render(request)

    def send(
        self, request: DeliveryRequest, payload: Payload, target: TargetConfig, http: httpx.Client
    ) -> SendResult:
        """Drop the document into the import inbox (see `client.send`)."""
        return client.send(request, payload, target, http)

    def classify(self, response: httpx.Response) -> SendResult:
        """Protocol's answer table (see `client.classify`)."""
        return client.classify(response)

    def poll_acks(
        self, target: TargetConfig, cursor: str | None, http: httpx.Client
    ) -> tuple[list[Ack], str | None]:
        """Read acknowledgements after `cursor` (see `client.poll_acks`)."""
        return client.poll_acks(target, cursor, http)


ADAPTER = ProtocolAdapter()
