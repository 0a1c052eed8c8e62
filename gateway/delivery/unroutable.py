"""The unroutable list: events waiting for an operator, and council names resolved later.

A row is one event for one council that must be told but cannot be yet (docs/architecture.md): a
council that is not onboarded (`council`, its DfE code), or a council the police named by a
name the names table does not know (`name`, verbatim, and `council` None). Each keeps the role
its council is told in (docs/council-it.md). Nothing here refuses or drops a message: the rows are
what an operator resolves (a variant added to `mappings/councils.yaml`, a council onboarded)
before `gateway replay` delivers what waited, oldest event first (gateway/delivery/replay.py).

Resolving a name sets the row's `council` and turns it into an ordinary row for that council,
delivered when the council is onboarded; the episode's state records the name's council, so
later messages that still use the name reach it too (gateway/episodes.py, `told`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, update

from adapters.compact.councils import NameTable
from gateway import audit
from gateway.canonical import CouncilRole

# The module, not its names: it imports replay, which imports this module (a cycle).
from gateway.delivery.enqueue import already_told
from gateway.episodes import Told, add_council
from gateway.store import locks
from gateway.store.cursors import decode_cursor, encode_cursor
from gateway.store.prepared import Prepared
from gateway.store.schema import episodes, unroutable

NOT_ONBOARDED = "not_onboarded"
UNRESOLVED_NAME = "unresolved_name"
KINDS = (NOT_ONBOARDED, UNRESOLVED_NAME)
_INSERT = Prepared(unroutable.insert())
_KIND = case((unroutable.c.council.is_(None), UNRESOLVED_NAME), else_=NOT_ONBOARDED)


@dataclass(frozen=True, slots=True)
class Waiting:
    """One event that cannot reach one council yet: by `council` code or by verbatim `name`."""

    event_id: str
    episode_id: str
    message_row_id: str | None
    role: CouncilRole
    council: str | None = None
    name: str | None = None


def hold(connection: Connection, waiting: Waiting, *, now: datetime, actor: str) -> None:
    """Put `waiting` on the list, audited as unroutable (ids only: never the name itself)."""
    _INSERT.run(
        connection,
        {
            "event_id": waiting.event_id,
            "episode_id": waiting.episode_id,
            "message_row_id": waiting.message_row_id,
            "council": waiting.council,
            "name": waiting.name,
            "role": str(waiting.role),
            "created_at": now,
        },
    )
    audit.append(
        connection,
        actor=actor,
        action=audit.Action.UNROUTABLE,
        subject=waiting.event_id,
        details={
            "council": waiting.council,
            "role": str(waiting.role),
            "kind": NOT_ONBOARDED if waiting.council else UNRESOLVED_NAME,
        },
        at=now,
    )


# --- resolving names -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolution:
    """What reading the waiting names again did."""

    resolved: int  # names that now name a council (their rows now wait for it, or go to it)
    merged: int  # of those, events the council already had: resolved without a second one
    unresolved: int  # names that still match no council


def resolve_names(
    connection: Connection, names: NameTable, *, now: datetime, actor: str
) -> Resolution:
    """Read every waiting name again with `names`, oldest first, inside the caller's transaction.

    A name that now matches a council becomes a row for that council (its role kept), and the
    episode's state counts the council as told in that role if the police still use the name.
    An event the council already has (the message also named it by a known name) is not sent
    again: the row is resolved as merged. Each change is audited as `resolved` by `actor`.
    """
    rows = connection.execute(
        select(unroutable.c.id, unroutable.c.event_id, unroutable.c.episode_id)
        .add_columns(unroutable.c.name, unroutable.c.role)
        .where(unroutable.c.council.is_(None), unroutable.c.resolved_at.is_(None))
        .order_by(unroutable.c.created_at, unroutable.c.id)
    ).all()
    resolved = merged = 0
    for row in rows:
        code = names.lookup(row.name)
        if code is None:
            continue
        episode = _lock_episode(connection, row.episode_id)
        already = already_told(connection, row.event_id, code)
        values: dict[str, Any] = {"resolved_at": now} if already else {"council": code}
        connection.execute(update(unroutable).where(unroutable.c.id == row.id).values(**values))
        _remember(connection, episode, row.name, code, CouncilRole(row.role))
        audit.append(
            connection,
            actor=actor,
            action=audit.Action.RESOLVED,
            subject=row.event_id,
            details={"unroutable_id": row.id, "council": code, "role": row.role, "merged": already},
            at=now,
        )
        resolved += 1
        merged += already
    return Resolution(resolved, merged, len(rows) - resolved)


def _lock_episode(connection: Connection, episode_id: str) -> Any:
    """The episode's state and columns, locked as ingest locks it (one writer at a time)."""
    locks.take(connection, locks.Level.EPISODE)
    return connection.execute(
        select(episodes.c.id, episodes.c.state, episodes.c.looked_after)
        .where(episodes.c.id == episode_id)
        .with_for_update(key_share=True)
    ).one()


