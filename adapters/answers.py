"""Reading case systems' answers, which are untrusted: ids, `Retry-After`, the default verdict.

`safe_id` vets the ids taken from an answer, `retry_after` caps what a target may ask for, and
`default_verdict` is the shared last row of every client's answer table.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime

import httpx

from gateway.errors import DeliveryError, PermanentDelivery, RetryableDelivery

MAX_RETRY_AFTER_S = 3600.0
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or HTTP date), capped at an hour."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def safe_id(value: object) -> str | None:
    """An id taken from an untrusted answer: a short printable token, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if _SAFE_ID.match(value) else None


def default_verdict(response: httpx.Response, system: str) -> DeliveryError:
    """The shared last row of every answer table, for statuses a spec does not name.

    2xx not understood, 429 and 5xx are temporary; anything else is permanent.
    """
    status = response.status_code
    if status == 429:
        return RetryableDelivery(
            f"{system}: rate limited (429)", http_status=status, retry_after=retry_after(response)
        )
    if 200 <= status < 300:
        return RetryableDelivery(f"{system}: answer {status} not understood", http_status=status)
    if status >= 500:
        return RetryableDelivery(
            f"{system}: temporary failure ({status})",
            http_status=status,
            retry_after=retry_after(response),
        )
    return PermanentDelivery(f"{system}: unexpected answer {status}", http_status=status)
