"""COMPACT local times: Europe/London rules around both 2024 clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from adapters.compact import localtime


def utc(text: str) -> datetime:
    """An aware UTC datetime from a naive ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        # 31 March 2024: at 01:00 GMT the clocks go forward to 02:00 BST.
        ("31/03/2024 00:59", "2024-03-31T00:59:00"),
        ("31/03/2024 02:00", "2024-03-31T01:00:00"),
        ("31/03/2024 02:30:15", "2024-03-31T01:30:15"),
        # 27 October 2024: at 02:00 BST the clocks go back to 01:00 GMT; 01:xx happens twice.
        ("27/10/2024 00:59", "2024-10-26T23:59:00"),
        ("27/10/2024 01:00", "2024-10-27T00:00:00"),
        ("27/10/2024 01:30", "2024-10-27T00:30:00"),
        ("27/10/2024 01:40", "2024-10-27T00:40:00"),
        ("27/10/2024 01:59", "2024-10-27T00:59:00"),
        ("27/10/2024 01:59:59", "2024-10-27T00:59:59"),
        ("27/10/2024 02:00", "2024-10-27T02:00:00"),
        # Ordinary winter and summer times.
        ("15/01/2024 12:00", "2024-01-15T12:00:00"),
        ("15/07/2024 12:00", "2024-07-15T11:00:00"),
        ("29/02/2024 23:59:59", "2024-02-29T23:59:59"),
    ],
)
def test_local_time_converts_to_utc(local: str, expected: str) -> None:
    """Each wall-clock time gives its UTC instant; an ambiguous one is the first (BST)."""
    assert localtime.to_utc(local) == utc(expected)


@pytest.mark.parametrize(
    "local",
    ["31/03/2024 01:00", "31/03/2024 01:30", "31/03/2024 01:59", "31/03/2024 01:59:59"],
)
def test_time_skipped_by_the_clocks_going_forward_is_refused(local: str) -> None:
    """A time in the hour skipped on 31/03/2024 is `nonexistent-local-time`, never a guess."""
    with pytest.raises(localtime.LocalTimeError) as caught:
        localtime.to_utc(local)
    assert caught.value.code == "nonexistent-local-time"


@pytest.mark.parametrize(
    "local",
    [
        "31/02/2024 10:00",
        "29/02/2023 10:00",
        "31/04/2024 10:00",
        "00/01/2024 10:00",
        "01/13/2024 10:00",
        "01/01/2024 24:00",
        "01/01/2024 10:60",
        "2024-03-31T01:30:00",
        "01/01/2024 10:00+01:00",
        "1/1/2024 10:00",
        "",
    ],
)
def test_impossible_or_misformatted_time_is_invalid(local: str) -> None:
    """A time that is not a calendar time in the COMPACT form is `invalid-local-time`."""
    with pytest.raises(localtime.LocalTimeError) as caught:
        localtime.to_utc(local)
    assert caught.value.code == "invalid-local-time"


def test_surrounding_whitespace_is_tolerated() -> None:
    """An XSD token may arrive with surrounding whitespace; it does not change the time."""
    assert localtime.to_utc("  14/06/2024 22:10\n") == utc("2024-06-14T21:10:00")


def test_dates_are_read_day_first() -> None:
    """`dd/mm/yyyy` dates are day first, and impossible ones are `invalid-date`."""
    assert localtime.parse_date("03/02/2011") == date(2011, 2, 3)
    assert localtime.parse_date("29/02/2024") == date(2024, 2, 29)
    for text in ("31/02/2024", "29/02/2023", "2011-02-03", "3/2/2011"):
        with pytest.raises(localtime.LocalTimeError) as caught:
            localtime.parse_date(text)
        assert caught.value.code == "invalid-date"


def test_local_date_is_the_london_calendar_date() -> None:
    """Late on a summer evening in UTC is already the next day in London."""
    assert localtime.local_date(utc("2024-06-14T23:30:00")) == date(2024, 6, 15)
    assert localtime.local_date(utc("2024-01-14T23:30:00")) == date(2024, 1, 14)
