"""Every rule of every council's pack (councils.md), driven by messages and a controllable clock.

Each test sends synthetic police messages at set times and runs the policy timer just before
and exactly at the threshold: a flag fires once, at its moment and not a moment before, and a
restart (new ingestor and timer over the same database) in the middle changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from gateway.policy import engine as policy_engine
from gateway.store.schema import deliveries, events
from tests.policy.harness import SECOND, Gateway
from tests.policy_messages import Child, Report

T = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday, GMT
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@pytest.fixture
def gw(engine: Engine) -> Gateway:
    """A gateway on the test database with its clock at T."""
    return Gateway(engine, T)


def rules(gw: Gateway, episode: str) -> list[tuple[str, int]]:
    """(rule, period) of every flag raised on the episode."""
    return [(f.rule, f.period) for f in gw.flags(episode)]


def fires_at(
    gw: Gateway, episode: str, rule: str, at: datetime, *, council: str, period: int = 0
) -> None:
    """The timer raises (rule, period) at `at`, not a second before, once, across a restart."""
    gw.tick(at - SECOND)
    assert (rule, period) not in rules(gw, episode), f"{rule} fired before {at}"
    gw.restart()
    gw.tick(at)
    raised = [f for f in gw.flags(episode, rule) if f.period == period]
    assert len(raised) == 1, f"{rule} did not fire at {at}"
    assert raised[0].due_at == at
    assert raised[0].council == council
    gw.restart()
    gw.tick(at + SECOND)
    gw.tick(at + HOUR)
    assert len([f for f in gw.flags(episode, rule) if f.period == period]) == 1
    sent = [f for f in gw.delivered_flags(episode, council) if f["rule"] == rule]
    assert [f["period"] for f in sent].count(period) == 1


def fires_with_message(gw: Gateway, episode: str, rule: str, council: str) -> None:
    """The rule fired on the message just sent and travels with its delivery to the council."""
    assert rules(gw, episode).count((rule, 0)) == 1
    with gw.engine.connect() as connection:
        last = connection.execute(
            select(deliveries.c.flags)
            .where(deliveries.c.episode_id == episode, deliveries.c.council == council)
            .order_by(deliveries.c.seq.desc())
            .limit(1)
        ).scalar_one()
    assert rule in [f["rule"] for f in last]


def never(gw: Gateway, episode: str, rule: str, *, until: datetime) -> None:
    """The rule has not fired by `until`."""
    gw.tick(until)
    assert rule not in [r for r, _ in rules(gw, episode)]


def series(gw: Gateway, council: str, offsets: list[timedelta], **kw: object) -> list[str]:
    """One child's episodes reported at T + each offset; returns their episode ids."""
    child = Child()
    return [gw.send(Report(council=council, reported=T + o, child=child, **kw)) for o in offsets]  # type: ignore[arg-type]


# --- 384 Wakefield -------------------------------------------------------------------------


def test_wakefield_open_24h_then_72h(gw: Gateway) -> None:
    """Strategy meeting at 24 h and again at 72 h open."""
    episode = gw.send(Report(council="384", reported=T))
    fires_at(gw, episode, "missing_open_24h", T + 24 * HOUR, council="384")
    fires_at(gw, episode, "missing_open_72h", T + 72 * HOUR, council="384")
    assert gw.flags(episode, "serious_missing_72h")[0].due_at == T + 72 * HOUR


def test_wakefield_serious_notification_at_72h(gw: Gateway) -> None:
    """Serious incident notification at 72 h open."""
    episode = gw.send(Report(council="384", reported=T))
    fires_at(gw, episode, "serious_missing_72h", T + 72 * HOUR, council="384")


def test_wakefield_found_before_24h_raises_nothing(gw: Gateway) -> None:
    """A child found after 23 h raises no 24 h flag, however long the timer runs."""
    report = Report(council="384", reported=T)
    episode = gw.send(report)
    gw.send(Report(**{**report.__dict__, "located": T + 23 * HOUR}), "LOCATED", at=T + 23 * HOUR)
    never(gw, episode, "missing_open_24h", until=T + 10 * DAY)


def test_wakefield_4_in_28_days_fires_on_the_fourth(gw: Gateway) -> None:
    """Three episodes raise nothing; the fourth within 28 days does, with its delivery."""
    *first, fourth = series(gw, "384", [0 * DAY, 7 * DAY, 14 * DAY, 27 * DAY])
    assert all("missing_4_in_28_days" not in [r for r, _ in rules(gw, e)] for e in first)
    fires_with_message(gw, fourth, "missing_4_in_28_days", "384")