def _remember(
    connection: Connection, episode: Any, name: str, code: str, role: CouncilRole
) -> None:
    """Count `code` as told in the episode's state, if its latest message still uses `name`."""
    state = dict(episode.state or {})
    waiting = [u for u in state.get("unresolved_councils", []) if u["name"] == name]
    if not waiting:
        return  # the police no longer write it: the episode's councils are as they say now
    councils = [dict(t) for t in state.get("councils", [])]
    for entry in waiting:
        add_council(councils, code, CouncilRole(entry["role"]), name=name)
    told = Told(councils, [u for u in state["unresolved_councils"] if u["name"] != name])
    home = state.get("home_council") or told.code_in(CouncilRole.HOME, CouncilRole.HOST)
    responsible = state.get("responsible_council") or told.code_in(CouncilRole.RESPONSIBLE)
    owner = responsible if episode.looked_after else home
    state |= {
        "councils": told.councils,
        "unresolved_councils": told.unresolved,
        "home_council": home,
        "responsible_council": responsible,
        "return_interview_owner": owner,
    }
    connection.execute(
        update(episodes)
        .where(episodes.c.id == episode.id)
        .values(state=state, home_council=home, responsible_council=responsible)
    )


# --- reading the list ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the list, oldest first, and the cursor of the next page (None: the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def page(
    connection: Connection, *, limit: int, cursor: str | None, include_resolved: bool = False
) -> Page:
    """A page of the list, oldest first: what waits, for whom, in which role, since when.

    Raises:
        ValueError: `cursor` is not one this list issued.
    """
    query = select(unroutable, _KIND.label("kind")).order_by(
        unroutable.c.created_at, unroutable.c.id
    )
    if not include_resolved:
        query = query.where(unroutable.c.resolved_at.is_(None))
    if cursor is not None:
        at, row_id = decode_cursor(cursor)
        if not row_id.isdigit():
            raise ValueError("the cursor is not one this API issued")
        query = query.where(
            or_(
                unroutable.c.created_at > at,
                and_(unroutable.c.created_at == at, unroutable.c.id > int(row_id)),
            )
        )
    rows = connection.execute(query.limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return Page(
        items=[_item(r) for r in rows],
        next_cursor=encode_cursor(last.created_at, str(last.id)) if last is not None else None,
    )


def _item(row: Any) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "council": row.council,
        "name": row.name,
        "role": row.role,
        "episode_id": row.episode_id,
        "event_id": row.event_id,
        "receipt_id": row.message_row_id,
        "created_at": row.created_at,
        "resolved_at": row.resolved_at,
    }


def waiting_by_kind(connection: Connection) -> dict[str, tuple[int, datetime | None]]:
    """For each kind: how many rows wait, and since when the oldest has (None: none waits)."""
    counts: dict[str, tuple[int, datetime | None]] = dict.fromkeys(KINDS, (0, None))
    kind = _KIND.label("kind")
    for row in connection.execute(
        select(kind, func.count(), func.min(unroutable.c.created_at))
        .where(unroutable.c.resolved_at.is_(None))
        .group_by(kind)
    ):
        counts[row[0]] = (int(row[1]), row[2])
    return counts
