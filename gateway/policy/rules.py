"""Which policy rules are due for an episode at a moment, and when the next one falls due.

Pure: the facts of the episode, the council's role and the child's history in, `Due` flags and
the next moment to look again out. The engine (`engine.py`) drops the flags already raised (the
database holds them) and sets the timer to `next_at`. A rule is due at its threshold and not a
moment before.

Clocks (docs/policy-packs.md): every duration runs from when the child was last seen; the child is
missing from then until found, the report closed, or it is cancelled, and a time-based flag
fires only if the child was still missing at its threshold. A cancelled episode raises nothing
and is not counted; counts include this episode and look back from its report; conditions are
read from the episode as it stands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial
from typing import Any

from gateway.canonical import CouncilRole, RiskLevel
from gateway.policy import calendar
from gateway.policy.definitions import (
    AnyRule,
    EpisodeCount,
    Found,
    MissingFor,
    Overnight,
    ReportDayEnds,
    Reported,
    RiskHeldFor,
    RiskLevelIs,
    Span,
)
from gateway.policy.facts import Facts
from gateway.policy.packs import Pack

NIGHT = (time(0, 0), time(6, 0))  # "overnight" (docs/policy-packs.md), UK time


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


def evaluate(pack: Pack, facts: Facts, now: datetime, role: CouncilRole) -> Evaluation:
    """Run the rules of `pack` that apply to a council told in `role`, over `facts`, at `now`."""
    if facts.cancelled:
        return Evaluation(due=[], next_at=None)
    due: list[Due] = []
    upcoming: list[datetime] = []
    for rule in pack.by_role[role]:
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
        and (rule.age_under is None or facts.age < rule.age_under)
        and (not rule.vulnerabilities or not facts.vulnerabilities.isdisjoint(rule.vulnerabilities))
    )


# What one rule gives: its due flag (or None) and the future moment it falls due (or None).
# A rule raises at most one flag at a time, so a pair is enough, and it is cheaper than a
# generator per rule: every rule of every council's pack runs on each ingested event.
Outcome = tuple[Due | None, datetime | None]
_NOTHING: Outcome = (None, None)
Reason = Callable[[], str]


def _check(rule: AnyRule, facts: Facts, now: datetime) -> Outcome:
    """The rule's due flag, and the future moment it falls due while the child is missing."""
    return _CHECKS[type(rule)](rule, facts, now)


def _reported(rule: Reported, facts: Facts, now: datetime) -> Outcome:
    return _at(rule, facts, facts.reported_at, now, partial(_reported_reason, facts))


def _found(rule: Found, facts: Facts, now: datetime) -> Outcome:
    if facts.found_at is None:
        return _NOTHING
    return _at(rule, facts, facts.found_at, now, partial(_found_reason, facts.found_at))


def _due(rule: AnyRule, facts: Facts, period: int, at: datetime, trigger: str) -> Due:
    """The flag, its reason the trigger, the deadline and who must act (the rule's action)."""
    reason = trigger
    if rule.due_within is not None:
        start = facts.last_seen_at if rule.due_within.since == "last_seen" else at
        reason += f"; due by {calendar.describe(rule.due_within.after(start))}"
    if rule.action:
        reason += f". {rule.action}"
    return Due(rule.id, rule.flag, period, at, reason)


def _at(rule: AnyRule, facts: Facts, moment: datetime, now: datetime, reason: Reason) -> Outcome:
    """Due at `moment` (an event: the report, the find), whether or not the child is missing."""
    if now >= moment:
        return _due(rule, facts, 0, moment, reason()), None
    return None, moment


def _once(
    rule: AnyRule, facts: Facts, threshold: datetime, now: datetime, reason: Reason
) -> Outcome:
    """A one-off time-based flag: due at `threshold` if the child is still missing then.

    `reason` is only called when the flag is due: most evaluations (a fresh report) need just
    the threshold, and the reason costs UK-time formatting and working-day arithmetic.
    """
    if not facts.open_at(threshold):
        return _NOTHING
    if now >= threshold:
        return _due(rule, facts, 0, threshold, reason()), None
    return (None, threshold) if facts.ended_at is None else _NOTHING


