"""Which policy rules are due for an episode at a moment, and when the next one falls due.

Pure: the facts of the episode and the child's history in, `Due` flags and the next moment to
look again out. The engine (`engine.py`) drops the flags already raised (the database holds
them) and sets the timer to `next_at`. A rule is due at its threshold and not a moment before.

Decisions (councils.md leaves them open): an episode is open from the police report
(`reported_at`) until the child is found, the report closed, or it is cancelled; a cancelled
episode raises nothing and is not counted; counts include this episode and look back from its
report; conditions are read from the episode as it stands.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from gateway.canonical import RiskLevel
from gateway.policy import calendar
from gateway.policy.packs import (
    EpisodeCount,
    OpenFor,
    Overnight,
    Pack,
    RiskHeldFor,
    RiskLevelIs,
)

AnyRule = OpenFor | EpisodeCount | RiskLevelIs | RiskHeldFor | Overnight


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
    ended_at: datetime | None  # found, closed or cancelled; None while open
    cancelled: bool
    looked_after: bool
    child_protection_plan: bool
    date_of_birth: date
    risk_history: Sequence[tuple[RiskLevel, datetime]]  # oldest first
    history: Sequence[PastEpisode]  # the child's episodes, this one included, not cancelled
    away: bool = False

    @property
    def age(self) -> int:
        """The child's age in whole years when reported."""
        born, on = self.date_of_birth, calendar.local_date(self.reported_at)
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    def open_at(self, moment: datetime) -> bool:
        """Whether the episode was open at `moment`."""
        return self.reported_at <= moment and (self.ended_at is None or moment < self.ended_at)


@dataclass(frozen=True, slots=True)
class Due:
    """A flag the pack raises: once per (rule, period)."""

    rule: str
    code: str
    period: int
    due_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything due by `now`, and when a time-based rule will next fall due (or None)."""

    due: list[Due]
    next_at: datetime | None


def evaluate(pack: Pack, facts: Facts, now: datetime) -> Evaluation:
    """Run every rule of `pack` over `facts` as of `now`."""
    if facts.cancelled:
        return Evaluation(due=[], next_at=None)
    due: list[Due] = []
    upcoming: list[datetime] = []
    for rule in pack.rules:
        if not _conditions_hold(rule, facts):
            continue
        for item in _check(rule, facts, now):
            if isinstance(item, Due):
                due.append(item)
            else:
                upcoming.append(item)
    return Evaluation(due=due, next_at=min(upcoming, default=None))


def _conditions_hold(rule: AnyRule, facts: Facts) -> bool:
    return (
        (rule.looked_after is None or rule.looked_after == facts.looked_after)
        and (
            rule.child_protection_plan is None
            or rule.child_protection_plan == facts.child_protection_plan
        )
        and (rule.max_age is None or facts.age <= rule.max_age)
        and (rule.from_home is None or rule.from_home == (not facts.looked_after))
    )


def _check(rule: AnyRule, facts: Facts, now: datetime) -> Iterator[Due | datetime]:
    """Yield the rule's due flags, or the future moment it falls due while the episode is open."""
    if isinstance(rule, OpenFor):
        yield from _open_for(rule, facts, now)
    elif isinstance(rule, EpisodeCount):
        yield from _episode_count(rule, facts)
    elif isinstance(rule, RiskLevelIs):
        yield from _risk_level(rule, facts)
    elif isinstance(rule, RiskHeldFor):
        yield from _risk_held_for(rule, facts, now)
    else:
        yield from _overnight(rule, facts, now)


def _once(
    rule: AnyRule, facts: Facts, threshold: datetime, now: datetime, reason: str
) -> Iterator[Due | datetime]:
    """A one-off time-based flag: due at `threshold` if the episode is still open then."""
    if not facts.open_at(threshold):
        return
    if now >= threshold:
        yield Due(rule.id, rule.flag, 0, threshold, reason)
    elif facts.ended_at is None:
        yield threshold


# --- open for a duration -------------------------------------------------------------------


def _threshold(rule: OpenFor, start: datetime) -> tuple[datetime, str]:
    if rule.working_days is not None:
        return calendar.add_working_days(start, rule.working_days), _n(
            rule.working_days, "working day"
        )
    if rule.months is not None:
        return calendar.add_months(start, rule.months), _n(rule.months, "month")
    if rule.days is not None:
        return start + timedelta(days=rule.days), _n(rule.days, "day")
    hours = rule.hours or 0
    return start + timedelta(hours=hours), (_n(hours, "hour") if hours else "reported")


