"""A Mosaic that behaves exactly as docs/council-it.md says, for tests and the demo.

One app serves any number of councils by path: a council's base URL is
`{server}/sim/mosaic/<LA code>` once the app is mounted at `/sim/mosaic`. It issues OAuth2
client-credentials tokens (any non-empty id and secret; tokens expire after `token_ttl_s`),
checks the bearer token, the `Idempotency-Key` and the body against the same JSON Schema the
renderer uses, keeps one answer per key, and answers `404` to events for episodes it does not
hold. Faults and the record book come from `adapters.simulation`; a rejection (`reject_rate`)
is the `422` VALIDATION answer of an invalid body.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from adapters.mosaic.client import SCOPE
from adapters.mosaic.renderer import schema_errors
from adapters.simulation import LOOPBACK_ONLY, FaultConfig, Record, Simulation, read_bounded

MAX_BODY_BYTES = 1 << 20
ADVERTISED_EXPIRES_IN = 3600
_LA = re.compile(r"^[0-9]{3}$")


@dataclass
class _Council:
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry on the clock
    answers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    episodes: dict[str, str] = field(default_factory=dict)  # externalReference -> episodeId
    events: int = 0


class MosaicState:
    """The councils' Mosaic data: tokens, answers by idempotency key, and episodes."""

    def __init__(self, sim: Simulation, token_ttl_s: float, clock: Callable[[], float]) -> None:
        self.sim = sim
        self.token_ttl_s = token_ttl_s
        self.clock = clock
        self._councils: dict[str, _Council] = {}
        sim.on_reset(self._councils.clear)

    def _council(self, la: str) -> _Council:
        return self._councils.setdefault(la, _Council())

    def issue_token(self, la: str) -> str:
        """A new access token, valid for `token_ttl_s` on the simulator's clock."""
        token = secrets.token_urlsafe(24)
        with self.sim.lock:
            self._council(la).tokens[token] = self.clock() + self.token_ttl_s
        return token

    def token_ok(self, la: str, authorization: str | None) -> bool:
        """Whether the `Authorization` header carries a live bearer token of this council."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self.sim.lock:
            expiry = self._council(la).tokens.get(token.strip())
        return expiry is not None and self.clock() < expiry

    def revoke_tokens(self) -> None:
        """Invalidate every token of every council (the next call answers 401)."""
        with self.sim.lock:
            for council in self._councils.values():
                council.tokens.clear()

    def accept(
        self, la: str, key: str, body: dict[str, Any], events_for: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Record an event (create call when `events_for` is None) and return status and answer."""
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.sim.lock:
            council = self._council(la)
            stored = council.answers.get(key)
            if stored is not None:
                self.sim.received_again(la, key)
                if stored[0] != digest:
                    return 422, {"error": "IDEMPOTENCY_KEY_REUSED"}
                return 200, stored[1]
            reference = str(body["externalReference"])
            if events_for is not None and reference not in council.episodes:
                return 404, {"error": "EPISODE_NOT_FOUND"}
            episode_id = council.episodes.setdefault(
                reference, f"MOS-EP-{len(council.episodes) + 1:06d}"
            )
            council.events += 1
            answer = {
                "episodeId": episode_id,
                "personId": _person_id(body),
                "eventId": f"MOS-EV-{council.events:06d}",
            }
            council.answers[key] = (digest, answer)
            episode = body["episode"]
            self.sim.record(
                la,
                Record(
                    idempotency_key=key,
                    episode_reference=reference,
                    event_type=str(body["eventType"]),
                    target_reference=answer["eventId"],
                    council_role=episode["councilRole"],
                    return_interview_owner=episode["returnInterviewOwnerLaCode"],
                    child_protection_plan=episode["childProtectionPlan"],
                    found_condition=episode["foundCondition"],
                ),
            )
            return 201, answer


def _person_id(body: dict[str, Any]) -> str | None:
    """Mosaic matches a person by NHS number; without one the MASH matches by hand (null)."""
    nhs = body["person"].get("nhsNumber")
    if not nhs:
        return None
    return "MOS-P-" + hashlib.sha256(str(nhs).encode()).hexdigest()[:10].upper()


