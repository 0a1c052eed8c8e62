"""Every rule of every bundled pack, evaluated purely: due at its threshold, not a moment before.

Each case gives the episode's facts and the council's role, and the moment the rule falls due
(a time-based rule: a second before it nothing, a second after it the flag, due at the moment)
or the facts just short of it and just at it (a count or a risk grading). A test fails when a
bundled rule has no case, so a rule added to a pack cannot go untested; another checks that no
rule fires for a role it does not apply to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

import mappings
from gateway.canonical import CouncilRole, RiskLevel
from gateway.policy import packs
from gateway.policy.facts import Facts, PastEpisode
from gateway.policy.rules import evaluate

RESPONSIBLE, HOME, HOST = CouncilRole.RESPONSIBLE, CouncilRole.HOME, CouncilRole.HOST
SECOND, HOUR, DAY = timedelta(seconds=1), timedelta(hours=1), timedelta(days=1)
REPORTED = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # Monday 3 March 2025, 10:00 GMT
SEEN = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)  # last seen two hours before the report
FOUND = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
BUNDLED = sorted(p.stem for p in mappings.path("policies").glob("*.yaml"))


def facts(**changes: Any) -> Facts:
    """A 12-year-old missing from home since 08:00, reported at 10:00, graded low, no history."""
    base = Facts(
        reported_at=REPORTED,
        last_seen_at=SEEN,
        ended_at=None,
        cancelled=False,
        looked_after=False,
        child_protection_plan=False,
        date_of_birth=date(2012, 9, 14),
        risk_history=[(RiskLevel.LOW, REPORTED)],
        history=[PastEpisode(REPORTED, away=False, from_home=True)],
    )
    return replace(base, **changes)


def found(**changes: Any) -> Facts:
    """The child found at 15:00."""
    return facts(found_at=FOUND, ended_at=FOUND, **changes)


LAC = {"looked_after": True, "history": [PastEpisode(REPORTED, away=False, from_home=False)]}
CP = {"child_protection_plan": True}


@dataclass(frozen=True)
class Case:
    """One rule in one pack: the facts just short of it and at it, and when it is due."""

    pack: str
    rule: str
    role: CouncilRole
    due_at: datetime
    after: Facts
    before: Facts | None = None  # None: the same facts, a second before `due_at`

    @property
    def name(self) -> str:
        """The test id."""
        return f"{self.pack}:{self.rule}:{self.role}"


def timed(pack: str, rule: str, role: CouncilRole, due_at: datetime, **kw: Any) -> Case:
    """A rule that falls due at a moment."""
    return Case(pack, rule, role, due_at, facts(**kw))


def counted(
    pack: str,
    rule: str,
    role: CouncilRole,
    before: Facts,
    after: Facts,
    due_at: datetime = REPORTED,
) -> Case:
    """A rule due (at the report, unless given) once the facts change from `before` to `after`."""
    return Case(pack, rule, role, due_at, after, before)


def history(*offsets: timedelta, from_home: bool = True, away: bool = False) -> list[PastEpisode]:
    """The child's episodes reported at REPORTED minus each offset (this one: offset 0)."""
    return [PastEpisode(REPORTED - o, away=away, from_home=from_home) for o in offsets]


def graded(*grades: tuple[RiskLevel, datetime], **kw: Any) -> Facts:
    """The facts with this risk history."""
    return facts(risk_history=list(grades), **kw)


RAISED = REPORTED + 2 * HOUR
NIGHT = datetime(2025, 3, 4, 0, 0, tzinfo=UTC)  # the first midnight after 08:00 GMT
WORKING_20 = datetime(2025, 3, 31, 7, 0, tzinfo=UTC)  # Mon 31 March 08:00 BST
# Last seen at 22:00 and reported at 22:30: midnight comes before six hours have passed.
LATE = {
    "last_seen_at": datetime(2025, 3, 3, 22, 0, tzinfo=UTC),
    "reported_at": datetime(2025, 3, 3, 22, 30, tzinfo=UTC),
}
DERBY_PACKS = ["derby", "derbyshire", "derby_derbyshire"]
NOT_BRENT = ["default", "redbridge", "wakefield", "slough", *DERBY_PACKS]


