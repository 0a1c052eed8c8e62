"""`gateway serve`'s app and uvicorn settings, plus a no-op route: the benchmark's reference.

`POST /bench/noop` goes through the same stack as `POST /v1/inbound/merlin` (uvicorn, FastAPI,
the API-key dependency with its database lookup, the bounded body read, a hop to a thread, as
ingest hands the body to its lane's thread) and then does nothing, so "ingest / no-op" is the
cost of ingest itself: the server's part and its ingest processes' (docs/decisions/0014). The
route lives only here, never in the production app. Settings come from `GATEWAY_*` as for
`gateway serve`, ingest processes included.
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

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
        size = await run_in_threadpool(len, body)  # a thread hop, as ingest's hand-over
        return JSONResponse({"status": "accepted", "bytes": size}, status_code=202)

    return app


def main() -> None:
    """Serve as `gateway serve` does (one process, same uvicorn options)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = bench_app()
    run(uvicorn_config(app, args.host, args.port, Settings()))


if __name__ == "__main__":
    main()
