"""Opaque keyset cursors for the paged lists (delivery log, receipts, unroutable list).

A cursor holds the last item's time and id with a checksum, so a damaged or edited cursor is
refused rather than silently paging from somewhere else. It grants nothing: every list applies
its caller's visibility to every page.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime


def encode_cursor(at: datetime, row_id: str) -> str:
    """The opaque cursor that continues after this item."""
    body = f"{at.isoformat()}|{row_id}"
    check = hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
    return base64.urlsafe_b64encode(f"{body}|{check}".encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The time and id a cursor continues after.

    Raises:
        ValueError: not a cursor this API issued (malformed, damaged or edited).
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        at, row_id, check = raw.split("|")
        when = datetime.fromisoformat(at)
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ValueError("the cursor is not one this API issued") from exc
    expected = hashlib.sha256(f"{at}|{row_id}".encode()).hexdigest()[:16]
    if check != expected or when.tzinfo is None:
        raise ValueError("the cursor is not one this API issued")
    return when, row_id
