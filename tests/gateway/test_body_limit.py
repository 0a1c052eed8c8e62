"""Every request body is bounded, in size and in time, before the app parses it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from gateway.api.body_limit import OTHER_BODY_BYTES, BodyLimit, limit_for
from tests.messages import merlin

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _form(fields: int, size: int) -> Iterator[bytes]:
    for n in range(fields):
        yield (b"&" if n else b"") + f"f{n}=".encode() + b"a" * size


def test_each_route_has_its_limit() -> None:
    """Inbound messages (and the simulators) may be the configured size; the rest are small."""
    assert limit_for("/v1/inbound/merlin", 2_000_000) == 2_000_000
    assert limit_for("/sim/fwi/830/FWiIntegration/MissingEpisodeService.svc", 5) == 5
    assert limit_for("/ui/sign-in", 2_000_000) == OTHER_BODY_BYTES
    assert limit_for("/v1/deliveries/x/replay", 2_000_000) == OTHER_BODY_BYTES


def test_a_declared_oversize_sign_in_form_is_413_before_it_is_read(client: TestClient) -> None:
    """A sign-in form over 64 KiB is refused on its Content-Length; the page never runs."""
    body = b"".join(_form(3, 30_000))
    with capture_logs() as logs:
        response = client.post("/ui/sign-in", content=body, headers=FORM)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload-too-large"
    events = [entry["event"] for entry in logs]
    assert "request_body_refused" in events and "ui_signed_in" not in events


def test_a_streamed_oversize_form_is_413_as_soon_as_it_passes_the_limit(
    client: TestClient,
) -> None:
    """Without a Content-Length, the body is counted as it arrives."""
    response = client.post("/ui/sign-in", content=_form(40, 10_000), headers=FORM)
    assert response.status_code == 413 and response.json()["code"] == "payload-too-large"


def test_a_small_form_still_reaches_the_page(client: TestClient) -> None:
    """A form within the limit is read as before (here refused for its missing token)."""
    response = client.post("/ui/sign-in", data={"api_key": "x", "csrf_token": "y"})
    assert response.status_code == 403 and "sign-in form had expired" in response.text


def test_an_inbound_message_may_be_the_configured_size(
    client: TestClient, met: dict[str, str]
) -> None:
    """The inbound limit, not the small one, applies to police messages."""
    padded = merlin().replace(b"Did not return", b"x" * 200_000 + b" Did not return")
    headers = {**met, "Content-Type": "application/xml"}
    assert client.post("/v1/inbound/merlin", content=padded, headers=headers).status_code == 422


class ReadingApp:
    """An ASGI app that reads the whole body, keeping what it received, then answers 200."""

    def __init__(self) -> None:
        self.saw: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            self.saw.append(message)
            if message["type"] == "http.disconnect":
                raise RuntimeError("the client went away")  # as Starlette's ClientDisconnect
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _call(
    middleware: BodyLimit, messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]
) -> list[dict[str, Any]]:
    """Run the middleware on one request whose client stops after `messages`; what was sent."""
    sent: list[dict[str, Any]] = []
    feed = iter(messages)

    async def receive() -> dict[str, Any]:
        try:
            return next(feed)
        except StopIteration:
            await asyncio.sleep(3600)  # a client that stops sending
            raise AssertionError("unreachable") from None

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/ui/sign-in", "headers": headers, "client": ("10.0.0.9", 1)}
    asyncio.run(middleware(scope, receive, send))
    return sent


def test_a_body_that_stops_arriving_is_408_and_the_app_reads_no_more() -> None:
    """A slow sender gets 408 once the body timeout passes; the app sees a disconnect."""
    app = ReadingApp()
    middleware = BodyLimit(app, max_body_bytes=10_000, timeout_s=0.2)
    sent = _call(middleware, [{"type": "http.request", "body": b"a=1", "more_body": True}], [])
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [408]
    assert app.saw[-1] == {"type": "http.disconnect"}


def test_a_complete_body_passes_through_untouched() -> None:
    """Within the limits the app gets the body as sent and its own answer goes out."""
    app = ReadingApp()
    middleware = BodyLimit(app, max_body_bytes=10_000, timeout_s=5)
    parts = [
        {"type": "http.request", "body": b"a=1&", "more_body": True},
        {"type": "http.request", "body": b"b=2", "more_body": False},
    ]
    sent = _call(middleware, parts, [(b"content-length", b"7")])
    assert app.saw == parts
    assert [m.get("status") for m in sent] == [200, None] and sent[1]["body"] == b"ok"
