"""What every case system's payload says the same way: UTC times and when a debrief is sent."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.canonical import Debrief, EpisodeEvent, EventType
from gateway.errors import PermanentDelivery


def utc_text(value: datetime) -> str:
    """`2024-05-01T20:30:00Z`: a UTC time to the second, as every target wants it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def debrief_to_send(event: EpisodeEvent, system: str) -> Debrief | None:
    """The debrief to send: on a debriefed event only (every target's rule), else None.

    Raises:
        PermanentDelivery: a debriefed event whose snapshot carries no debrief.
    """
    if event.type is not EventType.DEBRIEFED:
        return None
    if event.episode.debrief is None:
        raise PermanentDelivery(f"{system}: a debriefed event carries no debrief to send")
    return event.episode.debrief
