"""The statements of the `messages` aggregate: each message as received, with its receipt.

Run as prepared statements (gateway/store/prepared.py): they are on the ingest path.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from gateway.store.prepared import Prepared
from gateway.store.schema import messages

# An earlier copy of a message, by the sender's identity for it.
FIND = Prepared(
    select(messages.c.c14n_sha256, messages.c.receipt).where(
        messages.c.source == bindparam("source"),
        messages.c.force == bindparam("force"),
        messages.c.message_id == bindparam("message_id"),
    )
)
INSERT = Prepared(insert(messages))
# SET columns come from the parameters' keys; `row_id` picks the row.
UPDATE = Prepared(update(messages).where(messages.c.id == bindparam("row_id")))
