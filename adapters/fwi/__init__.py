"""FWi outbound adapter: SOAP 1.1 with WS-Security UsernameToken (docs/council-it.md, "FWi").

`ADAPTER` satisfies `adapters.base.OutboundAdapter`; `renderer` builds and validates the
RecordMissingEpisodeEvent body, `client` wraps it in a freshly secured envelope, sends it and
classifies the answer, `simulator` is an FWi for tests and the demo.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from adapters.base import DeliveryRequest, Payload, SendResult, TargetConfig
from adapters.fwi import client, renderer
from adapters.outbound import CodeTables


class FwiAdapter:
    """The FWi case system as an outbound adapter."""

    @property
    def name(self) -> str:
        """`fwi`: the folder's name and the routing file's `system`."""
        return "fwi"

    @property
    def schema_path(self) -> Path:
        """The XSD of the SOAP body every rendered payload is validated against."""
        return renderer.SCHEMA_PATH

    @property
    def codes(self) -> CodeTables:
        """The canonical → FWi code tables (`mappings/fwi.yaml`)."""
        return renderer.CODES

    def render(self, request: DeliveryRequest) -> Payload:
        """Render and validate the SOAP body (see `renderer.render`)."""
        return renderer.render(request)

    def send(
        self, request: DeliveryRequest, payload: Payload, target: TargetConfig, http: httpx.Client
    ) -> SendResult:
        """Send in a WS-Security envelope (see `client.send`)."""
        return client.send(request, payload, target, http)

    def classify(self, response: httpx.Response) -> SendResult:
        """FWi's answer table (see `client.classify`)."""
        return client.classify(response)


ADAPTER = FwiAdapter()
