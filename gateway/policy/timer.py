"""The policy timer: raises time-based flags when police send nothing new.

The worker calls `PolicyTimer.run` every `interval`; each run evaluates the episodes whose
`policy_due_at` has passed and queues an `updated` delivery carrying the new alerts to each
council whose pack raised one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select

from gateway.canonical import RiskLevel, utc_now
from gateway.delivery.deadlines import Deadlines
from gateway.delivery.enqueue import enqueue
from gateway.policy import engine as policy
from gateway.routing import RoutingTable
from gateway.store.schema import episodes


class PolicyTimer:
    """Runs the policy timer at most once per `interval`."""

    def __init__(
        self,
        engine: Engine,
        routing: RoutingTable,
        *,
        deadlines: Deadlines | None = None,
        interval: timedelta = timedelta(seconds=15),
        clock: Callable[[], datetime] = utc_now,
        actor: str = "policy-timer",
    ) -> None:
        self.engine = engine
        self.routing = routing
        self.deadlines = deadlines or Deadlines()
        self.interval = interval
        self.clock = clock
        self.actor = actor
        self._next_run: datetime | None = None
        self._armed = False

    def maybe_run(self) -> int:
        """One batch if `interval` has passed (or the last run left work); returns flags raised.

        Bounded, because the worker's dispatcher calls it between claims: a backlog of due
        episodes (after an outage, or a configuration change) is worked through a batch a round.
        """
        now = self.clock()
        if self._next_run is not None and now < self._next_run:
            return 0
        raised, done = self._run(max_batches=1)
        self._next_run = now + self.interval if done else now
        return raised

    def run(self) -> int:
        """Evaluate every episode whose timer has passed, now; returns flags raised."""
        raised, _ = self._run(max_batches=None)
        return raised

    def _run(self, *, max_batches: int | None) -> tuple[int, bool]:
        """Arm on the first run of the process, then evaluate what is due.

        The first run first checks whether the routing file or a pack has changed since the
        timers were set (a council onboarded, a rule added): if so, every open episode is
        evaluated again (`engine.arm`).
        """
        if not self._armed:
            policy.arm(self.engine, self.routing, now=self.clock(), actor=self.actor)
            self._armed = True
        return policy.run_due(
            self.engine,
            self.routing,
            self._deliver,
            now=self.clock(),
            actor=self.actor,
            max_batches=max_batches,
        )

    def _deliver(
        self,
        connection: Connection,
        episode_id: str,
        event_id: str,
        council: str,
        flags: list[policy.Flag],
    ) -> None:
        route = self.routing.route(council)
        assert route is not None  # only onboarded councils have packs
        risk = connection.execute(
            select(episodes.c.risk_level).where(episodes.c.id == episode_id)
        ).scalar_one()
        enqueue(
            connection,
            episode_id=episode_id,
            event_id=event_id,
            council=council,
            system=route.system,
            risk=RiskLevel(risk),
            now=self.clock(),
            deadlines=self.deadlines,
            actor=self.actor,
            flags=flags,
        )
