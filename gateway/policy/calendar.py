"""UK local time, calendar days and months and England and Wales working days for policy rules.

Bank holidays come from the `holidays` package (offline data, kept up to date by its
maintainers; England's list is the England and Wales one). A working day is Monday to Friday
and not a bank holiday. "N days", "N working days" and "N months after" keep the UK time of
day, across a clock change too; "N hours after" is elapsed time.
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
    return _shifted(start.astimezone(UTC), "working_days", count)


def add_days(start: datetime, days: int) -> datetime:
    """The same UK local time `days` calendar days later (across a clock change too)."""
    return _shifted(start.astimezone(UTC), "days", days)


def add_months(start: datetime, months: int) -> datetime:
    """The same UK local time `months` calendar months later (31 Jan + 1 = 28/29 Feb)."""
    return _shifted(start.astimezone(UTC), "months", months)


@lru_cache(maxsize=8192)
def _shifted(start: datetime, unit: str, count: int) -> datetime:
    # Memoised, keyed on the UTC instant (see `_describe_utc`): an episode's last-seen time is
    # shifted by the same spans on every event and timer run, for every council told.
    local = start.astimezone(UK)
    day = local.date()
    if unit == "days":
        day += timedelta(days=count)
    elif unit == "months":
        index = local.month - 1 + count
        year, month = local.year + index // 12, index % 12 + 1
        day = date(year, month, min(local.day, _calendar.monthrange(year, month)[1]))
    else:
        day = _working_day_after(day, count)
    return at_local(day, local.time())


@lru_cache(maxsize=4096)
def _working_day_after(day: date, count: int) -> date:
    # Memoised: the day-by-day walk looks up a bank holiday a day, on every evaluation; reports
    # share their few recent dates, and a date in, a date out is immutable.
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def next_local_time(start: datetime, at: time) -> datetime:
    """The first moment at or after `start` when the UK clock reads `at`."""
    return _next_local_time(start.astimezone(UTC), at)


@lru_cache(maxsize=4096)
def _next_local_time(start: datetime, at: time) -> datetime:
    local = start.astimezone(UK)
    candidate = at_local(local.date(), at)
    if candidate < start:
        candidate = at_local(local.date() + timedelta(days=1), at)
    return candidate


def local_time_of(moment: datetime) -> time:
    """The UK wall-clock time of `moment`."""
    return moment.astimezone(UK).time()


def at_local(day: date, at: time) -> datetime:
    """The moment the UK clock reads `at` on `day`."""
    # fold=0: an ambiguous autumn time is the first (BST) one; a spring-gap time moves on.
    return datetime.combine(day, at, tzinfo=UK).astimezone(UTC)


def describe(moment: datetime) -> str:
    """A council-readable UK time, e.g. 'Tue 6 May 2025 18:00'."""
    return _describe_utc(moment.astimezone(UTC))


@lru_cache(maxsize=4096)
def _describe_utc(moment: datetime) -> str:
    # Memoised (strftime is slow beside a lookup; one report's moments recur in its rules'
    # reasons, across councils and events), keyed on the UTC instant: equal datetimes in
    # another zone can be different instants (fold), UTC ones cannot.
    local = moment.astimezone(UK)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M}"


def local_date(moment: datetime) -> date:
    """The UK calendar date of `moment`."""
    return moment.astimezone(UK).date()
