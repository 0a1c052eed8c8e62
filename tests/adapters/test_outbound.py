"""What the three outbound adapters share: codes, times, the guarded exchange, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from adapters import outbound
from gateway.errors import PermanentDelivery, RetryableDelivery


def client(handler) -> httpx.Client:
    """An httpx client served by `handler`."""
    return httpx.Client(transport=httpx.MockTransport(handler))


def exchange(handler, url: str = "https://case.example.org/x") -> httpx.Response:
    """One guarded exchange against `handler`."""
    with client(handler) as http:
        return outbound.exchange(
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


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30", 30.0), ("0", 0.0), ("99999", 3600.0), ("soon", None), ("", None), ("-5", None)],
)
def test_retry_after_seconds(value, seconds):
    """Delta-seconds are read and capped at an hour; nonsense is ignored."""
    headers = {"Retry-After": value} if value else {}
    assert outbound.retry_after(httpx.Response(429, headers=headers)) == seconds


def test_retry_after_http_date():
    """An HTTP date becomes the seconds until then."""
    when = datetime.now(UTC) + timedelta(seconds=120)
    value = outbound.retry_after(
        httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    )
    assert value is not None and 100 < value <= 120


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("MOS-EV-000001", "MOS-EV-000001"),
        (" PRT-1 ", "PRT-1"),
        ("", None),
        (None, None),
        (12, None),
        ("x" * 200, None),
        ("bad\nid", None),
        ("<script>", None),
    ],
)
def test_safe_id(value, expected):
    """Ids from untrusted answers are short printable tokens or nothing."""
    assert outbound.safe_id(value) == expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (202, RetryableDelivery),
        (429, RetryableDelivery),
        (500, RetryableDelivery),
        (599, RetryableDelivery),
        (404, PermanentDelivery),
        (418, PermanentDelivery),
    ],
)
def test_default_verdict(status, kind):
    """The shared last row: 2xx not understood, 429 and 5xx retry; the rest is permanent."""
    assert isinstance(outbound.default_verdict(httpx.Response(status), "t"), kind)


def test_utc_text_converts_and_drops_fractions():
    """Times go out in UTC with Z, to the second."""
    local = datetime(2024, 5, 1, 21, 30, 5, 999, tzinfo=timezone(timedelta(hours=1)))
    assert outbound.utc_text(local) == "2024-05-01T20:30:05Z"


def test_code_tables_name_a_missing_table_or_value():
    """A lookup that fails names the system, table and value."""
    codes = outbound.CodeTables("mosaic", "mosaic.yaml")
    assert codes.code("risk_level", "high") == "HIGH"
    with pytest.raises(PermanentDelivery, match="no mosaic code for colour 'red'"):
        codes.code("colour", "red")
