"""Row ids: UUID version 7 (RFC 9562), time-ordered, from uuid-utils.

With random (version 4) ids every new row lands on a random page of each primary-key and
foreign-key index, so a commit writes one page per index per row; time-ordered ids land at
the right-hand edge, where the last commit's pages already are. On SQLite that halves the
commit's cost per message (docs/decisions/0012-time-ordered-ids.md); on PostgreSQL it keeps
the indexes compact. To clients an id is still an opaque UUID: it tells when its row was
created, which the row's own timestamps publish anyway, and nothing rests on ids being
unguessable (every read is authorised by key and council).
"""

from __future__ import annotations

import uuid_utils


def new_id() -> str:
    """A new row id: a UUIDv7 string; ids made one after another sort in that order."""
    return str(uuid_utils.uuid7())