def test_wakefield_4_in_28_days_does_not_count_away(gw: Gateway) -> None:
    """A DfE `A` (away) episode is not counted; the next missing one is."""
    child = Child()
    for offset in (0 * DAY, 7 * DAY, 14 * DAY):
        gw.send(Report(council="384", reported=T + offset, child=child, looked_after=True))
    away = gw.send(
        Report(
            council="384",
            reported=T + 20 * DAY,
            child=child,
            looked_after=True,
            whereabouts_known=True,
        )
    )
    assert "missing_4_in_28_days" not in [r for r, _ in rules(gw, away)]
    fifth = gw.send(Report(council="384", reported=T + 21 * DAY, child=child, looked_after=True))
    fires_with_message(gw, fifth, "missing_4_in_28_days", "384")


def test_wakefield_4_in_28_days_window_is_28_days(gw: Gateway) -> None:
    """An episode exactly 28 days earlier is outside the window."""
    *_, fourth = series(gw, "384", [0 * DAY, 7 * DAY, 14 * DAY, 28 * DAY])
    assert "missing_4_in_28_days" not in [r for r, _ in rules(gw, fourth)]


def test_wakefield_6_in_61_days(gw: Gateway) -> None:
    """Six episodes 12 days apart: the sixth raises the 61-day rule."""
    episodes = series(gw, "384", [d * 12 * DAY for d in range(6)])
    assert "missing_6_in_61_days" not in [r for r, _ in rules(gw, episodes[4])]
    fires_with_message(gw, episodes[5], "missing_6_in_61_days", "384")


def test_wakefield_high_risk_fires_when_graded_high(gw: Gateway) -> None:
    """Graded high at 2 h: the flag travels with the risk change, once."""
    report = Report(council="384", reported=T)
    episode = gw.send(report)
    gw.tick(T + 2 * HOUR)
    assert "high_risk" not in [r for r, _ in rules(gw, episode)]
    raised = report.with_risk("HIGH", T + 2 * HOUR)
    gw.send(raised, "RISK_CHANGE", at=T + 2 * HOUR)
    fires_with_message(gw, episode, "high_risk", "384")
    assert gw.flags(episode, "high_risk")[0].due_at == T + 2 * HOUR
    gw.send(raised.with_risk("HIGH", T + 3 * HOUR), "RISK_CHANGE", at=T + 3 * HOUR)
    assert len(gw.flags(episode, "high_risk")) == 1


# --- 830 Derbyshire and 831 Derby ----------------------------------------------------------


@pytest.mark.parametrize("council", ["830", "831"])
def test_three_in_30_days(gw: Gateway, council: str) -> None:
    """Derbyshire and Derby: the third episode in 30 days."""
    _, second, third = series(gw, council, [0 * DAY, 10 * DAY, 29 * DAY])
    assert "missing_3_in_30_days" not in [r for r, _ in rules(gw, second)]
    fires_with_message(gw, third, "missing_3_in_30_days", council)


def test_derbyshire_3_days_then_every_5_days_while_missing(gw: Gateway) -> None:
    """At 3 days, review at 8 days, none after the child is found."""
    report = Report(council="830", reported=T)
    episode = gw.send(report)
    rule = "missing_3_days_review_5_days"
    fires_at(gw, episode, rule, T + 3 * DAY, council="830")
    fires_at(gw, episode, rule, T + 8 * DAY, council="830", period=1)
    gw.send(Report(**{**report.__dict__, "located": T + 10 * DAY}), "LOCATED", at=T + 10 * DAY)
    gw.tick(T + 30 * DAY)
    assert [f.period for f in gw.flags(episode, rule)] == [0, 1]


def test_derbyshire_timer_after_an_outage_raises_only_the_current_review(gw: Gateway) -> None:
    """A timer down for days raises the current review only, not every missed one."""
    episode = gw.send(Report(council="830", reported=T))
    gw.tick(T + 14 * DAY)  # down since the report: periods 0, 1 and 2 have passed
    assert [f.period for f in gw.flags(episode, "missing_3_days_review_5_days")] == [2]


def test_derbyshire_second_episode_ever(gw: Gateway) -> None:
    """Any second episode, however far apart, needs a multi-agency meeting."""
    first, second = series(gw, "830", [0 * DAY, 300 * DAY])
    assert "repeat_missing_ever" not in [r for r, _ in rules(gw, first)]
    fires_with_message(gw, second, "repeat_missing_ever", "830")


@pytest.mark.parametrize("council", ["830", "831"])
def test_no_apparent_risk_for_24_hours(gw: Gateway, council: str) -> None:
    """Derbyshire and Derby: no apparent risk may not last over 24 h."""
    episode = gw.send(Report(council=council, reported=T, risks=(("NO APPARENT RISK", T),)))
    fires_at(gw, episode, "no_apparent_risk_24h", T + 24 * HOUR, council=council)


