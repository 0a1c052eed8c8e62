"""The open-episodes page's order and words (pure: no I/O).

The page is read for triage, so its order is the order of urgency:

1. children still missing: high risk, then medium, then the rest; longest missing first
   (from when the child was last seen, docs/policy-packs.md "Clocks");
2. found children whose return home interview is the reader's to do: soonest deadline first,
   an overdue one marked (the interview's owner is the responsible authority of a looked-after
   child, else the home council: a host council never owes it);
3. every other found child (the interview is another council's, or nobody's known), soonest
   deadline first.

A closed episode stays on the page while the return interview it owes the reader is due, and
for `CLOSED_KEPT` after its deadline (docs/decisions/0020).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from gateway.episodes import RETURN_INTERVIEW_DUE

CLOSED_KEPT = timedelta(days=7)  # a closed episode's overdue interview stays in view this long
RISK_ORDER = {"high": 0, "medium": 1}  # then every other level, together
_LATEST = datetime.max.replace(tzinfo=UTC)

# GOV.UK tag colours: green only for "safe and well"; nothing else may read as "fine".
CONDITION_TAGS: dict[str, tuple[str, str]] = {
    "safe_and_well": ("Safe and well", "green"),
    "injured": ("Injured", "red"),
    "hospital": ("In hospital", "red"),
    "deceased": ("Deceased", "red"),
    "in_custody": ("In custody", "orange"),
    "concerns": ("Not safe and well", "orange"),
    "not_known": ("Condition not known", "grey"),
}
NOT_RECORDED = ("Condition not recorded", "grey")
STATUS_TAGS: dict[str, tuple[str, str]] = {
    "open": ("Open", "yellow"),
    "found": ("Found", "blue"),
    "closed": ("Closed", "grey"),
    "cancelled": ("Cancelled", "grey"),
}
RISK_TAGS: dict[str, str] = {
    "high": "red",
    "medium": "orange",
    "low": "grey",
    "no_apparent_risk": "grey",
}


class Section(IntEnum):
    """The page's three groups, in the order they are shown."""

    MISSING = 0
    INTERVIEW_DUE = 1
    OTHER_FOUND = 2


@dataclass(frozen=True, slots=True)
class Candidate:
    """What ordering needs of an episode the reader may see (a few columns, not the state)."""

    episode_id: str
    status: str
    risk_level: str
    last_seen_at: datetime
    found_at: datetime | None
    interview_owner: str | None

    @property
    def interview_due_by(self) -> datetime | None:
        """When the return home interview is due (found + 72 h), or None before found."""
        return self.found_at + RETURN_INTERVIEW_DUE if self.found_at else None


def owns_interview(candidate: Candidate, council: str | None) -> bool:
    """The interview is the reader's to do (an operator: any episode whose owner is known)."""
    if council is None:
        return candidate.interview_owner is not None
    return candidate.interview_owner == council


def section(candidate: Candidate, council: str | None) -> Section:
    """Which group the episode is shown in, for this reader (`council` None: an operator)."""
    if candidate.status == "open":
        return Section.MISSING
    if owns_interview(candidate, council):
        return Section.INTERVIEW_DUE
    return Section.OTHER_FOUND


def shown(candidate: Candidate, council: str | None, now: datetime) -> bool:
    """Open and found episodes always; a closed one only while the reader owes its interview."""
    if candidate.status in ("open", "found"):
        return True
    due = candidate.interview_due_by
    return (
        candidate.status == "closed"
        and due is not None
        and owns_interview(candidate, council)
        and now <= due + CLOSED_KEPT
    )


def sort_key(candidate: Candidate, council: str | None) -> tuple[Any, ...]:
    """Most urgent first, within and across the groups (see the module's docstring)."""
    group = section(candidate, council)
    if group is Section.MISSING:
        risk = RISK_ORDER.get(candidate.risk_level, len(RISK_ORDER))
        return (group, risk, candidate.last_seen_at, candidate.episode_id)
    return (group, 0, candidate.interview_due_by or _LATEST, candidate.episode_id)


def triage(candidates: list[Candidate], council: str | None, now: datetime) -> list[Candidate]:
    """The episodes the page shows, most urgent first."""
    return sorted(
        (c for c in candidates if shown(c, council, now)), key=lambda c: sort_key(c, council)
    )


def page_count(total: int, page_size: int) -> int:
    """How many pages `total` rows fill (at least one, which may be empty)."""
    return max(1, -(-total // page_size))


def page_numbers(current: int, pages: int) -> list[int | None]:
    """The GOV.UK pagination's numbers: first, last, and the current one with its neighbours.

    None stands for an ellipsis (a gap of more than one page).
    """
    wanted = sorted({1, pages, current - 1, current, current + 1} & set(range(1, pages + 1)))
    numbers: list[int | None] = []
    for number in wanted:
        last = numbers[-1] if numbers else None
        if last is not None and number - last > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def missing_for(since: datetime, now: datetime) -> str:
    """How long a child has been missing, in words: '3 days 4 hours', '45 minutes'."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour")] if days else [(hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(words) or "less than a minute"
