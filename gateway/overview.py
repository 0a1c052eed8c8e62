"""The operators' overview: each council's figures, and how latency and the queue moved today.

Every figure is read from the deliveries table (decision 0030), so the page needs no sampling
job and shows the same on every gateway process:

- per council: deliveries created in the last 24 hours; deliveries on their way now (pending,
  in flight, retrying, or awaiting Protocol's acknowledgement); those past their deadline, by
  risk; dead letters; and events waiting on the unroutable list that a replay would deliver;
- over the last 24 hours, in 15-minute steps: the median and 95th percentile of the time from
  acceptance to the case system's confirmation of the deliveries confirmed in each step, and
  the queue depth at the end of each step. The queue is rebuilt from each delivery's creation
  and settlement times: a delivery counts from its creation until it was delivered, dead or
  cancelled. A dead letter replayed since counts as waiting from its creation (its time as a
  dead letter is not recorded apart from the audit log), which can only overstate the past.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select, union_all
from sqlalchemy.sql.expression import CompoundSelect

from gateway.delivery.enqueue import RISK_BY_PRIORITY, UNSETTLED
from gateway.routing import RoutingTable
from gateway.store.dialects import constants, each_status, indexed_by
from gateway.store.schema import deliveries
from gateway.waiting import WaitingGroup, list_waiting

DAY = timedelta(hours=24)
STEP = timedelta(minutes=15)
RISKS = ("high", "medium", "low", "no_apparent_risk")
# How far back a delivery confirmed today may have been created (dead letters replayed after
# longer are left out of the chart; GATEWAY_MAX_AGE_S is 72 hours).
LOOKBACK = timedelta(days=7)


@dataclass
class CouncilFigures:
    """One council's row on the overview."""

    code: str
    name: str
    system: str | None
    onboarded: bool
    last_24h: int = 0
    on_the_way: int = 0
    overdue: Counter[str] = field(default_factory=Counter)  # by risk level
    dead: int = 0
    waiting: int = 0  # events on the unroutable list a replay would deliver now

    @property
    def overdue_total(self) -> int:
        """Overdue deliveries, every risk level."""
        return sum(self.overdue.values())

    def overdue_by_risk(self) -> list[tuple[str, int]]:
        """Overdue counts, high risk first, leaving out the levels with none."""
        return [(risk, self.overdue[risk]) for risk in RISKS if self.overdue[risk]]

    def needs_attention(self) -> bool:
        """Something a person must act on: overdue, dead, or waiting for a replay."""
        return bool(self.overdue_total or self.dead or self.waiting)

    def sort_key(self) -> tuple[int, int, int, int, str]:
        """Most urgent first: high-risk overdue, any overdue, dead, waiting; then by code."""
        return (-self.overdue["high"], -self.overdue_total, -self.dead, -self.waiting, self.code)


def councils(
    connection: Connection, routing: RoutingTable, now: datetime
) -> tuple[list[CouncilFigures], list[WaitingGroup]]:
    """Every onboarded council's figures (and any other with deliveries), most urgent first.

    Returns the councils and what waits on the unroutable list.
    """
    rows: dict[str, CouncilFigures] = {
        code: CouncilFigures(code=code, name=route.name, system=route.system, onboarded=True)
        for code, route in routing.councils.items()
    }

    def row(code: str, system: str | None) -> CouncilFigures:
        if code not in rows:  # deliveries to a council removed from the routing since
            rows[code] = CouncilFigures(code=code, name=code, system=system, onboarded=False)
        return rows[code]

    recent = connection.execute(
        select(deliveries.c.council, deliveries.c.system, func.count())
        .where(deliveries.c.created_at >= now - DAY)
        .group_by(deliveries.c.council, deliveries.c.system)
    )
    for code, system, count in recent:
        row(code, system).last_24h += int(count)
    for code, system, status, priority, count, late in connection.execute(standing(now)):
        figures = row(code, system)
        if status == "dead":
            figures.dead += int(count)
        else:
            figures.on_the_way += int(count)
            figures.overdue[str(RISK_BY_PRIORITY[priority])] += int(late or 0)
    waiting = list_waiting(connection, routing)
    for group in waiting:
        if group.routable:
            rows[group.key].waiting += group.events
    return sorted(rows.values(), key=CouncilFigures.sort_key), waiting


