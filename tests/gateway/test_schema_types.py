"""The UTC datetime column type writes exactly what SQLAlchemy's own processors would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

from gateway.store.schema import UtcDateTime, sqlite_text

_DIALECT = sqlite.dialect()
_MOMENTS = [
    datetime(2025, 3, 30, 0, 59, 59, 999999, tzinfo=UTC),
    datetime(2025, 3, 30, 2, 30, tzinfo=ZoneInfo("Europe/London")),  # spring gap, no microseconds
    datetime(2024, 10, 27, 1, 30, fold=1, tzinfo=ZoneInfo("Europe/London")),  # autumn repeat
    datetime(2026, 12, 31, 23, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),  # a three-digit year is zero-padded
]


def _sqlalchemy_text(value: datetime | None) -> str | None:
    """What the decorator's generic path (process_bind_param, then DATETIME's processor) writes."""
    generic = TypeDecorator.bind_processor(UtcDateTime().dialect_impl(_DIALECT), _DIALECT)
    assert generic is not None
    return generic(value)  # type: ignore[no-any-return]


@pytest.mark.parametrize("moment", _MOMENTS, ids=str)
def test_sqlite_text_is_sqlalchemy_s_text(moment: datetime) -> None:
    """The one-step SQLite processor gives SQLAlchemy's text for every kind of moment."""
    processor = UtcDateTime().dialect_impl(_DIALECT).bind_processor(_DIALECT)
    assert processor is sqlite_text
    assert sqlite_text(moment) == _sqlalchemy_text(moment)


def test_sqlite_text_refuses_naive_times_and_passes_none() -> None:
    """A naive time is an error, as on the generic path; None stays NULL."""
    with pytest.raises(ValueError, match="naive"):
        sqlite_text(datetime(2025, 1, 1))  # the naive time under test
    assert sqlite_text(None) is None


def test_both_instants_of_the_autumn_repeated_hour_keep_their_own_text() -> None:
    """01:30 BST and 01:30 GMT on 27 October 2024 compare equal in Europe/London, yet differ."""
    london = ZoneInfo("Europe/London")
    first = datetime(2024, 10, 27, 1, 30, fold=0, tzinfo=london)
    second = datetime(2024, 10, 27, 1, 30, fold=1, tzinfo=london)
    assert first == second  # the trap: equal (and hashed alike) across the fold
    assert sqlite_text(first) == "2024-10-27 00:30:00.000000"
    assert sqlite_text(second) == "2024-10-27 01:30:00.000000"
