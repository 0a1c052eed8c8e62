"""How many attempts each council may start now, across every worker sharing the database.

A claim (gateway/delivery/claims.py) asks `CouncilBreakers.free_slots` inside its own
transaction. That locks the councils' rows of the `breakers` table (the `BREAKER` lock level),
counts there the outcomes this worker saw since its last claim, and counts each council's
attempts in flight from the deliveries themselves (`in_flight` under a lease not yet run out,
whichever worker holds them). So the council's `max_in_flight` and its breaker hold for all
workers together: two workers claiming at once wait for each other on the breaker rows, and
the second sees the first's claims. A worker killed mid-attempt frees its slot when the lease
runs out, as it frees the delivery.

Only the councils with work to claim (a delivery queued, or in flight under a lease run out) and
those whose outcomes are counted are locked and read: a council with nothing to send needs no
slot. With every council of England routed, locking all 153 rows cost about 2 ms of CPU a
round and, on PostgreSQL, 8.6 kB of write-ahead log, twice a second on an idle gateway
(docs/decisions/0040).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    bindparam,
    func,
    literal_column,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from gateway.canonical import RiskLevel
from gateway.delivery.breaker import Breaker, BreakerPolicy, Outcome
from gateway.delivery.claims import DUE
from gateway.delivery.enqueue import PRIORITY
from gateway.store import locks
from gateway.store.dialects import (
    LISTED_VALUE,
    constants,
    in_list,
    indexed_by,
    listed,
    unindexed,
)
from gateway.store.prepared import Prepared
from gateway.store.schema import breakers, deliveries

_STATE = tuple(f.name for f in fields(Breaker))


class CouncilBreakers:
    """The councils' breakers as the database holds them, and this worker's uncounted outcomes.

    Thread-safe: attempts finish on the worker's pool threads, the dispatcher claims.
    """

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self.policy = policy or BreakerPolicy()
        self._pending: list[Outcome] = []
        self._lock = threading.Lock()

    def record(self, outcome: Outcome) -> None:
        """Keep an attempt's outcome until the next claim counts it."""
        with self._lock:
            self._pending.append(outcome)

    def take_pending(self) -> list[Outcome]:
        """The outcomes not counted yet (the caller counts them, or gives them back)."""
        with self._lock:
            taken, self._pending = self._pending, []
            return taken

    def give_back(self, outcomes: list[Outcome]) -> None:
        """Outcomes whose counting was rolled back: count them at the next claim."""
        with self._lock:
            self._pending[:0] = outcomes

    def free_slots(
        self,
        connection: Connection,
        limits: Mapping[str, int],
        outcomes: list[Outcome],
        now: datetime,
        answered: Mapping[str, int] | None = None,
    ) -> dict[str, int]:
        """Count `outcomes`, then the attempts each council may start now (in a claim's unit).

        Args:
            connection: the claim's transaction (its unit of work names `BREAKER`).
            limits: each routed council's `max_in_flight`.
            outcomes: attempts finished since this worker last claimed.
            now: the current time.
            answered: per council, this worker's attempts that the target has answered but
                that are recorded later in the same unit of work: their rows still say
                `in_flight`, their slots are free.
        """
        counted = {outcome.council for outcome in outcomes}
        councils = sorted(_working(connection, limits, now) | (counted & set(limits)))
        answered = answered or {}
        if not councils:
            return {}
        locks.take(connection, locks.Level.BREAKER)
        states = _lock(connection, councils, now)
        changed: set[str] = set()
        for outcome in outcomes:
            state = states.get(outcome.council)
            if state is not None:  # else no longer routed
                state.record(self.policy, outcome, now)
                changed.add(outcome.council)
        _UPDATE.run(
            connection,
            [{**asdict(states[c]), "updated_at": now, "row_council": c} for c in sorted(changed)],
        )
        in_flight, urgent = _busy(connection, councils, now)
        return {
            council: states[council].capacity(
                self.policy,
                limits[council],
                max(0, in_flight.get(council, 0) - answered.get(council, 0)),
                now,
                high_risk=council in urgent,
            )
            for council in councils
        }


def load(engine: Engine, council: str) -> Breaker | None:
    """A council's breaker as stored (None: no worker has claimed for it yet)."""
    with engine.connect() as connection:
        row = connection.execute(select(breakers).where(breakers.c.council == council)).first()
    return None if row is None else _breaker(row)


