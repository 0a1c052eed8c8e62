"""The published OpenAPI document: generated from the app, committed as `openapi.yaml`.

`gateway openapi --output openapi.yaml` refreshes the file; a test fails when they differ.
"""

from __future__ import annotations

from typing import Any

from gateway.api.app import create_app


def document() -> dict[str, Any]:
    """The app's OpenAPI document, with the bearer scheme described."""
    spec = create_app(None).openapi()
    spec.setdefault("components", {}).setdefault("securitySchemes", {})
    return spec
