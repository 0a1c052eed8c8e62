"""openapi.yaml is the published contract: it must equal what the app serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.api.openapi import document

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_yaml_matches_the_app() -> None:
    """Regenerate with `gateway openapi --output openapi.yaml` when the API changes."""
    published = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    assert published == document()


def test_every_contract_operation_is_published() -> None:
    """The operations police and council IT are told about (docs/) are all in the document."""
    paths = document()["paths"]
    for path, method in [
        ("/v1/inbound/merlin", "post"),
        ("/v1/inbound/compact", "post"),
        ("/v1/receipts/{source}/{message_id}", "get"),
        ("/v1/episodes/{episode_id}", "get"),
        ("/v1/unroutable", "get"),
        ("/v1/audit/verify", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ]:
        assert method in paths[path], f"{method.upper()} {path} is not published"