class _Answers:
    """Mosaic's way of saying each injected fault."""

    def outage(self) -> Response:
        return JSONResponse({"error": "SERVICE_UNAVAILABLE"}, status_code=503)

    def error(self) -> Response:
        return JSONResponse({"error": "INTERNAL_ERROR"}, status_code=500)

    def rate_limited(self, retry_after_s: int) -> Response:
        return JSONResponse(
            {"error": "RATE_LIMITED"}, status_code=429, headers={"Retry-After": str(retry_after_s)}
        )


def _validation(status: int, *details: str) -> Response:
    return JSONResponse({"error": "VALIDATION", "details": list(details)}, status_code=status)


async def _rejected() -> Response:
    """The injected permanent refusal: what Mosaic answers an invalid body (docs/council-it.md)."""
    return _validation(422, "$: refused by the simulator's reject fault")


def _header_problem(request: Request) -> Response | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _validation(400, "$: Content-Type must be application/json")
    key = request.headers.get("idempotency-key", "").strip()
    if not key or len(key) > 200:
        return _validation(400, "Idempotency-Key: a header of 1 to 200 characters is required")
    return None


async def _checked_body(request: Request, events_for: str | None) -> dict[str, Any] | Response:
    """The parsed, schema-valid body, or the 400/422 VALIDATION answer explaining why not."""
    problem = _header_problem(request)
    if problem is not None:
        return problem
    raw = await read_bounded(request, MAX_BODY_BYTES)
    if raw is None:
        return _validation(400, "$: body larger than 1 MiB")
    try:
        body = json.loads(raw)
    except ValueError:
        return _validation(400, "$: not JSON")
    errors = schema_errors(body)
    if errors:
        return _validation(422, *errors[:20])
    if events_for is not None and body["externalReference"] != events_for:
        return _validation(422, "$.externalReference: does not match the URL")
    return dict(body)


def create_app(
    faults: FaultConfig | None = None,
    *,
    token_ttl_s: float = 3600.0,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The Mosaic simulator app (mount it at `/sim/mosaic`).

    Args:
        faults: the faults to start with (none by default).
        token_ttl_s: how long an access token really lives (the answer always says 3600 s,
            so a shorter life makes the client meet a 401 and renew).
        clock: the simulator's monotonic clock, injectable for tests.
    """
    sim = Simulation("mosaic", faults)
    state = MosaicState(sim, token_ttl_s, clock)
    app = FastAPI(title="Mosaic simulator", docs_url=None, redoc_url=None)
    app.state.simulation = sim
    app.state.mosaic = state
    app.include_router(sim.control_router())
    answers = _Answers()

    @app.post("/_control/revoke-tokens", status_code=204, dependencies=[LOOPBACK_ONLY])
    def revoke_tokens() -> Response:
        state.revoke_tokens()
        return Response(status_code=204)

    @app.post("/{la}/oauth/token")
    async def token(la: str, request: Request) -> Response:
        if not _LA.match(la):
            return JSONResponse({"error": "NOT_FOUND"}, status_code=404)
        return await sim.guard(answers, lambda: _token(la, request, state))

    @app.post("/{la}/api/v1/missing-episodes")
    async def create(la: str, request: Request) -> Response:
        return await _call(la, request, None, sim, state)

    @app.post("/{la}/api/v1/missing-episodes/{reference}/events")
    async def add_event(la: str, reference: str, request: Request) -> Response:
        return await _call(la, request, reference, sim, state)

    return app


async def _token(la: str, request: Request, state: MosaicState) -> Response:
    raw = await read_bounded(request, 16_384) or b""
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    if form.get("scope") != SCOPE:
        return JSONResponse({"error": "invalid_scope"}, status_code=400)
    if not form.get("client_id") or not form.get("client_secret"):
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    return JSONResponse(
        {
            "access_token": state.issue_token(la),
            "token_type": "Bearer",
            "expires_in": ADVERTISED_EXPIRES_IN,
        }
    )


async def _call(
    la: str, request: Request, events_for: str | None, sim: Simulation, state: MosaicState
) -> Response:
    if not _LA.match(la):
        return JSONResponse({"error": "NOT_FOUND"}, status_code=404)

    async def handle() -> Response:
        if not state.token_ok(la, request.headers.get("authorization")):
            return JSONResponse({"error": "UNAUTHORIZED"}, status_code=401)
        body = await _checked_body(request, events_for)
        if isinstance(body, Response):
            return body
        key = request.headers["idempotency-key"].strip()
        status, answer = state.accept(la, key, body, events_for)
        return JSONResponse(answer, status_code=status)

    return await sim.guard(_Answers(), handle, reject=_rejected)
