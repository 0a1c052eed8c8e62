"""The statements of the `policy_flags` aggregate: each flag a council's pack raised.

Run as prepared statements (gateway/store/prepared.py): they are on the ingest path.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select

from gateway.store.prepared import Prepared
from gateway.store.schema import policy_flags

RAISED = Prepared(
    select(policy_flags.c.council, policy_flags.c.rule, policy_flags.c.period).where(
        policy_flags.c.episode_id == bindparam("e")
    )
)
INSERT = Prepared(insert(policy_flags))