CASES: list[Case] = [
    # The return home interview and the child protection escalation: every pack.
    *[
        Case(pack, "return_home_interview", role, FOUND, found())
        for pack in BUNDLED
        for role in (RESPONSIBLE, HOME)
    ],
    *[timed(pack, "cp_not_found_20_working_days", HOME, WORKING_20, **CP) for pack in NOT_BRENT],
    # 304 Brent
    timed("brent", "cp_not_found_20_days", HOME, datetime(2025, 3, 23, 8, 0, tzinfo=UTC), **CP),
    timed("brent", "lac_missing_24h_notification", RESPONSIBLE, SEEN + 24 * HOUR, **LAC),
    timed("brent", "lac_missing_24h_strategy", RESPONSIBLE, SEEN + 24 * HOUR, **LAC),
    timed("brent", "cp_missing_72h", HOME, REPORTED, **CP),
    timed("brent", "continued_absence_strategy", HOME, SEEN + 7 * DAY),
    timed("brent", "missing_3_months", HOME, datetime(2025, 6, 3, 7, 0, tzinfo=UTC)),
    timed(
        "brent", "lac_missing_12_weeks", RESPONSIBLE, datetime(2025, 5, 26, 7, 0, tzinfo=UTC), **LAC
    ),
    counted(
        "brent",
        "under_11_missing_from_home",
        HOME,
        facts(date_of_birth=date(2014, 3, 3)),  # 11 on the day of the report
        facts(date_of_birth=date(2014, 3, 4)),  # 11 tomorrow
    ),
    counted(
        "brent",
        "third_missing_from_home",
        HOME,
        facts(history=[*history(0 * DAY, 300 * DAY), *history(200 * DAY, from_home=False)]),
        facts(history=history(0 * DAY, 200 * DAY, 300 * DAY)),
    ),
    counted(
        "brent",
        "domestic_abuse_at_home",
        HOME,
        facts(vulnerabilities=frozenset({"mental_health"})),
        facts(vulnerabilities=frozenset({"mental_health", "domestic_abuse"})),
    ),
    timed("brent", "placed_by_another_council", HOST, REPORTED, **LAC),
    # 317 Redbridge
    timed("redbridge", "lac_missing_notification", RESPONSIBLE, REPORTED, **LAC),
    timed(
        "redbridge", "not_returned_on_report_day", HOME, datetime(2025, 3, 3, 23, 59, tzinfo=UTC)
    ),
    counted(
        "redbridge",
        "second_missing_episode",
        HOME,
        facts(),
        facts(history=history(0 * DAY, 400 * DAY)),
    ),
    counted(
        "redbridge",
        "medium_or_high_risk",
        HOME,
        graded((RiskLevel.LOW, REPORTED)),
        graded((RiskLevel.LOW, REPORTED), (RiskLevel.MEDIUM, REPORTED)),
    ),
    Case("redbridge", "lac_found_iro_review", RESPONSIBLE, FOUND, found(**LAC)),
    counted(
        "redbridge",
        "placed_by_another_council_panel",
        HOST,
        graded((RiskLevel.LOW, REPORTED), **LAC),
        graded((RiskLevel.HIGH, REPORTED), **LAC),
    ),
    # 830 Derbyshire, 831 Derby: the joint protocol
    *[
        rule
        for pack in DERBY_PACKS
        for rule in (
            timed(pack, "missing_3_days_review_5_days", HOME, SEEN + 3 * DAY),
            counted(
                pack,
                "missing_3_in_30_days",
                HOME,
                facts(history=history(0 * DAY, 10 * DAY, 30 * DAY)),  # 30 days before: outside
                facts(history=history(0 * DAY, 10 * DAY, 30 * DAY - SECOND)),
            ),
            counted(
                pack,
                "repeat_missing_ever",
                HOME,
                facts(),
                facts(history=history(0 * DAY, 1000 * DAY)),
            ),
            timed(
                pack,
                "no_apparent_risk_24h",
                HOME,
                REPORTED + 24 * HOUR,
                risk_history=[(RiskLevel.NO_APPARENT_RISK, REPORTED)],
            ),
            timed(pack, "cp_missing_manager_notification", HOME, REPORTED, **CP),
            timed(pack, "lac_missing_iro_notification", RESPONSIBLE, REPORTED, **LAC),
            Case(pack, "lac_returned_iro_notification", RESPONSIBLE, FOUND, found(**LAC)),
            timed(pack, "lac_away_6h_or_overnight", RESPONSIBLE, SEEN + 6 * HOUR, **LAC),
            timed(pack, "lac_away_6h_or_overnight", RESPONSIBLE, NIGHT, **LATE, **LAC),
        )
    ],
    # 384 Wakefield
    timed("wakefield", "missing_24h", HOME, SEEN + 24 * HOUR),
    timed("wakefield", "missing_72h", HOME, SEEN + 72 * HOUR),
    timed("wakefield", "serious_missing_72h", HOME, SEEN + 72 * HOUR),
    counted(
        "wakefield",
        "missing_4_in_28_days",
        HOME,
        facts(history=history(0 * DAY, 7 * DAY, 14 * DAY, 28 * DAY)),
        facts(history=history(0 * DAY, 7 * DAY, 14 * DAY, 28 * DAY - SECOND)),
    ),
    counted(
        "wakefield",
        "missing_6_in_2_months",
        HOME,
        # Two calendar months before Monday 3 March 10:00 is Friday 3 January 10:00.
        facts(
            history=[*history(0 * DAY, 10 * DAY, 20 * DAY, 30 * DAY, 40 * DAY), *history(59 * DAY)]
        ),
        facts(
            history=[
                *history(0 * DAY, 10 * DAY, 20 * DAY, 30 * DAY, 40 * DAY),
                *history(59 * DAY - SECOND),
            ]
        ),
    ),
    counted(
        "wakefield",
        "high_risk",
        HOME,
        graded((RiskLevel.MEDIUM, REPORTED)),
        graded((RiskLevel.MEDIUM, REPORTED), (RiskLevel.HIGH, RAISED)),
        due_at=RAISED,
    ),
    # 871 Slough
    timed("slough", "missing_overnight", HOME, NIGHT),
    counted(
        "slough",
        "missing_3_in_90_days",
        HOME,
        facts(history=history(0 * DAY, 45 * DAY, 90 * DAY)),
        facts(history=history(0 * DAY, 45 * DAY, 90 * DAY - SECOND, away=True)),
    ),
]


