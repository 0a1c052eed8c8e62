"""The hash-chained audit log: appends, verification, and tamper detection."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update

from gateway import audit
from gateway.errors import AuditChainBroken
from gateway.store.schema import audit_log


def _fill(engine: Engine, n: int) -> None:
    with engine.begin() as connection:
        for i in range(n):
            audit.append(
                connection,
                actor="operator:test",
                action=audit.Action.RECEIVED,
                subject=f"m{i}",
                details={"i": i},
            )


def test_chain_of_appends_verifies(engine: Engine) -> None:
    """A chain of appends verifies and counts every entry."""
    _fill(engine, 25)
    with engine.connect() as connection:
        verified = audit.verify(connection)
    assert verified.entries == 25
    assert len(verified.head) == 64


def test_empty_chain_verifies(engine: Engine) -> None:
    """An empty log is a valid chain of zero entries."""
    with engine.connect() as connection:
        assert audit.verify(connection).entries == 0


@pytest.mark.parametrize("tamper", ["entry", "hash", "prev_hash", "actor", "delete"])
def test_tampering_is_detected_at_the_entry(engine: Engine, tamper: str) -> None:
    """Editing, relinking or deleting an entry breaks the chain at that entry."""
    _fill(engine, 5)
    with engine.begin() as connection:
        target = audit_log.c.seq == 3
        if tamper == "entry":
            connection.execute(
                update(audit_log).where(target).values(entry=audit_log.c.entry + " ")
            )
        elif tamper == "hash":
            connection.execute(update(audit_log).where(target).values(hash="f" * 64))
        elif tamper == "prev_hash":
            connection.execute(update(audit_log).where(target).values(prev_hash="e" * 64))
        elif tamper == "actor":
            connection.execute(update(audit_log).where(target).values(actor="someone-else"))
        else:
            connection.execute(audit_log.delete().where(target))
    with engine.connect() as connection, pytest.raises(AuditChainBroken) as caught:
        audit.verify(connection)
    assert caught.value.entry in {3, 4}


def test_entries_are_canonical_json(engine: Engine) -> None:
    """Stored entry text is canonical JSON (sorted, compact), so hashes survive code changes."""
    _fill(engine, 1)
    with engine.connect() as connection:
        row = connection.execute(audit_log.select()).one()
    assert row.entry.startswith('{"action":"received","actor":"operator:test"')
    assert ", " not in row.entry
