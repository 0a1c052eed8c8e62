"""A minicase for tests: one council per path, answers by idempotency key, a record book."""

from __future__ import annotations

import hashlib
import json

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from adapters.simulation import Record, Simulation
from tests.adapters.minicase.renderer import schema_errors


def create_app() -> FastAPI:
    """The minicase simulator app (mount it at `/sim/minicase`)."""
    sim = Simulation("minicase")
    answers: dict[tuple[str, str], tuple[str, str]] = {}  # (council, key) -> (body hash, id)
    app = FastAPI(title="minicase simulator", docs_url=None, redoc_url=None)
    app.state.simulation = sim
    app.include_router(sim.control_router())

    @app.post("/{la}/events")
    async def post_event(la: str, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Token ").strip()
        key = request.headers.get("idempotency-key", "")
        if not token:
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        body = await request.body()
        try:
            event = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "invalid"}, status_code=422)
        if not key or schema_errors(event):
            return JSONResponse({"error": "invalid"}, status_code=422)
        digest = hashlib.sha256(body).hexdigest()
        with sim.lock:
            seen = answers.get((la, key))
            if seen is None:
                answers[(la, key)] = seen = (digest, f"MC-{len(answers) + 1:06d}")
                sim.record(la, Record(key, event["episode"], event["event"], seen[1]))
                return JSONResponse({"id": seen[1]}, status_code=201)
        if seen[0] != digest:
            return JSONResponse({"error": "key reused"}, status_code=409)
        sim.received_again(la, key)
        return JSONResponse({"id": seen[1]}, status_code=200)

    return app
