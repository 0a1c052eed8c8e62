"""What every renderer writes the same way: UTC times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from adapters import rendering


def test_utc_text_converts_and_drops_fractions():
    """Times go out in UTC with Z, to the second."""
    local = datetime(2024, 5, 1, 21, 30, 5, 999, tzinfo=timezone(timedelta(hours=1)))
    assert rendering.utc_text(local) == "2024-05-01T20:30:05Z"