def _due(case: Case, role: CouncilRole, which: Facts, now: datetime) -> list[Any]:
    evaluation = evaluate(packs.load(case.pack), which, now, role)
    return [d for d in evaluation.due if d.rule == case.rule]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_rule_fires_at_its_threshold_and_not_a_moment_before(case: Case) -> None:
    """Not due a second before (or one episode, grading or year short); due after, once."""
    if case.before is None:
        assert _due(case, case.role, case.after, case.due_at - SECOND) == []
        evaluation = evaluate(packs.load(case.pack), case.after, case.due_at - SECOND, case.role)
        assert evaluation.next_at is not None
        assert evaluation.next_at <= case.due_at  # the timer will look again by then
    else:
        assert _due(case, case.role, case.before, case.due_at + HOUR) == []
    (due,) = _due(case, case.role, case.after, case.due_at + SECOND)
    assert due.due_at == case.due_at
    assert due.period == 0
    assert due.reason


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_no_rule_fires_for_a_role_it_does_not_apply_to(case: Case) -> None:
    """A host gets host rules only; a responsible or home council never gets a host rule."""
    rule = next(r for r in packs.load(case.pack).rules if r.id == case.rule)
    for role in set(CouncilRole) - set(rule.applies_to):
        assert _due(case, role, case.after, case.due_at + 365 * DAY) == []


def test_every_bundled_rule_has_a_case() -> None:
    """A rule added to a pack without a case here fails this test, naming it."""
    covered = {(c.pack, c.rule) for c in CASES}
    bundled = {(name, rule.id) for name in BUNDLED for rule in packs.load(name).rules}
    assert bundled - covered == set()
