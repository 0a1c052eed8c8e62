"""Reading untrusted answers: Retry-After, ids, and the default verdict of every answer table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from adapters import answers
from gateway.errors import PermanentDelivery, RetryableDelivery


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30", 30.0), ("0", 0.0), ("99999", 3600.0), ("soon", None), ("", None), ("-5", None)],
)
def test_retry_after_seconds(value, seconds):
    """Delta-seconds are read and capped at an hour; nonsense is ignored."""
    headers = {"Retry-After": value} if value else {}
    assert answers.retry_after(httpx.Response(429, headers=headers)) == seconds


def test_retry_after_http_date():
    """An HTTP date becomes the seconds until then."""
    when = datetime.now(UTC) + timedelta(seconds=120)
    value = answers.retry_after(
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
    assert answers.safe_id(value) == expected


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
    assert isinstance(answers.default_verdict(httpx.Response(status), "t"), kind)