def _reported_reason(facts: Facts) -> str:
    reported = f"reported missing {calendar.describe(facts.reported_at)}"
    if facts.last_seen_at != facts.reported_at:
        reported += f" (last seen {calendar.describe(facts.last_seen_at)})"
    return reported


def _found_reason(found_at: datetime) -> str:
    return f"found {calendar.describe(found_at)}"


# --- missing for a span, from last seen ----------------------------------------------------


def _missing_for(rule: MissingFor, facts: Facts, now: datetime) -> Outcome:
    since = facts.last_seen_at
    if rule.every_days is not None:
        return _repeating(rule, facts, rule.spans[0].after(since), now)
    if rule.schedule:
        return _scheduled(rule, facts, now)
    span = rule.spans[0]
    threshold = span.after(since)
    if rule.or_overnight:
        night = _first_night(since)
        if night < threshold:
            return _once(rule, facts, night, now, partial(_overnight_reason, NIGHT, since))
    return _once(rule, facts, threshold, now, partial(_span_reason, span, since))


def _span_reason(span: Span, since: datetime) -> str:
    return f"missing {span.text()} since last seen {calendar.describe(since)}"


def _repeating(rule: MissingFor, facts: Facts, threshold: datetime, now: datetime) -> Outcome:
    """Period k falls due k * every calendar days after the threshold while missing.

    Only the latest period is raised: a timer that was down for several periods raises the
    current one, not a burst of stale ones.
    """
    assert rule.every_days is not None
    if not facts.open_at(threshold):
        return _NOTHING
    if now < threshold:
        return (None, threshold) if facts.ended_at is None else _NOTHING
    every = rule.every_days

    def moment(k: int) -> datetime:
        return calendar.add_days(threshold, k * every)

    # An estimate from elapsed time, then stepped: a clock change moves a moment by an hour.
    limit = now if facts.ended_at is None else min(now, facts.ended_at)
    period = max(0, (limit - threshold) // timedelta(days=every) - 1)
    while (following := moment(period + 1)) <= now and facts.open_at(following):
        period += 1
    trigger = _span_reason(rule.spans[0], facts.last_seen_at)
    if period:
        trigger += f"; review {period} (every {every} days while missing)"
    due = _due(rule, facts, period, moment(period), trigger)
    return due, (following if facts.ended_at is None else None)


def _scheduled(rule: MissingFor, facts: Facts, now: datetime) -> Outcome:
    """Period k falls due at the k-th moment of the schedule while missing; the latest is raised."""
    since = facts.last_seen_at
    moments = [span.after(since) for span in rule.schedule]
    passed = [k for k, at in enumerate(moments) if at <= now and facts.open_at(at)]
    upcoming = next((at for at in moments if at > now), None)
    next_at = upcoming if facts.ended_at is None else None
    if not passed:
        return None, next_at
    period = passed[-1]
    trigger = _span_reason(rule.schedule[period], since)
    if len(rule.schedule) > 1:
        trigger += f" ({period + 1} of {len(rule.schedule)})"
    return _due(rule, facts, period, moments[period], trigger), next_at


# --- the report's day, and overnight --------------------------------------------------------


def _report_day_ends(rule: ReportDayEnds, facts: Facts, now: datetime) -> Outcome:
    day = calendar.local_date(facts.reported_at)
    threshold = calendar.at_local(day, rule.at)
    reason = partial(_report_day_reason, rule, facts.reported_at)
    return _once(rule, facts, threshold, now, reason)


def _report_day_reason(rule: ReportDayEnds, reported_at: datetime) -> str:
    return (
        f"not found by {rule.at:%H:%M} UK time on the day of the report "
        f"({calendar.describe(reported_at)})"
    )


def _first_night(since: datetime, window: tuple[time, time] = NIGHT) -> datetime:
    """The first moment at or after `since` when the UK clock is in the night window."""
    start, end = window
    if start <= calendar.local_time_of(since) < end:
        return since
    return calendar.next_local_time(since, start)


def _overnight(rule: Overnight, facts: Facts, now: datetime) -> Outcome:
    since = facts.last_seen_at
    first = _first_night(since, (rule.start, rule.end))
    reason = partial(_overnight_reason, (rule.start, rule.end), since)
    return _once(rule, facts, first, now, reason)


def _overnight_reason(window: tuple[time, time], since: datetime) -> str:
    start, end = window
    return (
        f"missing overnight ({start:%H:%M}-{end:%H:%M} UK time) "
        f"since last seen {calendar.describe(since)}"
    )


# --- counts and risk -----------------------------------------------------------------------


def _episode_count(rule: EpisodeCount, facts: Facts, _now: datetime) -> Outcome:
    if rule.exclude_away and facts.away:
        return _NOTHING  # an away episode does not count, so it cannot reach the threshold
    start = facts.reported_at
    # Read once, not per past episode: the window's start and the rule's filters.
    after = _window_start(rule, start)
    exclude_away, from_home = rule.exclude_away, rule.from_home
    counted = sum(
        1
        for e in facts.history
        if e.reported_at <= start
        and (after is None or e.reported_at > after)
        and not (exclude_away and e.away)
        and not (from_home and not e.from_home)
    )
    police = facts.previous_reports_12m if rule.counts_police_history else None
    total = max(counted, 1 + police) if police is not None else counted
    if total < rule.count:
        return _NOTHING
    return _due(rule, facts, 0, start, _count_reason(rule, total, police)), None


def _window_start(rule: EpisodeCount, start: datetime) -> datetime | None:
    if rule.window_days is not None:
        return start - timedelta(days=rule.window_days)
    if rule.window_months is not None:
        return calendar.add_months(start, -rule.window_months)
    return None


def _count_reason(rule: EpisodeCount, total: int, police: int | None) -> str:
    if rule.window_days is not None:
        window = f"in {rule.window_days} days"
    elif rule.window_months is not None:
        window = f"in {rule.window_months} calendar months"
    else:
        window = "ever"
    kind = "missing-from-home episodes" if rule.from_home else "missing episodes"
    if rule.exclude_away:
        kind += " (away not counted)"
    reason = f"{total} {kind} {window}"
    if police is not None:
        reason += f" (police: {police} previous reports in 12 months)"
    return reason


def _risk_level(rule: RiskLevelIs, facts: Facts, _now: datetime) -> Outcome:
    if not facts.risk_history:
        return _NOTHING
    level, since = _current_run(facts.risk_history)
    if level not in rule.levels:
        return _NOTHING
    at = max(since, facts.reported_at)
    return _due(rule, facts, 0, at, f"risk {level.value.replace('_', ' ')}"), None


def _risk_held_for(rule: RiskHeldFor, facts: Facts, now: datetime) -> Outcome:
    """Due when any unbroken run of the level lasts `hours` while the child is missing."""
    for level, start, end in _runs(facts.risk_history):
        if level is not rule.level:
            continue
        threshold = max(start, facts.missing_since) + timedelta(hours=rule.hours)
        if end is not None and end <= threshold:
            continue
        return _once(rule, facts, threshold, now, partial(_held_reason, rule, start))
    return _NOTHING


def _held_reason(rule: RiskHeldFor, since: datetime) -> str:
    level = rule.level.value.replace("_", " ")
    return f"risk {level} for {rule.hours} hours since {calendar.describe(since)}"


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


# Each kind's check, by the rule's class: one dict lookup per rule on the hot path.
_CHECKS: dict[type, Callable[[Any, Facts, datetime], Outcome]] = {
    Reported: _reported,
    Found: _found,
    MissingFor: _missing_for,
    ReportDayEnds: _report_day_ends,
    Overnight: _overnight,
    EpisodeCount: _episode_count,
    RiskLevelIs: _risk_level,
    RiskHeldFor: _risk_held_for,
}
