"""The statements of the `messages` aggregate: each message as received, with its receipt.

Run as prepared statements (gateway/store/prepared.py): they are on the ingest path.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, insert, literal_column, select, true, update

from gateway.store.prepared import Prepared
from gateway.store.schema import episode_sources, messages

# Both of what ingest looks up first, in one statement (one row, always): an earlier copy of
# the message, by the sender's identity for it (None columns if none), and its report's link
# to an episode (likewise), locked: one writer per episode at a time. FOR NO KEY UPDATE, as
# gateway/store/episodes.py says, in a CTE: a lock cannot be taken on the nullable side of
# an outer join.
_LINK = (
    select(episode_sources.c.id, episode_sources.c.episode_id, episode_sources.c.last_version)
    .where(
        episode_sources.c.source == bindparam("source"),
        episode_sources.c.force == bindparam("force"),
        episode_sources.c.reference == bindparam("reference"),
    )
    .with_for_update(key_share=True)
    .cte("link")
)
_ONE = select(literal_column("1").label("one")).subquery("one")
FIND_WITH_LINK = Prepared(
    select(
        messages.c.c14n_sha256,
        messages.c.receipt,
        _LINK.c.id.label("link_id"),
        _LINK.c.episode_id.label("link_episode_id"),
        _LINK.c.last_version.label("link_last_version"),
    ).select_from(
        _ONE.outerjoin(
            messages,
            and_(
                messages.c.source == bindparam("source"),
                messages.c.force == bindparam("force"),
                messages.c.message_id == bindparam("message_id"),
            ),
        ).outerjoin(_LINK, true())
    )
)
INSERT = Prepared(insert(messages))
# SET columns come from the parameters' keys; `row_id` picks the row.
UPDATE = Prepared(update(messages).where(messages.c.id == bindparam("row_id")))
