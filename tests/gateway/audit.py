"""What the audit tests share: reading the log's entries back, and changing it as its owner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from gateway.store.schema import audit_log


def audit_entries(engine: Engine, action: str) -> list[dict[str, Any]]:
    """The audit entries of one action, oldest first, as hashed."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_log.c.entry).where(audit_log.c.action == action).order_by(audit_log.c.seq)
        )
        return [json.loads(r.entry) for r in rows]


@contextmanager
def as_owner(engine: Engine) -> Iterator[Connection]:
    """A transaction that can change the audit log, as its owner or a superuser can."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER audit_log_no_update"))
            connection.execute(text("DROP TRIGGER audit_log_no_delete"))
        yield connection
