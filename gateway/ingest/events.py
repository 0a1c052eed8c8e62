"""Ingest, step 3: each event of a message, inside its transaction (gateway/ingest/write.py).

An event is appended to its episode, the episode's state is rebuilt with it, the councils'
policy packs and the host's own checks raise their flags, and a delivery is queued for each
council told (or the event is held on the unroutable list for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from gateway import audit, receipts
from gateway.canonical import CouncilRole, EpisodeEvent, EpisodeStatus, RiskLevel
from gateway.delivery import unroutable as unroutables
from gateway.delivery.deadlines import Deadlines
from gateway.delivery.enqueue import enqueue, insert_rows
from gateway.episodes import ChildCounts, build_state, count_episodes, roles_in_state
from gateway.ids import new_id
from gateway.keys import Principal
from gateway.policy import evaluate as policy
from gateway.policy import host_flags
from gateway.routing import RoutingTable
from gateway.store import episodes
from gateway.store.events import append_event


@dataclass(frozen=True, slots=True)
class Txn:
    """What every step of storing one message shares: its transaction, receipt and actor.

    `warned`: what its events found that the receipt's warnings tell (`gateway.receipts`).
    """

    connection: Connection
    routing: RoutingTable
    deadlines: Deadlines
    receipt_id: str
    receipt: dict[str, Any]
    now: datetime
    principal: Principal
    warned: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Opened:
    """An episode created in this transaction for a report's first message.

    Its row and its link are inserted with its first event (`record`), once its state is
    known, so that the row is written once, not inserted and then updated.
    """

    child_id: str
    source: dict[str, str]  # its one link: source, force, reference
    version: int  # the link's last version: the message's
    new_child: bool  # the child too was created here, so has no other episode (not read)


@dataclass(frozen=True, slots=True)
class _Stored:
    """An event just stored: its id and number, and whether its episode (and it) is new."""

    event_id: str
    seq: int
    new_episode: bool
    first: bool


def record(
    txn: Txn,
    episode_id: str,
    event: EpisodeEvent,
    canonical: dict[str, Any],
    *,
    new_episode: bool,
    opened: Opened | None,
) -> None:
    """Store one event of the message (`canonical`: its JSON, from `prepare`).

    `opened`: its episode, when this is the first event of an episode created in this
    transaction (what is known then is not read back).
    """
    connection, now = txn.connection, txn.now
    if opened is None:
        row = episodes.EPISODE.one(connection, {"row_id": episode_id})
        child_id, before = row.child_id, row.state or None
        sources = _sources(connection, episode_id)
    else:
        child_id, before, sources = opened.child_id, None, [opened.source]
    first = opened is not None
    if opened is None:
        event_id, seq = append_event(
            connection,
            episode_id=episode_id,
            event=event,
            message_row_id=txn.receipt_id,
            now=now,
            canonical=canonical,
        )
    else:
        event_id, seq = new_id(), 1  # stored below, after its episode's row
    snap = event.episode
    stored = [] if opened is not None and opened.new_child else policy.history(connection, child_id)
    state = build_state(
        before,
        event,
        episode_id=episode_id,
        counts=_counts(stored, snap.reported_at, episode_id, snap.status),
        sources=sources,
    )
    cols = columns(event, now, state)
    audit.append(
        connection,
        actor=txn.principal.actor,
        action=audit.Action.MAPPED,
        subject=event_id,
        details={"episode_id": episode_id, "type": str(event.type), "seq": seq},
    )
    # A new episode's flags wait for its row; an existing one's are inserted as raised.
    flag_rows: list[dict[str, Any]] | None = [] if first else None
    raised = policy.evaluate_episode(
        connection,
        policy.Standing(
            id=episode_id,
            status=cols["status"],
            reported_at=snap.reported_at,
            found_at=cols["found_at"],
            updated_at=now,
            looked_after=snap.looked_after,
            dfe_missing_type=cols["dfe_missing_type"],
            state=state,
        ),
        policy.councils_with_packs(txn.routing, roles_in_state(state)),
        history=stored,
        now=now,
        event_id=event_id,
        actor=txn.principal.actor,
        first=first,
        rows=flag_rows,
    )
    raised = _with_host_flags(txn, episode_id, event_id, state, raised, first=first, rows=flag_rows)
    row = {**cols, "state": policy.with_flags(state, raised), "policy_due_at": raised.next_at}
    if opened is None:
        episodes.UPDATE.run(connection, {**row, "row_id": episode_id})
    else:
        _open(txn, episode_id, opened, row)
        append_event(
            connection,
            episode_id=episode_id,
            event=event,
            message_row_id=txn.receipt_id,
            now=now,
            first=True,
            canonical=canonical,
            event_id=event_id,
        )
        policy.insert_rows(connection, flag_rows or [])
    txn.receipt["event_types"].append(str(event.type))
    _route(txn, episode_id, _Stored(event_id, seq, new_episode, first), state, raised.by_council)


def _open(txn: Txn, episode_id: str, opened: Opened, row: dict[str, Any]) -> None:
    """Insert a new episode's row, as its first event leaves it, and its link."""
    episode = {**row, "id": episode_id, "child_id": opened.child_id, "created_at": txn.now}
    link = {**opened.source, "last_version": opened.version}
    if txn.connection.dialect.name == "postgresql":  # one round trip for both
        episodes.INSERT_WITH_SOURCE.run(txn.connection, {**episode, **link})
        return
    episodes.INSERT.run(txn.connection, episode)
    episodes.INSERT_SOURCE.run(txn.connection, {"episode_id": episode_id, **link})


