"""Render a delivery as the body of Mosaic's missing-episode calls (docs/council-it.md), pure.

The same body serves the create call and the events call. Codes come from
`mappings/mosaic.yaml`; the body is validated against `schema/` before it is returned, in two
speeds as the XML adapters are: jsonschema-rs on every body (compiled, about a hundredth of a
millisecond), and only for a body it refuses, jsonschema for the located error report.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs

import mappings
from adapters.base import DeliveryRequest, Payload
from adapters.codes import CodeTables, episode_kind
from adapters.rendering import debrief_to_send, utc_text
from gateway.canonical import Child, EpisodeEvent, SourceRef
from gateway.errors import PermanentDelivery

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "missing-episode-request.schema.json"
MEDIA_TYPE = "application/json"
CODES = CodeTables("mosaic", mappings.path("mosaic.yaml"))

Json = dict[str, Any]


def render(request: DeliveryRequest) -> Payload:
    """The JSON body for this delivery, validated against the Mosaic schema.

    Raises:
        PermanentDelivery: a code has no Mosaic mapping, or the body breaks the schema.
    """
    body = build(request)
    errors = [] if _fast_validator().is_valid(body) else schema_errors(body) or _fast_errors(body)
    if errors:
        raise PermanentDelivery(
            f"mosaic payload breaks its schema: {len(errors)} error(s), first {errors[0]}"
        )
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    return Payload(media_type=MEDIA_TYPE, body=text.encode("utf-8"))


@cache
def _schema() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return _inlined(schema, schema.get("$defs", {}))


@cache
def _fast_validator() -> Any:
    """The hot path's check (both validators read the same Draft 2020-12 schema)."""
    return jsonschema_rs.Draft202012Validator(_schema())


@cache
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(_schema())


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with each bare `{"$ref": "#/$defs/x"}` replaced by `x` itself.

    The same checks, the same error paths: resolving a reference on every validation costs
    about half of it, and the definitions are flat, so nothing recursive is unrolled.
    """
    if isinstance(node, list):
        return [_inlined(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if len(node) == 1 and isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
    return {key: _inlined(value, defs) for key, value in node.items()}


def schema_errors(body: Any) -> list[str]:
    """Where `body` breaks the schema, as `$.path: keyword` (never the offending values)."""
    found = sorted(_validator().iter_errors(body), key=lambda e: (e.json_path, str(e.validator)))
    return [f"{error.json_path}: {error.validator}" for error in found]


def _fast_errors(body: Any) -> list[str]:
    """jsonschema-rs's own errors, in the same form: for the (unseen) case the two disagree."""
    found = sorted(
        (
            "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.instance_path),
            str(e.schema_path[-1]) if e.schema_path else "schema",
        )
        for e in _fast_validator().iter_errors(body)
    )
    return [f"{path}: {keyword}" for path, keyword in found]


def build(request: DeliveryRequest) -> Json:
    """The request body as a JSON-ready dict, keys in the order docs/council-it.md shows them."""
    event = request.event
    return {
        "externalReference": request.episode_id,
        "eventType": CODES.code("event_type", event.type),
        "eventTime": utc_text(event.at),
        "source": _source(event.source),
        "person": _person(event.child),
        "episode": _episode(request),
        "debrief": _debrief(event),
        "alerts": [
            {"code": alert.code.upper(), "reason": alert.reason} for alert in request.alerts
        ],
        "police": {
            "officer": event.episode.police.officer,
            "unit": event.episode.police.unit,
            "phone": event.episode.police.phone,
            "email": event.episode.police.email,
        },
    }


def _source(source: SourceRef) -> Json:
    return {
        "system": CODES.code("source_system", source.source),
        "forceCode": source.force,
        "reference": source.reference,
    }


def _person(child: Child) -> Json:
    return {
        "forename": child.given_names,
        "surname": child.family_name,
        "dateOfBirth": child.date_of_birth.isoformat(),
        "gender": CODES.code("gender", child.gender),
        "nhsNumber": child.nhs_number,
        "address": {
            "lines": list(child.home_address.lines),
            "postcode": child.home_address.postcode,
        },
    }


def _episode(request: DeliveryRequest) -> Json:
    episode = request.event.episode
    care = episode.care
    found = episode.found
    body: Json = {
        "type": CODES.code("episode_type", episode_kind(episode)),
        "policeCategory": CODES.code("police_category", episode.police_category),
        "riskLevel": CODES.code("risk_level", episode.risk_level),
        "status": CODES.code("status", episode.status),
        "lastSeenTime": utc_text(episode.last_seen_at),
        "lastSeenLocation": episode.last_seen_location,
        "reportedTime": utc_text(episode.reported_at),
        "foundTime": utc_text(found.at) if found else None,
        "foundLocation": found.location if found else None,
        "circumstances": episode.circumstances or None,
        "vulnerabilities": [
            CODES.code("vulnerability", v) for v in dict.fromkeys(episode.vulnerabilities)
        ],
        "lookedAfter": episode.looked_after,
        "legalStatus": care.legal_status.value if care and care.legal_status else None,
        "responsibleLaCode": episode.responsible_council,
        "returnInterviewDueBy": (
            utc_text(request.return_interview_due_by) if request.return_interview_due_by else None
        ),
        "councilRole": CODES.code("council_role", request.council_role),
        "returnInterviewOwnerLaCode": request.return_interview_owner,
        "childProtectionPlan": episode.on_child_protection_plan,
        "foundCondition": CODES.code("found_condition", found.condition) if found else None,
    }
    if request.cin_factors:
        body["cinFactors"] = list(request.cin_factors)
    return body


def _debrief(event: EpisodeEvent) -> Json | None:
    """The debrief object on a DEBRIEFED event (docs/council-it.md), null on every other event."""
    debrief = debrief_to_send(event, "mosaic")
    if debrief is None:
        return None
    return {
        "conductedTime": utc_text(debrief.conducted_at),
        "method": CODES.code("interview_method", debrief.method),
        "declined": debrief.declined,
        "harmDisclosed": debrief.harm_disclosed,
        "crimeDisclosed": debrief.crime_disclosed,  # null: not known (COMPACT)
        "summary": debrief.summary or None,
    }
