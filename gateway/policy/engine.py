"""Raising policy flags in the database: on every event and on the timer.

Each flag is a `policy_flags` row whose unique key (episode, council, rule, period) makes
"once per episode and rule, once per period for a repeating rule" hold across restarts and
workers. `episodes.policy_due_at` is the timer: when the next time-based rule falls due, so
the timer reads only episodes that need it. Everything happens inside the caller's
transaction, on an episode it has locked (ingest and the timer alike), so a crash loses or
repeats nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, or_, select, update

from gateway import audit
from gateway.canonical import CouncilRole, EpisodeEvent, EpisodeStatus, EventType
from gateway.episodes import roles_in_state
from gateway.logs import get_logger
from gateway.policy import packs
from gateway.policy.facts import Facts, from_episode
from gateway.policy.rules import Due, Evaluation, evaluate
from gateway.routing import RoutingTable
from gateway.store import locks
from gateway.store.events import append_event
from gateway.store.prepared import Prepared
from gateway.store.schema import audit_log, episodes, events, policy_flags
from gateway.store.work import unit_of_work

log = get_logger(__name__)
Flag = dict[str, Any]
# Told of a flag raised by the timer: (connection, episode id, event id, council, flags) -> None
Deliver = Callable[[Connection, str, str, str, list[Flag]], None]
CONFIG_SUBJECT = "policy-packs"
_ARM_LOCKS = (locks.Level.POLICY_CONFIG, locks.Level.EPISODE)
# The ingest hot path's statements, prepared once (gateway/store/prepared.py).
_HISTORY = Prepared(
    select(
        episodes.c.id, episodes.c.reported_at, episodes.c.dfe_missing_type, episodes.c.looked_after
    ).where(
        episodes.c.child_id == bindparam("child"),
        episodes.c.status != str(EpisodeStatus.CANCELLED),
    )
)
_RAISED = Prepared(
    select(policy_flags.c.council, policy_flags.c.rule, policy_flags.c.period).where(
        policy_flags.c.episode_id == bindparam("e")
    )
)
_INSERT_FLAG = Prepared(insert(policy_flags))


@dataclass(frozen=True, slots=True)
class Standing:
    """An episode as an event leaves it, before it is written: what `evaluate_episode` reads."""

    id: str
    status: str
    reported_at: datetime
    found_at: datetime | None
    updated_at: datetime
    looked_after: bool
    dfe_missing_type: str | None
    state: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Raised:
    """The flags newly raised for an episode, per council, and when to look again."""

    by_council: dict[str, list[Flag]]
    next_at: datetime | None


# Whom a pack is evaluated for: (council, the role it is told in, its pack's name).
Told = tuple[str, CouncilRole, str]


def councils_with_packs(
    routing: RoutingTable, councils: Iterable[tuple[str, CouncilRole]]
) -> list[Told]:
    """(council, role, pack name) for each onboarded council of `councils`; others have none.

    `councils` is `EpisodeSnapshot.council_roles()` (ingest) or the roles the episode's state
    keeps (the timer): a host council gets its pack's host rules only.
    """
    return [
        (code, role, route.policy)
        for code, role in councils
        if (route := routing.route(code)) is not None
    ]


def evaluate_episode(
    connection: Connection,
    episode: Any,
    councils: Iterable[Told],
    *,
    history: Iterable[Any],
    now: datetime,
    event_id: str | None,
    actor: str,
    first: bool = False,
) -> Raised:
    """Raise what is due for each council's pack on `episode`, recording the new flags.

    `episode` is the episode as it now stands (an `episodes` row, or the `Standing` the caller
    is about to write) and `history` the child's episodes as stored (the rows `history` reads);
    this one's stored entry is replaced by `episode`. The caller writes `next_at` to
    `policy_due_at` and the flags into the episode's state (`with_flags`). `event_id` is the
    event the flags travel with, when known (ingest); the timer passes None and links the flags
    to the `updated` event it creates. `first`: the episode was created in this transaction,
    so it has no flag yet (not read).
    """
    facts = from_episode(episode, history)
    raised_before = (
        set()
        if first
        else {(r.council, r.rule, r.period) for r in _RAISED.rows(connection, {"e": episode.id})}
    )
    by_council: dict[str, list[Flag]] = {}
    upcoming: list[datetime] = []
    for council, evaluation in _evaluations(councils, facts, now):
        if evaluation.next_at is not None:
            upcoming.append(evaluation.next_at)
        fresh = [d for d in evaluation.due if (council, d.rule, d.period) not in raised_before]
        if fresh:
            by_council[council] = [_flag(council, d, now) for d in fresh]
    _record(connection, episode.id, by_council, event_id=event_id, now=now, actor=actor)
    return Raised(by_council=by_council, next_at=min(upcoming, default=None))


def _evaluations(
    councils: Iterable[Told], facts: Facts, now: datetime
) -> list[tuple[str, Evaluation]]:
    """Each council's evaluation of its pack, in its role, as of `now`.

    Councils sharing a pack and a role share one evaluation: the facts and `now` are the same
    and `evaluate` is pure. A host and a responsible council on one pack are evaluated apart.
    """
    by_pack: dict[tuple[str, CouncilRole], Evaluation] = {}
    evaluations: list[tuple[str, Evaluation]] = []
    for council, role, pack_name in councils:
        key = (pack_name, role)
        if key not in by_pack:
            by_pack[key] = evaluate(packs.load(pack_name), facts, now, role)
        evaluations.append((council, by_pack[key]))
    return evaluations


def with_flags(state: Mapping[str, Any], raised: Raised) -> dict[str, Any]:
    """The episode state with the newly raised flags added to its list."""
    new = [flag for flags in raised.by_council.values() for flag in flags]
    return {**state, "flags": [*state.get("flags", []), *new]} if new else dict(state)


def history(connection: Connection, child_id: str) -> list[Any]:
    """The child's episodes that counting rules and counts read (cancelled ones left out)."""
    return _HISTORY.rows(connection, {"child": child_id})


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


# --- flags ---------------------------------------------------------------------------------


def _flag(council: str, due: Due, now: datetime) -> Flag:
    return {
        "code": due.code,
        "rule": due.rule,
        "council": council,
        "period": due.period,
        "reason": due.reason,
        "due_at": _iso(due.due_at),
        "raised_at": _iso(now),
    }


def _record(
    connection: Connection,
    episode_id: str,
    by_council: Mapping[str, list[Flag]],
    *,
    event_id: str | None,
    now: datetime,
    actor: str,
) -> None:
    flags = [flag for council_flags in by_council.values() for flag in council_flags]
    if not flags:
        return
    _INSERT_FLAG.run(
        connection,
        [
            {
                "episode_id": episode_id,
                "council": flag["council"],
                "rule": flag["rule"],
                "period": flag["period"],
                "code": flag["code"],
                "reason": flag["reason"],
                "due_at": datetime.fromisoformat(flag["due_at"]),
                "raised_at": now,
                "event_id": event_id,
            }
            for flag in flags
        ],
    )
    for flag in flags:
        audit.append(
            connection,
            actor=actor,
            action=audit.Action.FLAGGED,
            subject=episode_id,
            details={k: flag[k] for k in ("council", "rule", "period", "code", "due_at")},
        )


def record_flags(
    connection: Connection,
    episode_id: str,
    by_council: Mapping[str, list[Flag]],
    *,
    event_id: str | None,
    now: datetime,
    actor: str,
) -> None:
    """Record flags raised outside the packs (gateway/policy/host_flags.py) as theirs are."""
    _record(connection, episode_id, by_council, event_id=event_id, now=now, actor=actor)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
