"""Mosaic outbound adapter: REST/JSON with OAuth2 client credentials (docs/council-it.md, "Mosaic").

`ADAPTER` satisfies `adapters.base.OutboundAdapter`; `renderer` builds and validates the body,
`client` sends it and classifies the answer, `simulator` is a Mosaic for tests and the demo.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from adapters.base import DeliveryRequest, Payload, SendResult, TargetConfig
from adapters.mosaic import client, renderer
from adapters.outbound import CodeTables


class MosaicAdapter:
    """The Mosaic case system as an outbound adapter."""

    @property
    def name(self) -> str:
        """`mosaic`: the folder's name and the routing file's `system`."""
        return "mosaic"

    @property
    def schema_path(self) -> Path:
        """The JSON Schema (draft 2020-12) every rendered body is validated against."""
        return renderer.SCHEMA_PATH

    @property
    def codes(self) -> CodeTables:
        """The canonical → Mosaic code tables (`mappings/mosaic.yaml`)."""
        return renderer.CODES

    def render(self, request: DeliveryRequest) -> Payload:
        """Render and validate the JSON body (see `renderer.render`)."""
        return renderer.render(request)

    def send(
        self, request: DeliveryRequest, payload: Payload, target: TargetConfig, http: httpx.Client
    ) -> SendResult:
        """Send with OAuth2 and the idempotency key (see `client.send`)."""
        return client.send(request, payload, target, http)

    def classify(self, response: httpx.Response) -> SendResult:
        """Mosaic's answer table (see `client.classify`)."""
        return client.classify(response)


ADAPTER = MosaicAdapter()
