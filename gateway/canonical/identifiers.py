"""Identifiers and times as the canonical model accepts them: checked, normalised on the way in."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

_NHS_WEIGHTS = range(10, 1, -1)
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


def nhs_number_is_valid(value: str) -> bool:
    """Whether `value` is ten digits with a correct modulus 11 check digit."""
    if len(value) != 10 or not value.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:9], _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(value[9])


def normalise_nhs_number(value: str) -> str:
    """Strip the spaces some systems print inside an NHS number."""
    return "".join(value.split())


def normalise_postcode(value: str) -> str | None:
    """Upper-case a UK postcode with one space before the inward code; None if not one."""
    compact = "".join(value.split()).upper()
    match = _POSTCODE.match(compact)
    if match is None:
        return None
    return f"{match.group(1)} {match.group(2)}"


def _check_nhs(value: str) -> str:
    if not nhs_number_is_valid(value):
        raise ValueError("NHS number fails its modulus 11 check")
    return value


def _check_postcode(value: str) -> str:
    normalised = normalise_postcode(value)
    if normalised is None:
        raise ValueError("not a UK postcode")
    return normalised


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("times must carry a timezone")
    return value.astimezone(UTC)


NhsNumber = Annotated[str, AfterValidator(_check_nhs)]
Postcode = Annotated[str, AfterValidator(_check_postcode)]
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
LaCode = Annotated[str, Field(pattern=r"^[0-9]{3}$")]
ForceCode = Annotated[str, Field(pattern=r"^[0-9]{2}$")]


def utc_now() -> datetime:
    """The current time in UTC (one place to read the clock; tests inject their own)."""
    return datetime.now(UTC)
