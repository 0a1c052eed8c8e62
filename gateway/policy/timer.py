"""The policy timer: raises time-based flags when police send nothing new.

The worker calls `PolicyTimer.run` every `interval`; each run evaluates the episodes whose
`policy_due_at` has passed and queues an `updated` delivery carrying the new alerts to each
council whose pack raised one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, or_, select, update

from gateway import audit
from gateway.canonical import EpisodeEvent, EpisodeStatus, EventType, RiskLevel, utc_now
from gateway.delivery.deadlines import Deadlines
from gateway.delivery.enqueue import enqueue
from gateway.episodes import roles_in_state
from gateway.logs import get_logger
from gateway.policy import packs
from gateway.policy.evaluate import (
    Flag,
    Raised,
    Told,
    councils_with_packs,
    evaluate_episode,
    history,
    with_flags,
)
from gateway.routing import RoutingTable
from gateway.store import locks
from gateway.store.events import append_event
from gateway.store.schema import audit_log, episodes, events, policy_flags
from gateway.store.work import unit_of_work

log = get_logger(__name__)
# Told of a flag raised by the timer: (connection, episode id, event id, council, flags) -> None
Deliver = Callable[[Connection, str, str, str, list[Flag]], None]
CONFIG_SUBJECT = "policy-packs"
_ARM_LOCKS = (locks.Level.POLICY_CONFIG, locks.Level.EPISODE)


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
        evaluated again (`arm`).
        """
        if not self._armed:
            arm(self.engine, self.routing, now=self.clock(), actor=self.actor)
            self._armed = True
        return run_due(
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
        flags: list[Flag],
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


def _evaluate_stored(
    connection: Connection,
    episode_id: str,
    councils: Iterable[Told],
    *,
    now: datetime,
    actor: str,
) -> Raised:
    """`evaluate_episode` on the stored episode, writing back its timer and flags."""
    row = connection.execute(select(episodes).where(episodes.c.id == episode_id)).one()
    raised = evaluate_episode(
        connection,
        row,
        councils,
        history=history(connection, row.child_id),
        now=now,
        event_id=None,
        actor=actor,
    )
    if raised.by_council or raised.next_at != row.policy_due_at:
        connection.execute(
            update(episodes)
            .where(episodes.c.id == episode_id)
            .values(policy_due_at=raised.next_at, state=with_flags(row.state, raised))
        )
    return raised


def run_due(
    engine: Engine,
    routing: RoutingTable,
    deliver: Deliver,
    *,
    now: datetime,
    actor: str,
    batch: int = 100,
    max_batches: int | None = None,
) -> tuple[int, bool]:
    """Evaluate the episodes whose timer has passed; returns (flags raised, whether all done).

    A flag raised here reaches its council as an `updated` event carrying the alert; only the
    councils with a new flag are told. Runs in batches of `batch` episodes per transaction,
    at most `max_batches` of them (None: until none is due), so a worker's dispatcher can go
    on claiming between batches; on PostgreSQL several workers share the work
    (`FOR UPDATE SKIP LOCKED`).
    """
    total, batches = 0, 0
    while max_batches is None or batches < max_batches:
        batches += 1
        with unit_of_work(engine, audits=True, locks=(locks.Level.EPISODE,)) as connection:
            locks.take(connection, locks.Level.EPISODE)  # SKIP LOCKED: waits for none
            due = _due_episodes(connection, now, batch)
            for episode_id in due:
                total += _timer_one(connection, routing, deliver, episode_id, now=now, actor=actor)
        if len(due) < batch:
            return total, True
    return total, False


def arm(engine: Engine, routing: RoutingTable, *, now: datetime, actor: str) -> bool:
    """Re-read every open episode once when the policy configuration has changed.

    The configuration is which pack each onboarded council has and what the packs say; its
    fingerprint is kept in the audit log (`config_changed`, subject `policy-packs`). When it
    differs from the last one recorded (a council onboarded, a rule added), every open
    episode is made due now, so the timer's next run evaluates it against the new packs.

    Returns:
        Whether the configuration had changed.
    """
    assigned = {code: route.policy for code, route in sorted(routing.councils.items())}
    rules = {name: packs.load(name).model_dump(mode="json") for name in set(assigned.values())}
    fingerprint = hashlib.sha256(
        audit.canonical_json({"councils": assigned, "packs": rules}).encode()
    ).hexdigest()
    with unit_of_work(engine, audits=True, locks=_ARM_LOCKS) as connection:
        locks.hold(connection, locks.Space.POLICY_CONFIG, CONFIG_SUBJECT)  # one process re-arms
        if _last_fingerprint(connection) == fingerprint:
            return False
        locks.take(connection, locks.Level.EPISODE)
        rearmed = connection.execute(
            update(episodes)
            .where(
                episodes.c.status == str(EpisodeStatus.OPEN),
                or_(episodes.c.policy_due_at.is_(None), episodes.c.policy_due_at > now),
            )
            .values(policy_due_at=now)
        ).rowcount
        audit.append(
            connection,
            actor=actor,
            action=audit.Action.CONFIG_CHANGED,
            subject=CONFIG_SUBJECT,
            details={"fingerprint": fingerprint, "councils": assigned, "rearmed": rearmed},
        )
    log.info("policy_configuration_changed", rearmed=rearmed)
    return True


def _last_fingerprint(connection: Connection) -> str | None:
    entry = connection.execute(
        select(audit_log.c.entry)
        .where(
            audit_log.c.action == str(audit.Action.CONFIG_CHANGED),
            audit_log.c.subject == CONFIG_SUBJECT,
        )
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).scalar()
    return None if entry is None else str(json.loads(entry)["details"]["fingerprint"])


def _due_episodes(connection: Connection, now: datetime, batch: int) -> list[str]:
    stmt = (
        select(episodes.c.id)
        .where(episodes.c.policy_due_at <= now)
        .order_by(episodes.c.policy_due_at)
        .limit(batch)
    )
    if connection.dialect.name == "postgresql":
        # FOR NO KEY UPDATE, as ingest locks an episode (gateway/store/locks.py: EPISODE).
        stmt = stmt.with_for_update(skip_locked=True, key_share=True)
    return [str(r.id) for r in connection.execute(stmt)]


def _timer_one(
    connection: Connection,
    routing: RoutingTable,
    deliver: Deliver,
    episode_id: str,
    *,
    now: datetime,
    actor: str,
) -> int:
    row = connection.execute(select(episodes.c.state).where(episodes.c.id == episode_id)).one()
    councils = councils_with_packs(routing, roles_in_state(row.state))
    raised = _evaluate_stored(connection, episode_id, councils, now=now, actor=actor)
    if not raised.by_council:
        return 0
    event_id = _updated_event(connection, episode_id, now)
    connection.execute(
        update(policy_flags)
        .where(policy_flags.c.episode_id == episode_id, policy_flags.c.event_id.is_(None))
        .values(event_id=event_id)
    )
    for council, flags in raised.by_council.items():
        deliver(connection, episode_id, event_id, council, flags)
    log.info(
        "policy_flags_raised",
        episode_id=episode_id,
        flags=sum(map(len, raised.by_council.values())),
    )
    return sum(len(flags) for flags in raised.by_council.values())


def _updated_event(connection: Connection, episode_id: str, now: datetime) -> str:
    """An `updated` event repeating the latest snapshot: the carrier of a timer's alert."""
    latest = connection.execute(
        select(events.c.canonical)
        .where(events.c.episode_id == episode_id)
        .order_by(events.c.seq.desc())
        .limit(1)
    ).scalar_one()
    event = EpisodeEvent.model_validate(latest).model_copy(
        update={"type": EventType.UPDATED, "at": now}
    )
    event_id, _ = append_event(
        connection, episode_id=episode_id, event=event, message_row_id=None, now=now
    )
    return event_id
