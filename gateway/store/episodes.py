"""The statements of the `episodes` aggregate: an episode and the police reports linked to it.

Run as prepared statements (gateway/store/prepared.py): they are on the ingest path. A row
read to be changed is locked FOR NO KEY UPDATE (key_share), not FOR UPDATE: inserts that
reference an episode (the worker's case records) take FOR KEY SHARE on it, which FOR UPDATE
would block (gateway/store/locks.py: EPISODE).
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from gateway.canonical import EpisodeStatus
from gateway.store.prepared import Prepared
from gateway.store.schema import episode_sources, episodes

SOURCES = Prepared(
    select(episode_sources.c.source, episode_sources.c.force, episode_sources.c.reference)
    .where(episode_sources.c.episode_id == bindparam("episode"))
    .order_by(episode_sources.c.id)
)
EPISODE = Prepared(
    select(episodes).where(episodes.c.id == bindparam("row_id")).with_for_update(key_share=True)
)
INSERT = Prepared(insert(episodes))
INSERT_SOURCE = Prepared(insert(episode_sources))
# Both, for a new episode, in one statement: PostgreSQL only (a data-modifying CTE), where
# each statement is a round trip the client pays for. Every column of the episode is given.
_OPENED = (
    insert(episodes)
    .values({column.key: bindparam(column.key, type_=column.type) for column in episodes.c})
    .returning(episodes.c.id)
    .cte("opened")
)
_LINKED = ("source", "force", "reference", "last_version")
INSERT_WITH_SOURCE = Prepared(
    insert(episode_sources).from_select(
        ["episode_id", *_LINKED],
        select(_OPENED.c.id, *(bindparam(n, type_=episode_sources.c[n].type) for n in _LINKED)),
    )
)
# SET columns come from the parameters' keys; `row_id` picks the row.
UPDATE = Prepared(update(episodes).where(episodes.c.id == bindparam("row_id")))
UPDATE_SOURCE = Prepared(update(episode_sources).where(episode_sources.c.id == bindparam("row_id")))
# A child's episodes that counting rules and counts read (cancelled ones left out).
CHILD_HISTORY = Prepared(
    select(
        episodes.c.id, episodes.c.reported_at, episodes.c.dfe_missing_type, episodes.c.looked_after
    ).where(
        episodes.c.child_id == bindparam("child"),
        episodes.c.status != str(EpisodeStatus.CANCELLED),
    )
)