def _breaker(row: Any) -> Breaker:
    return Breaker(**{name: getattr(row, name) for name in _STATE})


def _lock(connection: Connection, councils: list[str], now: datetime) -> dict[str, Breaker]:
    """The councils' breakers, locked in council order; rows not there yet are created."""
    found = _select(connection, councils)
    missing = [c for c in councils if c not in found]
    if missing:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        fresh = [{**asdict(Breaker(window_start=now)), "council": c} for c in missing]
        connection.execute(
            dialect.insert(breakers)
            .values([{**row, "updated_at": now} for row in fresh])
            .on_conflict_do_nothing(index_elements=[breakers.c.council])
        )
        found |= _select(connection, missing)
    return found


def _working(connection: Connection, limits: Mapping[str, int], now: datetime) -> set[str]:
    """The routed councils with work to claim: queued, or in flight under a lease run out."""
    params = {"councils": list(limits), "now": now}
    return {row.value for row in _WORKING.rows(connection, params)}


def _select(connection: Connection, councils: list[str]) -> dict[str, Breaker]:
    rows = _SELECT.rows(connection, {"councils": councils})
    return {row.council: _breaker(row) for row in rows}


def _busy(
    connection: Connection, councils: list[str], now: datetime
) -> tuple[dict[str, int], set[str]]:
    """Per council, its attempts in flight under a live lease, and whether high-risk work is due."""
    params = {"councils": councils, "now": now}
    in_flight: dict[str, int] = {}
    urgent: set[str] = set()
    for row in _BUSY.rows(connection, params):
        if row.kind == _IN_FLIGHT:
            in_flight[row.council] = int(row.n)
        else:
            urgent.add(row.council)
    return in_flight, urgent


def _busy_statement() -> Prepared:
    """Both counts `free_slots` needs, in one round trip.

    Each reads its status's rows through the status index, never a council's deliveries
    (`unindexed`): on SQLite the council index was chosen, and each round then read every
    delivery of the routed councils to count the few in flight.
    """
    council = unindexed(deliveries.c.council)
    among = in_list(council, "councils")
    in_flight = (
        select(literal_column(str(_IN_FLIGHT)).label("kind"), deliveries.c.council,
               func.count().label("n"))
        .where(deliveries.c.status == "in_flight", deliveries.c.lease_until > bindparam("now"),
               among)
        .group_by(council)
    )  # fmt: skip
    urgent = (
        select(literal_column(str(_URGENT)).label("kind"), deliveries.c.council,
               func.count().label("n"))
        .where(deliveries.c.status.in_(constants(DUE)),
               deliveries.c.priority == PRIORITY[RiskLevel.HIGH],
               deliveries.c.next_attempt_at <= bindparam("now"), among)
        .group_by(council)
    )  # fmt: skip
    return Prepared(union_all(in_flight, urgent))


def _working_statement() -> Prepared:
    """The councils `_working` finds, in one round trip (not locked).

    Queued work: one probe of `ix_deliveries_queued` per routed council, named for SQLite,
    whose averages would choose the council index and read a council's every delivery kept.
    Leases run out (a worker died): the few rows in flight, read by lease.
    """
    queued: Select[Any] = (
        select(literal_column("1"))
        .select_from(indexed_by(deliveries, "ix_deliveries_queued"))
        .where(deliveries.c.council == LISTED_VALUE, deliveries.c.status.in_(constants(DUE)))
    )
    expired = select(deliveries.c.council).where(
        deliveries.c.status == "in_flight",
        deliveries.c.lease_until < bindparam("now"),
        in_list(unindexed(deliveries.c.council), "councils"),
    )
    return Prepared(union(listed("councils").where(queued.exists()), expired))


_IN_FLIGHT, _URGENT = 1, 2
# The councils' breakers, locked (SQLite drops FOR UPDATE: its one writer is the lock).
_SELECT = Prepared(
    select(breakers)
    .where(in_list(breakers.c.council, "councils"))
    .order_by(breakers.c.council)
    .with_for_update()
)
_BUSY = _busy_statement()
_WORKING = _working_statement()
_UPDATE = Prepared(update(breakers).where(breakers.c.council == bindparam("row_council")))