def _open_for(rule: OpenFor, facts: Facts, now: datetime) -> Iterator[Due | datetime]:
    threshold, span = _threshold(rule, facts.reported_at)
    reason = f"missing {span}" if rule.hours != 0 else "reported missing"
    reason += f" (open since {calendar.describe(facts.reported_at)})"
    if rule.due_within_working_days:
        by = calendar.add_working_days(threshold, rule.due_within_working_days)
        reason += f"; due by {calendar.describe(by)}"
    if rule.every_days is None:
        yield from _once(rule, facts, threshold, now, reason)
        return
    yield from _repeating(rule, facts, threshold, now, reason)


def _repeating(
    rule: OpenFor, facts: Facts, threshold: datetime, now: datetime, reason: str
) -> Iterator[Due | datetime]:
    """Period k falls due at threshold + k * every while open; only the latest is raised."""
    assert rule.every_days is not None
    every = timedelta(days=rule.every_days)
    if not facts.open_at(threshold):
        return
    if now < threshold:
        if facts.ended_at is None:
            yield threshold
        return
    period = (now - threshold) // every
    if facts.ended_at is not None:  # periods that began before the episode ended
        period = min(period, math.ceil((facts.ended_at - threshold) / every) - 1)
    at = threshold + period * every
    label = (
        reason if period == 0 else f"{reason}; review {period} (every {_n(rule.every_days, 'day')})"
    )
    yield Due(rule.id, rule.flag, period, at, label)
    if facts.ended_at is None:
        yield threshold + (period + 1) * every


# --- counts and risk -----------------------------------------------------------------------


def _episode_count(rule: EpisodeCount, facts: Facts) -> Iterator[Due | datetime]:
    start = facts.reported_at
    counted = [
        e
        for e in facts.history
        if e.reported_at <= start
        and (rule.window_days is None or e.reported_at > start - timedelta(days=rule.window_days))
        and not (rule.exclude_away and e.away)
        and not (rule.from_home and not e.from_home)
    ]
    if rule.exclude_away and facts.away:
        return  # an away episode does not count, so it cannot reach the threshold
    if len(counted) >= rule.count:
        window = "ever" if rule.window_days is None else f"in {rule.window_days} days"
        kind = "missing-from-home episodes" if rule.from_home else "missing episodes"
        yield Due(rule.id, rule.flag, 0, start, f"{len(counted)} {kind} {window}")


def _risk_level(rule: RiskLevelIs, facts: Facts) -> Iterator[Due | datetime]:
    if not facts.risk_history:
        return
    level, since = _current_run(facts.risk_history)
    if level in rule.levels:
        yield Due(rule.id, rule.flag, 0, max(since, facts.reported_at), f"risk {level.value}")


def _risk_held_for(rule: RiskHeldFor, facts: Facts, now: datetime) -> Iterator[Due | datetime]:
    """Due when any unbroken run of the level lasts `hours` while the episode is open."""
    reason = f"risk {rule.level.value} for {_n(rule.hours, 'hour')}"
    for level, start, end in _runs(facts.risk_history):
        if level is not rule.level:
            continue
        threshold = max(start, facts.reported_at) + timedelta(hours=rule.hours)
        if end is not None and end <= threshold:
            continue
        yield from _once(rule, facts, threshold, now, reason)
        return


def _runs(
    history: Sequence[tuple[RiskLevel, datetime]],
) -> Iterator[tuple[RiskLevel, datetime, datetime | None]]:
    """Maximal runs of one level: (level, first assessed, next different assessment or None)."""
    index = 0
    while index < len(history):
        level, start = history[index]
        following = index + 1
        while following < len(history) and history[following][0] is level:
            following += 1
        end = history[following][1] if following < len(history) else None
        yield level, start, end
        index = following


def _current_run(history: Sequence[tuple[RiskLevel, datetime]]) -> tuple[RiskLevel, datetime]:
    *_, (level, start, _end) = _runs(history)
    return level, start


# --- overnight -----------------------------------------------------------------------------


def _overnight(rule: Overnight, facts: Facts, now: datetime) -> Iterator[Due | datetime]:
    reported = facts.reported_at
    local = calendar.local_time_of(reported)
    if rule.start <= local < rule.end:
        first = reported
    else:
        first = calendar.next_local_time(reported, rule.start)
    reason = f"missing overnight ({rule.start:%H:%M}-{rule.end:%H:%M} UK time)"
    yield from _once(rule, facts, first, now, reason)


def _n(count: int, unit: str) -> str:
    return f"{count} {unit}" + ("" if count == 1 else "s")