def standing(now: datetime, *extra: ColumnElement[Any]) -> CompoundSelect[Any]:
    """Unsettled and dead deliveries by council, system, status and priority.

    Each row: those four, the count, how many of them are unsettled and past their deadline,
    then the `extra` columns (the alert gauges add the acknowledgements overdue).
    """
    late = and_(deliveries.c.status.in_(UNSETTLED), deliveries.c.deadline_at < now)
    grouped = select(
        deliveries.c.council,
        deliveries.c.system,
        deliveries.c.status,
        deliveries.c.priority,
        func.count(),
        func.sum(case((late, 1), else_=0)),
        *extra,
    ).group_by(
        deliveries.c.council, deliveries.c.system, deliveries.c.status, deliveries.c.priority
    )
    return each_status(grouped, deliveries.c.status, (*UNSETTLED, "dead"))


@dataclass(frozen=True, slots=True)
class Step:
    """One 15-minute step of the last 24 hours."""

    end: datetime
    confirmed: int  # deliveries confirmed during the step
    p50_s: float | None  # their latency's median, seconds (None: none confirmed)
    p95_s: float | None  # and 95th percentile
    queue: int  # deliveries on their way at the step's end


def history(connection: Connection, now: datetime) -> list[Step]:
    """The last 24 hours in 15-minute steps, oldest first (see the module docstring)."""
    start = now - DAY
    rows = connection.execute(history_rows(start)).all()
    starts = sorted(r.created_at for r in rows)
    # A delivery waits from its creation to its settlement; clocks of several hosts may put the
    # settlement a moment before the creation, which must count as no wait, never as minus one.
    ends = sorted(max(end, r.created_at) for r in rows if (end := _settled_at(r)) is not None)
    latencies: dict[int, list[float]] = {}
    for r in rows:
        if r.status == "delivered" and r.delivered_at is not None and r.delivered_at >= start:
            index = min(int((r.delivered_at - start) / STEP), int(DAY / STEP) - 1)
            seconds = max(0.0, (r.delivered_at - r.created_at).total_seconds())
            latencies.setdefault(index, []).append(seconds)
    steps = []
    for index in range(int(DAY / STEP)):
        end = start + STEP * (index + 1)
        confirmed = sorted(latencies.get(index, []))
        steps.append(
            Step(
                end=end,
                confirmed=len(confirmed),
                p50_s=_percentile(confirmed, 0.50),
                p95_s=_percentile(confirmed, 0.95),
                queue=bisect_right(starts, end) - bisect_right(ends, end),
            )
        )
    return steps


def history_rows(start: datetime) -> CompoundSelect[Any]:
    """The deliveries the chart since `start` counts: unsettled, or settled since `start`.

    Each unsettled status is read through the status index (named for SQLite, whose averages
    may prefer a scan), and the settled ones through the creation index, back to `LOOKBACK`:
    as one condition with an OR, SQLite read every delivery kept (decisions 0039, 0040).
    """
    columns = select(
        deliveries.c.created_at,
        deliveries.c.status,
        deliveries.c.delivered_at,
        deliveries.c.updated_at,
    )
    settled_since = columns.where(
        deliveries.c.status.not_in(constants(UNSETTLED)),
        deliveries.c.created_at >= start - LOOKBACK,
        or_(
            deliveries.c.delivered_at >= start,
            and_(
                deliveries.c.status.in_(constants(("dead", "cancelled"))),
                deliveries.c.updated_at >= start,
            ),
        ),
    )
    by_status = columns.select_from(indexed_by(deliveries, "ix_deliveries_due"))
    unsettled = each_status(by_status, deliveries.c.status, UNSETTLED)
    return union_all(*unsettled.selects, settled_since)


def _settled_at(row: Any) -> datetime | None:
    """When a delivery stopped waiting: delivered, dead or cancelled; None while it waits."""
    if row.status == "delivered":
        return row.delivered_at or row.updated_at  # type: ignore[no-any-return]
    if row.status in ("dead", "cancelled"):
        return row.updated_at  # type: ignore[no-any-return]
    return None


def _percentile(ordered: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of sorted values (None for none)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil(n * fraction), at least 1
    return ordered[int(rank) - 1]