def test_no_apparent_risk_regraded_before_24_hours_raises_nothing(gw: Gateway) -> None:
    """Re-graded after 20 h: the 24 h clock stops."""
    report = Report(council="831", reported=T, risks=(("NO APPARENT RISK", T),))
    episode = gw.send(report)
    gw.send(report.with_risk("LOW", T + 20 * HOUR), "RISK_CHANGE", at=T + 20 * HOUR)
    never(gw, episode, "no_apparent_risk_24h", until=T + 5 * DAY)


def test_derby_missing_3_days(gw: Gateway) -> None:
    """Derby: strategy meeting at 3 days missing."""
    episode = gw.send(Report(council="831", reported=T))
    fires_at(gw, episode, "missing_3_days", T + 3 * DAY, council="831")


# --- 304 Brent -----------------------------------------------------------------------------


def test_brent_looked_after_child_missing_24h(gw: Gateway) -> None:
    """Missing-from-care notification and strategy meeting at 24 h; again at 7 days."""
    episode = gw.send(Report(council="304", reported=T, looked_after=True))
    fires_at(gw, episode, "lac_missing_24h_notification", T + 24 * HOUR, council="304")
    strategy = gw.flags(episode, "lac_missing_24h_strategy")
    assert len(strategy) == 1
    assert strategy[0].code == "strategy_meeting_required"
    fires_at(gw, episode, "lac_missing_7_days_strategy", T + 7 * DAY, council="304")


def test_brent_24h_rules_are_for_looked_after_children_only(gw: Gateway) -> None:
    """A child missing from home raises no missing-from-care flag."""
    episode = gw.send(Report(council="304", reported=T))
    never(gw, episode, "lac_missing_24h_notification", until=T + 8 * DAY)


def test_brent_strategy_meeting_due_in_3_working_days_across_a_bank_holiday_weekend(
    gw: Gateway,
) -> None:
    """The meeting's due date skips Good Friday, the weekend and Easter Monday."""
    # Reported Thursday 17 April 2025, 18:00 BST: 24 hours later is Good Friday; Easter
    # Monday is a bank holiday too, so 3 working days run Tue 22, Wed 23, Thu 24 April.
    reported = datetime(2025, 4, 17, 17, 0, tzinfo=UTC)
    gw.now = reported
    episode = gw.send(Report(council="304", reported=reported, looked_after=True))
    fires_at(gw, episode, "lac_missing_24h_strategy", reported + 24 * HOUR, council="304")
    (flag,) = gw.flags(episode, "lac_missing_24h_strategy")
    assert "due by Thu 24 Apr 2025 18:00" in flag.reason


@pytest.mark.parametrize(("dob", "fires"), [("2014-03-04", True), ("2014-03-02", False)])
def test_brent_under_11_missing_from_home(gw: Gateway, dob: str, fires: bool) -> None:
    """A child under 11 missing from home needs an assessment from the report."""
    # On 3 March 2025 a child born 4 March 2014 is 10; one born 2 March 2014 is 11.
    episode = gw.send(Report(council="304", reported=T, child=Child(dob=dob)))
    assert (("under_11_missing_from_home", 0) in rules(gw, episode)) is fires
    if fires:
        fires_with_message(gw, episode, "under_11_missing_from_home", "304")


def test_brent_third_missing_from_home_episode(gw: Gateway) -> None:
    """Missing-from-care episodes are not counted towards the third from home."""
    child = Child()
    gw.send(Report(council="304", reported=T, child=child))
    gw.send(Report(council="304", reported=T + 100 * DAY, child=child, looked_after=True))
    second = gw.send(Report(council="304", reported=T + 200 * DAY, child=child))
    assert "third_missing_from_home" not in [r for r, _ in rules(gw, second)]
    third = gw.send(Report(council="304", reported=T + 300 * DAY, child=child))
    fires_with_message(gw, third, "third_missing_from_home", "304")


def test_brent_missing_3_months(gw: Gateway) -> None:
    """Three calendar months, UK time (the clocks change on the way)."""
    episode = gw.send(Report(council="304", reported=T))
    fires_at(gw, episode, "missing_3_months", datetime(2025, 6, 3, 9, 0, tzinfo=UTC), council="304")


# --- 317 Redbridge -------------------------------------------------------------------------


def test_redbridge_second_episode(gw: Gateway) -> None:
    """A second episode ever needs a MASH record."""
    first, second = series(gw, "317", [0 * DAY, 400 * DAY])
    assert "second_missing_episode" not in [r for r, _ in rules(gw, first)]
    fires_with_message(gw, second, "second_missing_episode", "317")


@pytest.mark.parametrize(("grade", "fires"), [("LOW", False), ("MEDIUM", True), ("HIGH", True)])
def test_redbridge_medium_or_high_risk(gw: Gateway, grade: str, fires: bool) -> None:
    """Medium or high risk goes to the missing children panel; low does not."""
    episode = gw.send(Report(council="317", reported=T, risks=((grade, T),)))
    assert (("medium_or_high_risk", 0) in rules(gw, episode)) is fires


