"""Render a delivery as a minicase event: a flat JSON object of codes, validated, pure."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from adapters.base import DeliveryRequest, Payload
from adapters.codes import CodeTables, episode_kind
from adapters.rendering import debrief_to_send, utc_text
from gateway.errors import PermanentDelivery

FOLDER = Path(__file__).resolve().parent
SCHEMA_PATH = FOLDER / "schema" / "minicase-event.schema.json"
CODES = CodeTables("minicase", FOLDER / "codes.yaml")


def render(request: DeliveryRequest) -> Payload:
    """The JSON event for this delivery, validated against the minicase schema.

    Raises:
        PermanentDelivery: a code has no minicase mapping, or the body breaks the schema.
    """
    body = build(request)
    errors = schema_errors(body)
    if errors:
        raise PermanentDelivery(f"minicase payload breaks its schema at {errors[0]}")
    text = json.dumps(body, indent=2) + "\n"
    return Payload(media_type="application/json", body=text.encode("utf-8"))


def schema_errors(body: Any) -> list[str]:
    """The JSON paths where `body` breaks the schema (never the offending values)."""
    return sorted(error.json_path for error in _validator().iter_errors(body))


@cache
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def build(request: DeliveryRequest) -> dict[str, Any]:
    """The event as a JSON-ready dict."""
    event, episode = request.event, request.event.episode
    debrief = debrief_to_send(event, "minicase")
    return {
        "episode": request.episode_id,
        "event": CODES.code("event_type", event.type),
        "at": utc_text(event.at),
        "source": {
            "system": CODES.code("source_system", event.source.source),
            "reference": event.source.reference,
        },
        "council": {
            "code": request.council,
            "role": CODES.code("council_role", request.council_role),
        },
        "episodeType": CODES.code("episode_type", episode_kind(episode)),
        "category": CODES.code("police_category", episode.police_category),
        "risk": CODES.code("risk_level", episode.risk_level),
        "status": CODES.code("status", episode.status),
        "gender": CODES.code("gender", event.child.gender),
        "vulnerabilities": [CODES.code("vulnerability", v) for v in episode.vulnerabilities],
        "foundCondition": (
            CODES.code("found_condition", episode.found.condition) if episode.found else None
        ),
        "debriefMethod": CODES.code("interview_method", debrief.method) if debrief else None,
        "alerts": [alert.code.upper() for alert in request.alerts],
    }
