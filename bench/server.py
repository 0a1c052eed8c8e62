"""The benchmark's servers: `gateway serve`'s app with a keyed no-op route, and a bare app.

The references of bench/ (docs/decisions/0034):

- bare (`--bare`): a FastAPI app alone on the same uvicorn settings, whose `POST /bench/bare`
  reads the body and answers `202`: no key, no database, no middleware. What a request costs
  any FastAPI service on this machine; the main reference.
- keyed no-op: `POST /bench/noop`, added to the production app, goes through the same stack as
  `POST /v1/inbound/merlin` (the body limit, the API-key check, the bounded body read) and then
  does nothing, so "ingest / keyed no-op" is the cost of ingest itself: the hand-over to an
  ingest lane (a thread per batch, not per request), the server's part and its ingest
  processes' (docs/decisions/0014).

Neither route is ever in the production app. Settings come from `GATEWAY_*` as for `gateway
serve`, ingest processes included.
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.api.app import build_services, create_app
from gateway.api.deps import PrincipalDep, ServicesDep, require
from gateway.api.inbound import read_bounded_body
from gateway.keys import Role
from gateway.logs import configure
from gateway.server import run, uvicorn_config
from gateway.settings import Settings


def bench_app() -> FastAPI:
    """The production app over `GATEWAY_*` settings, with `POST /bench/noop` added."""
    settings = Settings()
    configure(settings.log_level)
    app = create_app(build_services(settings))

    @app.post("/bench/noop", status_code=202, include_in_schema=False)
    async def noop(
        request: Request, services: ServicesDep, principal: PrincipalDep
    ) -> JSONResponse:
        require(principal, Role.POLICE, Role.OPERATOR)
        body = await read_bounded_body(request, services.settings.max_body_bytes)
        return JSONResponse({"status": "accepted", "bytes": len(body)}, status_code=202)

    # Matched first, as the inbound routes are (they come before every other router): a route
    # added last would be found only after every other route was tried, a cost ingest has not.
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def bare_app() -> FastAPI:
    """A FastAPI app whose one route reads the body and answers 202: the bare reference."""
    app = FastAPI()

    @app.post("/bench/bare", status_code=202)
    async def bare(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"status": "accepted", "bytes": len(body)}, status_code=202)

    return app


def main() -> None:
    """Serve as `gateway serve` does (one process, same uvicorn options)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bare", action="store_true", help="the bare app, not the gateway")
    args = parser.parse_args()
    app = bare_app() if args.bare else bench_app()
    run(uvicorn_config(app, args.host, args.port, Settings()))


if __name__ == "__main__":
    main()
