"""The delivery list's filter form: from query parameters to the log's filters, or errors.

The form sends what a person typed or picked (dates as `YYYY-MM-DD`, UK days); the log takes
the API's `DeliveryFilters`. Anything wrong becomes a GOV.UK error message on its field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, get_args
from urllib.parse import urlencode

from pydantic import ValidationError

from gateway.api.deliveries import DeliveryFilters
from gateway.api.schemas import DeliveryStatus
from gateway.ui.pages import LONDON, label

PAGE_SIZE = 25
STATUSES: tuple[str, ...] = get_args(DeliveryStatus)
FIELDS = ("status", "system", "since", "until", "episode_id", "council", "overdue", "cursor")
MESSAGES = {
    "status": "Select a status from the list",
    "system": "Select a case system from the list",
    "council": "Enter a council as its three-digit DfE LA code, like 304",
    "cursor": "That page link is out of date: start again from the newest",
}


@dataclass
class FilterForm:
    """What the form holds (to show it again) and, when it is valid, the log's filters."""

    values: dict[str, str]
    filters: DeliveryFilters | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def error_list(self) -> list[dict[str, str]]:
        """The GOV.UK error summary's list, each linking to its field."""
        return [{"text": text, "href": f"#{name}"} for name, text in self.errors.items()]

    def query(self, **changes: str | None) -> str:
        """The list's query string for these values with `changes` (None drops a value)."""
        values: dict[str, Any] = {**self.values, **changes}
        kept = {k: v for k, v in values.items() if v}
        return urlencode(kept)


def _day(value: str, name: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = f"Enter the {'from' if name == 'since' else 'up to'} date as a real date"
        return None


def _uk_midnight(day: date) -> datetime:
    """The start of a UK calendar day, as an aware time."""
    return datetime.combine(day, time(0), tzinfo=LONDON)


def parse(params: Mapping[str, str], *, council_filter: bool) -> FilterForm:
    """The form as sent; `council_filter` is False for a council (its own council only)."""
    values = {name: params.get(name, "").strip() for name in FIELDS}
    if not council_filter:
        values["council"] = ""
    form = FilterForm(values=values)
    since = _day(values["since"], "since", form.errors)
    until = _day(values["until"], "until", form.errors)
    if since and until and until < since:
        form.errors["until"] = "The up to date must be the same as or after the from date"
    if form.errors:
        return form
    try:
        form.filters = DeliveryFilters(
            status=values["status"] or None,
            system=values["system"] or None,
            council=values["council"] or None,
            episode_id=values["episode_id"] or None,
            overdue=True if values["overdue"] == "yes" else None,
            since=_uk_midnight(since) if since else None,
            until=_uk_midnight(until + timedelta(days=1)) if until else None,
            limit=PAGE_SIZE,
            cursor=values["cursor"] or None,
        )
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0])
            form.errors[name] = MESSAGES.get(name, f"Check the {name.replace('_', ' ')}")
    return form


def select_items(values: tuple[str, ...], selected: str, any_text: str) -> list[dict[str, Any]]:
    """A GOV.UK select's items: 'any' first, then each value in words."""
    first = {"value": "", "text": any_text, "selected": not selected}
    return [first] + [{"value": v, "text": label(v), "selected": v == selected} for v in values]