# --- 871 Slough ----------------------------------------------------------------------------


def test_slough_overnight_fires_at_midnight_uk_time(gw: Gateway) -> None:
    """Reported at 20:00 BST: the flag falls due at midnight BST (23:00 UTC)."""
    evening = datetime(2025, 6, 10, 19, 0, tzinfo=UTC)  # 20:00 BST
    gw.now = evening
    episode = gw.send(Report(council="871", reported=evening))
    midnight_bst = datetime(2025, 6, 10, 23, 0, tzinfo=UTC)
    fires_at(gw, episode, "missing_overnight", midnight_bst, council="871")


def test_slough_reported_during_the_night_fires_on_the_report(gw: Gateway) -> None:
    """Reported at 03:30: overnight already, so it travels with the report."""
    night = datetime(2025, 1, 14, 3, 30, tzinfo=UTC)  # 03:30 GMT
    gw.now = night
    episode = gw.send(Report(council="871", reported=night))
    fires_with_message(gw, episode, "missing_overnight", "871")


def test_slough_found_before_midnight_is_not_overnight(gw: Gateway) -> None:
    """Found at 23:59: never open overnight."""
    evening = datetime(2025, 1, 14, 19, 0, tzinfo=UTC)
    gw.now = evening
    report = Report(council="871", reported=evening)
    episode = gw.send(report)
    found = evening + timedelta(hours=4, minutes=59)
    gw.send(Report(**{**report.__dict__, "located": found}), "LOCATED", at=found)
    never(gw, episode, "missing_overnight", until=evening + 3 * DAY)


def test_slough_3_in_90_days(gw: Gateway) -> None:
    """The third episode in 90 days needs CSE screening."""
    *_, third = series(gw, "871", [0 * DAY, 45 * DAY, 89 * DAY])
    fires_with_message(gw, third, "missing_3_in_90_days", "871")


# --- every council: the default pack -------------------------------------------------------


@pytest.mark.parametrize("council", ["304", "317", "830", "831", "384", "871"])
def test_child_protection_plan_not_found_in_20_working_days(gw: Gateway, council: str) -> None:
    """Every pack: 20 working days over Christmas and New Year."""
    # 15 December 2025: Christmas Day, Boxing Day and New Year's Day are bank holidays,
    # so 20 working days run to Thursday 15 January 2026.
    reported = datetime(2025, 12, 15, 10, 0, tzinfo=UTC)
    gw.now = reported
    episode = gw.send(Report(council=council, reported=reported, cp_plan=True))
    due = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    fires_at(gw, episode, "cp_not_found_20_working_days", due, council=council)


def test_a_timer_flag_reaches_its_council_as_an_updated_event(gw: Gateway) -> None:
    """A timer's flag is an `updated` event with no police message, delivered to its council."""
    episode = gw.send(Report(council="384", reported=T))
    gw.tick(T + 24 * HOUR)
    with gw.engine.connect() as connection:
        last = connection.execute(
            select(events.c.type, events.c.message_row_id, events.c.id)
            .where(events.c.episode_id == episode)
            .order_by(events.c.seq.desc())
            .limit(1)
        ).one()
        carried = connection.execute(
            select(deliveries.c.council, deliveries.c.flags).where(deliveries.c.event_id == last.id)
        ).all()
    assert last.type == "updated"
    assert last.message_row_id is None
    assert [(c, [f["rule"] for f in flags]) for c, flags in carried] == [
        ("384", ["missing_open_24h"])
    ]


def test_two_timers_at_once_raise_a_flag_once(gw: Gateway) -> None:
    """Two timers (two workers) over one database raise a flag once."""
    episode = gw.send(Report(council="384", reported=T))
    other = Gateway(gw.engine, T + 24 * HOUR)
    gw.tick(T + 24 * HOUR)
    other.tick(T + 24 * HOUR)
    assert len(gw.flags(episode, "missing_open_24h")) == 1


def test_the_workers_timer_takes_one_batch_a_round(gw: Gateway) -> None:
    """A backlog of due episodes is worked through a batch per dispatcher round, not at once."""
    episodes = [gw.send(Report(council="384", reported=T)) for _ in range(3)]
    gw.timer.run()  # arm, and nothing due yet
    gw.now = T + 24 * HOUR
    with_batches = gw.timer
    raised, done = policy_engine.run_due(
        gw.engine, gw.routing, with_batches._deliver, now=gw.now, actor="t", batch=2, max_batches=1
    )
    assert (raised, done) == (2, False)
    assert sum(bool(gw.flags(e)) for e in episodes) == 2
    assert with_batches.maybe_run() == 1  # the next round takes the rest
    assert all(gw.flags(e, "missing_open_24h") for e in episodes)
