"""Appending an event to an episode: shared by ingest and the policy timer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select

from gateway.canonical import EpisodeEvent
from gateway.ids import new_id
from gateway.store.prepared import Prepared
from gateway.store.schema import events

_LAST_SEQ = Prepared(
    select(func.coalesce(func.max(events.c.seq), 0)).where(
        events.c.episode_id == bindparam("episode")
    )
)
_INSERT = Prepared(insert(events))


def append_event(
    connection: Connection,
    *,
    episode_id: str,
    event: EpisodeEvent,
    message_row_id: str | None,
    now: datetime,
    first: bool = False,
    canonical: Mapping[str, Any] | None = None,
    event_id: str | None = None,
) -> tuple[str, int]:
    """Store `event` as the episode's next in order; returns its id and sequence number.

    `message_row_id` is None for an event the gateway raised itself (a policy timer).
    `first`: the episode was created in this transaction and has no event yet (not read).
    `canonical`: the event's canonical JSON when the caller has it already (ingest dumps it
    before the transaction). `event_id`: its id when the caller made it already (new otherwise).
    The (episode, seq) unique key turns a concurrent writer into an IntegrityError.
    """
    last = 0 if first else _LAST_SEQ.scalar(connection, {"episode": episode_id})
    event_id = event_id or new_id()
    _INSERT.run(
        connection,
        {
            "id": event_id,
            "episode_id": episode_id,
            "seq": last + 1,
            "message_row_id": message_row_id,
            "type": str(event.type),
            "at": event.at,
            "created_at": now,
            "canonical": event.model_dump(mode="json") if canonical is None else canonical,
        },
    )
    return event_id, last + 1
