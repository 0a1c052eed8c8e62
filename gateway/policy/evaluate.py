"""Evaluating an episode against its councils' policy packs, and recording the flags raised.

Run on every event (gateway/ingest/events.py) and on the timer (gateway/policy/timer.py).
Each flag is a `policy_flags` row whose unique key (episode, council, rule, period) makes
"once per episode and rule, once per period for a repeating rule" hold across restarts and
workers. `episodes.policy_due_at` is the timer: when the next time-based rule falls due, so
the timer reads only episodes that need it. Everything happens inside the caller's
transaction, on an episode it has locked (ingest and the timer alike), so a crash loses or
repeats nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gateway import audit
from gateway.canonical import CouncilRole
from gateway.logs import get_logger
from gateway.policy import packs
from gateway.policy.facts import Facts, from_episode
from gateway.policy.rules import Due, Evaluation, evaluate
from gateway.routing import RoutingTable
from gateway.store import episodes as episode_rows
from gateway.store import policy_flags

log = get_logger(__name__)
Flag = dict[str, Any]


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
    rows: list[dict[str, Any]] | None = None,
) -> Raised:
    """Raise what is due for each council's pack on `episode`, recording the new flags.

    `episode` is the episode as it now stands (an `episodes` row, or the `Standing` the caller
    is about to write) and `history` the child's episodes as stored (the rows `history` reads);
    this one's stored entry is replaced by `episode`. The caller writes `next_at` to
    `policy_due_at` and the flags into the episode's state (`with_flags`). `event_id` is the
    event the flags travel with, when known (ingest); the timer passes None and links the flags
    to the `updated` event it creates. `first`: the episode was created in this transaction,
    so it has no flag yet (not read). `rows`: where to leave the flags' rows instead of
    inserting them, for the caller to insert (`insert_rows`) once their episode and event are
    (their audit entries are appended here, in order, either way).
    """
    facts = from_episode(episode, history)
    raised_before = (
        set()
        if first
        else {
            (r.council, r.rule, r.period)
            for r in policy_flags.RAISED.rows(connection, {"e": episode.id})
        }
    )
    by_council: dict[str, list[Flag]] = {}
    upcoming: list[datetime] = []
    for council, evaluation in _evaluations(councils, facts, now):
        if evaluation.next_at is not None:
            upcoming.append(evaluation.next_at)
        fresh = [d for d in evaluation.due if (council, d.rule, d.period) not in raised_before]
        if fresh:
            by_council[council] = [_flag(council, d, now) for d in fresh]
    _record(connection, episode.id, by_council, event_id=event_id, now=now, actor=actor, rows=rows)
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
    return episode_rows.CHILD_HISTORY.rows(connection, {"child": child_id})


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
    rows: list[dict[str, Any]] | None = None,
) -> None:
    flags = [flag for council_flags in by_council.values() for flag in council_flags]
    if not flags:
        return
    new_rows = [
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
    ]
    if rows is None:
        policy_flags.INSERT.run(connection, new_rows)
    else:
        rows.extend(new_rows)
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
    rows: list[dict[str, Any]] | None = None,
) -> None:
    """Record flags raised outside the packs (gateway/policy/host_flags.py) as theirs are."""
    _record(connection, episode_id, by_council, event_id=event_id, now=now, actor=actor, rows=rows)


def insert_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the flags' rows left in `rows` (see `evaluate_episode`), in one statement."""
    policy_flags.INSERT.run(connection, rows)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
