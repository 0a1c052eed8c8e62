"""Helpers to run a case-system simulator: in-process (TestClient) or on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters import registry
from adapters.base import TargetConfig

SERVER = "http://testserver"
LOOPBACK = ("127.0.0.1", 50000)  # the simulators' control routes answer this machine only


def mounted(system: str, app: FastAPI) -> TestClient:
    """A TestClient on the simulator mounted at `/sim/<system>`, as the lead mounts it."""
    return TestClient(Starlette(routes=[Mount(f"/sim/{system}", app=app)]), client=LOOPBACK)


def sim_target(
    system: str, council: str = "304", server: str = SERVER, timeout_s: float = 5.0
) -> TargetConfig:
    """The routing entry of a council served by the simulator, with the adapter's credentials."""
    return TargetConfig(
        council=council,
        system=system,
        base_url=f"{server}/sim/{system}/{council}",
        credentials={key: f"sim-{key}-0001" for key in registry.OUTBOUND[system].credentials},
        timeout_s=timeout_s,
    )


@contextmanager
def live_server(system: str, app: FastAPI) -> Iterator[str]:
    """Serve the mounted simulator on a free loopback port; yield its `http://127.0.0.1:N`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        Starlette(routes=[Mount(f"/sim/{system}", app=app)]),
        log_level="warning",
        timeout_graceful_shutdown=2,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