def columns(
    event: EpisodeEvent, now: datetime, state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `episodes` columns an event sets (its state and timer apart).

    Its councils are the state's when given: those the snapshot names, or a name of it that
    an operator resolved earlier (`gateway.episodes.council_columns`).
    """
    snap = event.episode
    kind = snap.dfe_missing_type
    councils = state or {
        "home_council": snap.home_council,
        "responsible_council": snap.responsible_council,
    }
    return {
        "status": str(snap.status),
        "risk_level": str(snap.risk_level),
        "looked_after": snap.looked_after,
        "dfe_missing_type": str(kind) if kind else None,
        "home_council": councils["home_council"],
        "responsible_council": councils["responsible_council"],
        "reported_at": snap.reported_at,
        "found_at": snap.found.at if snap.found else None,
        "updated_at": now,
    }


def _with_host_flags(
    txn: Txn,
    episode_id: str,
    event_id: str,
    state: dict[str, Any],
    raised: policy.Raised,
    *,
    first: bool,
    rows: list[dict[str, Any]] | None,
) -> policy.Raised:
    """The packs' flags with the host's own added (`gateway.policy.host_flags`)."""
    if host_flags.responsible_unknown(state):
        txn.warned.add(receipts.RESPONSIBLE_UNKNOWN)
    host = host_flags.raise_flags(
        txn.connection,
        episode_id,
        state,
        txn.routing,
        now=txn.now,
        event_id=event_id,
        actor=txn.principal.actor,
        first=first,
        rows=rows,
    )
    if not host:
        return raised
    by_council = {council: list(flags) for council, flags in raised.by_council.items()}
    for council, flags in host.items():
        by_council.setdefault(council, []).extend(flags)
    return policy.Raised(by_council=by_council, next_at=raised.next_at)


def _route(
    txn: Txn,
    episode_id: str,
    stored: _Stored,
    state: dict[str, Any],
    flags: dict[str, list[policy.Flag]],
) -> None:
    """Queue a delivery per council told, with its role and the flags just raised for it.

    `state` is the episode's after the event: its councils (`gateway.episodes.told`) and
    the names that match none. A council not onboarded, and each such name, is held on
    the unroutable list in its role instead.
    """
    receipt = txn.receipt
    rows: list[dict[str, Any]] = []  # the event's deliveries, inserted together at the end
    for waiting in state["unresolved_councils"]:
        _hold(txn, episode_id, stored, CouncilRole(waiting["role"]), name=waiting["name"])
        if waiting["name"] not in receipt["unresolved_councils"]:
            receipt["unresolved_councils"].append(waiting["name"])
    for told in state["councils"]:
        council, role = told["council"], CouncilRole(told["role"])
        route = txn.routing.route(council)
        if route is None:
            _hold(txn, episode_id, stored, role, council=council)
            if council not in receipt["unroutable_councils"]:
                receipt["unroutable_councils"].append(council)
            continue
        delivery_id = enqueue(
            txn.connection,
            episode_id=episode_id,
            event_id=stored.event_id,
            council=council,
            system=route.system,
            risk=RiskLevel(state["risk_level"]),
            now=txn.now,
            deadlines=txn.deadlines,
            actor=txn.principal.actor,
            flags=flags.get(council, []),
            role=role,
            event_seq=stored.seq,
            new_episode=stored.new_episode,
            first=stored.first,
            rows=rows,
        )
        receipt["deliveries"].append(
            {
                "delivery_id": delivery_id,
                "council": council,
                "system": route.system,
                "status": "pending",
            }
        )
    insert_rows(txn.connection, rows)  # before the message's next event reads the streams


def _hold(
    txn: Txn,
    episode_id: str,
    stored: _Stored,
    role: CouncilRole,
    *,
    council: str | None = None,
    name: str | None = None,
) -> None:
    """Put the event on the unroutable list for `council`, or for the unresolved `name`."""
    waiting = unroutables.Waiting(
        stored.event_id, episode_id, txn.receipt_id, role, council=council, name=name
    )
    unroutables.hold(txn.connection, waiting, now=txn.now, actor=txn.principal.actor)


def _counts(
    stored: list[Any], reported_at: datetime, episode_id: str, status: EpisodeStatus
) -> ChildCounts:
    """The child's episode counts, with this one as the event leaves it (`stored`: history)."""
    starts = [r.reported_at for r in stored if r.id != episode_id]
    if status is not EpisodeStatus.CANCELLED:
        starts.append(reported_at)
    return count_episodes(reported_at, starts)


def _sources(connection: Connection, episode_id: str) -> list[dict[str, str]]:
    rows = episodes.SOURCES.rows(connection, {"episode": episode_id})
    return [{"source": r.source, "force": r.force, "reference": r.reference} for r in rows]
