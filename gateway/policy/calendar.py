"""UK local time, calendar months and England and Wales working days for policy rules.

Bank holidays come from the `holidays` package (offline data, kept up to date by its
maintainers; England's list is the England and Wales one). A working day is Monday to Friday
and not a bank holiday; "N working days after" keeps the time of day.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import holidays

UK = ZoneInfo("Europe/London")


@cache
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    """Monday to Friday and not an England and Wales bank holiday."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: datetime, count: int) -> datetime:
    """The same UK local time on the `count`th working day after `start`'s UK date."""
    local = start.astimezone(UK)
    day = _working_day_after(local.date(), count)
    return _at_local(day, local.timetz().replace(tzinfo=None))


@lru_cache(maxsize=4096)
def _working_day_after(day: date, count: int) -> date:
    # Memoised: the day-by-day walk (20 working days is ~28 bank-holiday lookups) ran on every
    # evaluation; reports share their few recent dates, and a date in, a date out is immutable.
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def add_months(start: datetime, months: int) -> datetime:
    """The same UK local time `months` calendar months later (31 Jan + 1 = 28/29 Feb)."""
    local = start.astimezone(UK)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, _calendar.monthrange(year, month)[1])
    return _at_local(date(year, month, day), local.timetz().replace(tzinfo=None))


def next_local_time(start: datetime, at: time) -> datetime:
    """The first moment at or after `start` when the UK clock reads `at`."""
    local = start.astimezone(UK)
    candidate = _at_local(local.date(), at)
    if candidate < start:
        candidate = _at_local(local.date() + timedelta(days=1), at)
    return candidate


def local_time_of(moment: datetime) -> time:
    """The UK wall-clock time of `moment`."""
    return moment.astimezone(UK).time()


def _at_local(day: date, at: time) -> datetime:
    # fold=0: an ambiguous autumn time is the first (BST) one; a spring-gap time moves on.
    return datetime.combine(day, at, tzinfo=UK).astimezone(UTC)


def describe(moment: datetime) -> str:
    """A council-readable UK time, e.g. 'Tue 6 May 2025 18:00'."""
    return _describe_utc(moment.astimezone(UTC))


@lru_cache(maxsize=4096)
def _describe_utc(moment: datetime) -> str:
    # Memoised (strftime costs ~10 us; one report's moments recur in its rules' reasons, across
    # councils and events), keyed on the UTC instant: equal datetimes in another zone can be
    # different instants (fold), UTC ones cannot.
    local = moment.astimezone(UK)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M}"


def local_date(moment: datetime) -> date:
    """The UK calendar date of `moment`."""
    return moment.astimezone(UK).date()
