"""Every request body bounded in size and in time before anything parses it (pure ASGI).

A body whose `Content-Length` is over its route's limit is answered `413` without being read.
A body without one (chunked) is counted as it arrives and answered `413` the moment it passes
the limit; one that has not arrived whole within the body timeout is answered `408`. Either
way the application reads no more of it: it is told the client went away, and whatever it
answers is dropped. Inbound messages may be `GATEWAY_MAX_BODY_BYTES`; every other body (the
sign-in form, the JSON API, which takes none) `OTHER_BODY_BYTES`, far more than it needs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.problems import MEDIA_TYPE, PROBLEM_TYPE
from gateway.logs import get_logger

log = get_logger(__name__)
OTHER_BODY_BYTES = 64 * 1024
# Routes whose bodies are XML messages: police systems' and, in the demo, the simulators'.
LARGE_BODY_PREFIXES = ("/v1/inbound/", "/sim/")


def limit_for(path: str, max_body_bytes: int) -> int:
    """The body limit of a path: the inbound limit for messages, else `OTHER_BODY_BYTES`."""
    return max_body_bytes if path.startswith(LARGE_BODY_PREFIXES) else OTHER_BODY_BYTES


@dataclass(slots=True)
class _Request:
    """One request's progress: bytes received, whether the answer started or was given here."""

    limit: int
    deadline: float
    received: int = 0
    complete: bool = False
    started: bool = False
    refused: bool = False


class BodyLimit:
    """ASGI middleware bounding request bodies (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wrap `app`; `timeout_s` is the time a whole body may take to arrive."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer `413` up front for a declared oversize body, else watch it as it arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _Request(
            limit=limit_for(scope["path"], self.max_body_bytes),
            deadline=self.clock() + self.timeout_s,
        )
        declared = _content_length(scope)
        if declared is not None and declared > state.limit:
            await _refuse(scope, send, state, 413, f"the body is {declared} bytes")
            return

        async def limited_receive() -> Message:
            if state.refused:
                return {"type": "http.disconnect"}
            if state.complete:
                return await receive()  # the app waiting for a disconnect: no deadline
            message = await self._next(receive, state)
            if message is None:
                await _refuse(scope, send, state, 408, "the body did not arrive in time")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                state.received += len(message.get("body", b""))
                state.complete = not message.get("more_body", False)
                if state.received > state.limit:
                    await _refuse(scope, send, state, 413, "the body is larger")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state.refused:
                return  # answered here already: the app's own answer is dropped
            if message["type"] == "http.response.start":
                state.started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state.refused:
                raise  # the app failing to read a body refused here is expected; else not

    async def _next(self, receive: Receive, state: _Request) -> Message | None:
        """The next message, or None if the body's deadline passes first."""
        remaining = state.deadline - self.clock()
        try:
            async with asyncio.timeout(max(remaining, 0)):
                return await receive()
        except TimeoutError:
            return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(scope: Scope, send: Send, state: _Request, status: int, what: str) -> None:
    """Answer `status` (unless the app has started answering) and read no more of the body."""
    state.refused = True
    client = scope.get("client")
    log.warning(
        "request_body_refused",
        status=status,
        path=scope["path"],
        limit=state.limit,
        client=client[0] if client else None,
    )
    if state.started:
        return
    code, title, detail = (
        ("payload-too-large", "Payload too large", f"{what}; the limit is {state.limit} bytes")
        if status == 413
        else ("request-timeout", "Request timeout", f"{what}; send the whole body at once")
    )
    body = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": scope["path"],
    }
    content = json.dumps(body).encode()
    headers = [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", str(len(content)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
