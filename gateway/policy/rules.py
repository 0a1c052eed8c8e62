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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

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
        flag, next_at = _check(rule, facts, now)
        if flag is not None:
            due.append(flag)
        if next_at is not None:
            upcoming.append(next_at)
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


# What one rule gives: its due flag (or None) and the future moment it falls due (or None).
# A rule raises at most one flag at a time, so a pair is enough, and it is cheaper than a
# generator per rule: every rule of every council's pack runs on each ingested event.
Outcome = tuple[Due | None, datetime | None]
_NOTHING: Outcome = (None, None)


def _check(rule: AnyRule, facts: Facts, now: datetime) -> Outcome:
    """The rule's due flag, and the future moment it falls due while the episode is open."""
    if isinstance(rule, OpenFor):
        return _open_for(rule, facts, now)
    if isinstance(rule, EpisodeCount):
        return _episode_count(rule, facts)
    if isinstance(rule, RiskLevelIs):
        return _risk_level(rule, facts)
    if isinstance(rule, RiskHeldFor):
        return _risk_held_for(rule, facts, now)
    return _overnight(rule, facts, now)


def _once(
    rule: AnyRule, facts: Facts, threshold: datetime, now: datetime, reason: Callable[[], str]
) -> Outcome:
    """A one-off time-based flag: due at `threshold` if the episode is still open then.

    `reason` is only called when the flag is due: most evaluations (a fresh report) need just
    the threshold, and the reason costs UK-time formatting and working-day arithmetic.
    """
    if not facts.open_at(threshold):
        return _NOTHING
    if now >= threshold:
        return Due(rule.id, rule.flag, 0, threshold, reason()), None
    return (None, threshold) if facts.ended_at is None else _NOTHING


# --- open for a duration -------------------------------------------------------------------


def _threshold(rule: OpenFor, start: datetime) -> datetime:
    if rule.working_days is not None:
        return calendar.add_working_days(start, rule.working_days)
    if rule.months is not None:
        return calendar.add_months(start, rule.months)
    if rule.days is not None:
        return start + timedelta(days=rule.days)
    return start + timedelta(hours=rule.hours or 0)


def _span(rule: OpenFor) -> str:
    if rule.working_days is not None:
        return _n(rule.working_days, "working day")
    if rule.months is not None:
        return _n(rule.months, "month")
    if rule.days is not None:
        return _n(rule.days, "day")
    hours = rule.hours or 0
    return _n(hours, "hour") if hours else "reported"


def _open_for(rule: OpenFor, facts: Facts, now: datetime) -> Outcome:
    threshold = _threshold(rule, facts.reported_at)
    reason = partial(_open_reason, rule, facts.reported_at, threshold)  # built only when due
    if rule.every_days is None:
        return _once(rule, facts, threshold, now, reason)
    return _repeating(rule, facts, threshold, now, reason)


def _open_reason(rule: OpenFor, reported_at: datetime, threshold: datetime) -> str:
    reason = f"missing {_span(rule)}" if rule.hours != 0 else "reported missing"
    reason += f" (open since {calendar.describe(reported_at)})"
    if rule.due_within_working_days:
        by = calendar.add_working_days(threshold, rule.due_within_working_days)
        reason += f"; due by {calendar.describe(by)}"
    return reason


def _repeating(
    rule: OpenFor, facts: Facts, threshold: datetime, now: datetime, reason: Callable[[], str]
) -> Outcome:
    """Period k falls due at threshold + k * every while open; only the latest is raised."""
    assert rule.every_days is not None
    if not facts.open_at(threshold):
        return _NOTHING
    if now < threshold:
        return (None, threshold) if facts.ended_at is None else _NOTHING
    every = timedelta(days=rule.every_days)
    period = (now - threshold) // every
    if facts.ended_at is not None:  # periods that began before the episode ended
        period = min(period, math.ceil((facts.ended_at - threshold) / every) - 1)
    at = threshold + period * every
    label = (
        reason()
        if period == 0
        else f"{reason()}; review {period} (every {_n(rule.every_days, 'day')})"
    )
    due = Due(rule.id, rule.flag, period, at, label)
    return due, (threshold + (period + 1) * every if facts.ended_at is None else None)


# --- counts and risk -----------------------------------------------------------------------


def _episode_count(rule: EpisodeCount, facts: Facts) -> Outcome:
    if rule.exclude_away and facts.away:
        return _NOTHING  # an away episode does not count, so it cannot reach the threshold
    start = facts.reported_at
    # Read once, not per past episode: the window's start and the rule's filters.
    after = None if rule.window_days is None else start - timedelta(days=rule.window_days)
    exclude_away, from_home = rule.exclude_away, rule.from_home
    counted = [
        e
        for e in facts.history
        if e.reported_at <= start
        and (after is None or e.reported_at > after)
        and not (exclude_away and e.away)
        and not (from_home and not e.from_home)
    ]
    if len(counted) < rule.count:
        return _NOTHING
    window = "ever" if rule.window_days is None else f"in {rule.window_days} days"
    kind = "missing-from-home episodes" if rule.from_home else "missing episodes"
    return Due(rule.id, rule.flag, 0, start, f"{len(counted)} {kind} {window}"), None


def _risk_level(rule: RiskLevelIs, facts: Facts) -> Outcome:
    if not facts.risk_history:
        return _NOTHING
    level, since = _current_run(facts.risk_history)
    if level not in rule.levels:
        return _NOTHING
    return Due(rule.id, rule.flag, 0, max(since, facts.reported_at), f"risk {level.value}"), None


def _risk_held_for(rule: RiskHeldFor, facts: Facts, now: datetime) -> Outcome:
    """Due when any unbroken run of the level lasts `hours` while the episode is open."""
    for level, start, end in _runs(facts.risk_history):
        if level is not rule.level:
            continue
        threshold = max(start, facts.reported_at) + timedelta(hours=rule.hours)
        if end is not None and end <= threshold:
            continue
        return _once(rule, facts, threshold, now, partial(_held_reason, rule))
    return _NOTHING


def _held_reason(rule: RiskHeldFor) -> str:
    return f"risk {rule.level.value} for {_n(rule.hours, 'hour')}"


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


def _overnight(rule: Overnight, facts: Facts, now: datetime) -> Outcome:
    reported = facts.reported_at
    local = calendar.local_time_of(reported)
    if rule.start <= local < rule.end:
        first = reported
    else:
        first = calendar.next_local_time(reported, rule.start)
    return _once(rule, facts, first, now, partial(_overnight_reason, rule))


def _overnight_reason(rule: Overnight) -> str:
    return f"missing overnight ({rule.start:%H:%M}-{rule.end:%H:%M} UK time)"


def _n(count: int, unit: str) -> str:
    return f"{count} {unit}" + ("" if count == 1 else "s")
