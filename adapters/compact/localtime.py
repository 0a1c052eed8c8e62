"""COMPACT's UK local civil times (`dd/mm/yyyy HH:MM[:SS]`, no offset) to UTC.

COMPACT writes wall-clock time in Europe/London. When the clocks go back, the hour from 01:00
to 01:59 happens twice: the spec takes the FIRST occurrence (still BST, `fold=0`). When the
clocks go forward, 01:00 to 01:59 never happens at all: such a time is refused, because any
guess could move a "last seen" time by an hour.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
_DATE = re.compile(r"^([0-9]{2})/([0-9]{2})/([0-9]{4})$")
_LOCAL_TIME = re.compile(
    r"^([0-9]{2})/([0-9]{2})/([0-9]{4}) ([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?$"
)


class LocalTimeError(ValueError):
    """A COMPACT date or time that cannot be read.

    Attributes:
        code: the problem code: `invalid-local-time` (not a calendar time),
            `nonexistent-local-time` (skipped when the clocks went forward) or `invalid-date`.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_date(text: str) -> date:
    """Read a `dd/mm/yyyy` date.

    Raises:
        LocalTimeError: `invalid-date` when it is not that form or not a calendar date.
    """
    match = _DATE.match(text.strip())
    if match is None:
        raise LocalTimeError("invalid-date", "not a date of the form dd/mm/yyyy")
    day, month, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise LocalTimeError("invalid-date", "not a calendar date") from exc


def parse_local(text: str) -> datetime:
    """Read a `dd/mm/yyyy HH:MM[:SS]` wall-clock time as a naive datetime.

    Raises:
        LocalTimeError: `invalid-local-time` when it is not that form or not a calendar time.
    """
    match = _LOCAL_TIME.match(text.strip())
    if match is None:
        raise LocalTimeError("invalid-local-time", "not a time of the form dd/mm/yyyy HH:MM[:SS]")
    day, month, year, hour, minute = (int(part) for part in match.groups()[:5])
    second = int(match.group(6) or 0)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise LocalTimeError("invalid-local-time", "not a calendar date and time") from exc


def london_to_utc(wall: datetime) -> datetime:
    """Convert a naive Europe/London wall-clock time to an aware UTC datetime.

    An ambiguous time (clocks going back) is its first occurrence, in BST.

    Raises:
        LocalTimeError: `nonexistent-local-time` for a time skipped when the clocks went forward.
    """
    local = wall.replace(tzinfo=LONDON, fold=0)
    utc = local.astimezone(UTC)
    # zoneinfo gives a skipped time the offset from before the gap; the round trip then
    # lands an hour later on the wall clock, which is how the gap shows itself.
    if utc.astimezone(LONDON).replace(tzinfo=None) != wall:
        raise LocalTimeError(
            "nonexistent-local-time",
            "the local time does not exist (the clocks went forward over it)",
        )
    return utc


def to_utc(text: str) -> datetime:
    """Read a COMPACT local time and return it in UTC.

    Raises:
        LocalTimeError: `invalid-local-time` or `nonexistent-local-time`.
    """
    return london_to_utc(parse_local(text))


def local_date(moment: datetime) -> date:
    """The Europe/London calendar date of an aware datetime."""
    return moment.astimezone(LONDON).date()
