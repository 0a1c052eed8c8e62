"""How the gateway's HTTP server runs: uvicorn's limits and timeouts, and who may reach it.

uvicorn closes a connection that stays idle between requests (`timeout_keep_alive`) and bounds
a request's head in bytes (h11's incomplete-event size), but it has no deadline for the head
itself: a client that opens a connection and sends its headers a byte at a time holds it
forever. `HeadDeadline` adds one: from the connection's start, and from the end of each
answer on a kept-alive connection, the next request's whole head must arrive within
`GATEWAY_HEADER_TIMEOUT_S`, or the connection is closed. Bodies have their own deadline
(gateway/api/body_limit.py). A reverse proxy in front should set its own
(nginx: `client_header_timeout`, `client_body_timeout`, `client_max_body_size`).

The demo routing and the simulators it points at (their `/_control` routes, which switch faults
on and wipe what was recorded, and demo credentials) belong on this machine: `gateway serve`
with them on another interface refuses to start unless told otherwise, and then says so loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway import addresses
from gateway.errors import ConfigurationError
from gateway.logs import get_logger
from gateway.settings import Settings

log = get_logger(__name__)
MAX_HEAD_BYTES = 16 * 1024  # request line and headers


class HeadDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head (see the module)."""

    head_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As uvicorn builds its protocol (one per connection)."""
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the first request's deadline with the connection."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Stop the deadline once a whole request head has arrived (not at every byte)."""
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        """A kept-alive connection: the next request's head has the same deadline."""
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """No deadline outlives its connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.head_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _expired(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("request_head_timeout", client=self.client[0] if self.client else None)
            self.transport.close()


def head_deadline(seconds: float) -> type[HeadDeadline]:
    """The protocol class with its head deadline set to `seconds`."""
    return type("HeadDeadline", (HeadDeadline,), {"head_timeout_s": seconds})


def uvicorn_config(app: Any, host: str, port: int, settings: Settings) -> uvicorn.Config:
    """The server's settings: limits, timeouts and the proxies whose client addresses count."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        http=head_deadline(settings.header_timeout_s),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=settings.keep_alive_s,
        limit_concurrency=settings.max_connections,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def run(config: uvicorn.Config) -> None:
    """Serve until stopped; exit 1 if the server could not start (a port in use, say)."""
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(1)


def check_exposure(host: str, settings: Settings, *, allow_demo: bool) -> bool:
    """Refuse the demo served beyond this machine, unless allowed; whether it is so served.

    Raises:
        ConfigurationError: the demo routing or the simulators on a non-loopback `host`.
    """
    demo = settings.is_demo_routing or settings.serve_simulators
    if not demo or addresses.is_loopback(host):
        return False
    if not (allow_demo or settings.allow_demo_on_network):
        raise ConfigurationError(
            f"--host {host} is not loopback, and this gateway serves the demo routing or the "
            "simulators, whose control routes and demo credentials are for this machine only: "
            "set GATEWAY_ROUTING_FILE to your own routing and GATEWAY_SIMULATORS=0, or pass "
            "--allow-demo-on-network to expose the demo anyway",
            file=str(settings.routing_file),
        )
    log.warning("demo_exposed_on_network", host=host)
    return True
