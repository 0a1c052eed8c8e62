"""The guarded exchange of every client: no redirects, bounded answers, errors mapped."""

from __future__ import annotations

import httpx
import pytest

from adapters import exchange as exchange_module
from gateway.errors import PermanentDelivery, RetryableDelivery


def client(handler) -> httpx.Client:
    """An httpx client served by `handler`."""
    return httpx.Client(transport=httpx.MockTransport(handler))


def exchange(handler, url: str = "https://case.example.org/x") -> httpx.Response:
    """One guarded exchange against `handler`."""
    with client(handler) as http:
        return exchange_module.exchange(
            http,
            "POST",
            url,
            system="test",
            timeout_s=1.0,
            headers={"X-Test": "1"},
            content=b"body",
        )


def test_exchange_returns_the_read_answer_and_asks_for_no_compression():
    """The answer body is read; the request says Accept-Encoding: identity."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, content=b'{"ok": true}')

    answer = exchange(handler)
    assert (answer.status_code, answer.content) == (201, b'{"ok": true}')
    assert seen[0].headers["Accept-Encoding"] == "identity"
    assert seen[0].headers["X-Test"] == "1"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_exchange_refuses_redirects(status):
    """Any 3xx is permanent and never followed."""
    with pytest.raises(PermanentDelivery, match="redirect refused"):
        exchange(lambda r: httpx.Response(status, headers={"Location": "https://x.example.org"}))


def test_exchange_bounds_the_answer():
    """An answer of 1 MiB passes; one byte more is refused."""
    assert len(exchange(lambda r: httpx.Response(200, content=b"x" * (1 << 20))).content) == 1 << 20
    with pytest.raises(PermanentDelivery, match="larger than"):
        exchange(lambda r: httpx.Response(200, content=b"x" * ((1 << 20) + 1)))


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (httpx.ConnectTimeout, RetryableDelivery, "no answer in time"),
        (httpx.ReadTimeout, RetryableDelivery, "no answer in time"),
        (httpx.ConnectError, RetryableDelivery, "transport error"),
        (httpx.RemoteProtocolError, RetryableDelivery, "transport error"),
        (httpx.UnsupportedProtocol, PermanentDelivery, "URL cannot be used"),
    ],
)
def test_exchange_maps_transport_errors(error, kind, words):
    """Every httpx transport failure becomes a delivery error saying what to do."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error("secret-in-message", request=request)

    with pytest.raises(kind, match=words) as caught:
        exchange(handler)
    assert "secret-in-message" not in str(caught.value)
    assert isinstance(caught.value.__cause__, error)


def test_exchange_refuses_an_unusable_url():
    """A malformed configured URL is permanent."""
    with pytest.raises(PermanentDelivery):
        exchange(lambda r: httpx.Response(200), url="https://example.org:abc/")
