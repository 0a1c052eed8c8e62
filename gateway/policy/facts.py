"""The facts the policy rules read about one episode, and how they are read from storage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from gateway.canonical import EpisodeStatus, RiskLevel
from gateway.policy import calendar

ENDED = {EpisodeStatus.CLOSED, EpisodeStatus.CANCELLED}
_RISK_LEVELS = {level.value: level for level in RiskLevel}


@dataclass(frozen=True, slots=True)
class PastEpisode:
    """One of the child's episodes, as counting rules see it."""

    reported_at: datetime
    away: bool  # DfE missing type `A`
    from_home: bool  # not a looked-after child when reported


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules read about one episode."""

    reported_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None  # found, closed or cancelled; None while missing
    cancelled: bool
    looked_after: bool
    child_protection_plan: bool
    date_of_birth: date
    risk_history: Sequence[tuple[RiskLevel, datetime]]  # oldest first
    history: Sequence[PastEpisode]  # the child's episodes, this one included, not cancelled
    away: bool = False
    found_at: datetime | None = None
    vulnerabilities: frozenset[str] = frozenset()
    previous_reports_12m: int | None = None  # the police's count, when the message gives one

    @property
    def age(self) -> int:
        """The child's age in whole years when reported."""
        born, on = self.date_of_birth, calendar.local_date(self.reported_at)
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    @property
    def missing_since(self) -> datetime:
        """When the child went missing: last seen (or the report, if the police put it earlier)."""
        return min(self.last_seen_at, self.reported_at)

    def open_at(self, moment: datetime) -> bool:
        """Whether the child was missing at `moment`."""
        return self.missing_since <= moment and (self.ended_at is None or moment < self.ended_at)


def from_episode(row: Any, stored: Iterable[Any]) -> Facts:
    """The facts of an episode as it stands (an `episodes` row or the ingest's `Standing`).

    `stored` is the child's episodes as stored; this one's entry is replaced by `row`. The
    last-seen time, vulnerabilities and the police's previous-report count come from the
    episode's state, which every event rewrites: no column, no extra read.
    """
    state = row.state
    status = EpisodeStatus(row.status)
    ended = row.found_at or (row.updated_at if status in ENDED else None)
    history = [h for h in stored if h.id != row.id]
    if status is not EpisodeStatus.CANCELLED:
        history.append(row)
    last_seen = state.get("last_seen_at")
    return Facts(
        reported_at=row.reported_at,
        last_seen_at=datetime.fromisoformat(last_seen) if last_seen else row.reported_at,
        ended_at=ended,
        cancelled=status is EpisodeStatus.CANCELLED,
        looked_after=bool(row.looked_after),
        child_protection_plan=bool(state.get("child_protection_plan"))
        or "child_protection_plan" in state.get("vulnerabilities", []),
        date_of_birth=date.fromisoformat(state["child"]["date_of_birth"]),
        risk_history=[
            (_risk_level(h["level"]), datetime.fromisoformat(h["at"]))
            for h in state.get("risk_history", [])
        ],
        history=[
            PastEpisode(
                reported_at=h.reported_at,
                away=h.dfe_missing_type == "A",
                from_home=not h.looked_after,
            )
            for h in history
        ],
        away=row.dfe_missing_type == "A",
        found_at=row.found_at,
        vulnerabilities=frozenset(state.get("vulnerabilities", ())),
        previous_reports_12m=state.get("previous_reports_12m"),
    )


def _risk_level(value: str) -> RiskLevel:
    # A dict lookup: `RiskLevel(value)` goes through EnumMeta.__call__ for each entry of the
    # risk history on every event. Anything else (not a str, or unknown) still goes to
    # `RiskLevel`, so it raises the ValueError that would.
    level = _RISK_LEVELS.get(value) if isinstance(value, str) else None
    return level or RiskLevel(value)
