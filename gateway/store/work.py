"""The unit of work: one transaction that says what it audits and which locks it takes.

    with unit_of_work(engine, audits=True, locks=(Level.DELIVERY,)) as connection:
        ...  # statements, `locks.take`/`locks.hold`, `audit.append`

On leaving the block without an error, the unit numbers and chains the entries it was given
(`audit.append`) under the audit chain's lock, commits, and then checkpoints the chain's new
head outside the database (`gateway.audit.checkpoints`). On an error it rolls back and leaves
no entry. Its locks are checked against the levels it names, in the order of
`gateway.store.locks`, which also says why the audit chain's lock, taken last, cannot close a
deadlock. A transaction that neither audits nor locks may still use `engine.begin()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from gateway.audit import chain, checkpoints
from gateway.store.locks import Level, close_ledger, open_ledger


@contextmanager
def unit_of_work(
    engine: Engine, *, audits: bool = False, locks: Iterable[Level] = ()
) -> Iterator[Connection]:
    """A transaction on `engine`, committed when the block ends (rolled back on an error).

    Args:
        engine: the database.
        audits: whether the unit appends audit entries (`audit.append` refuses otherwise).
        locks: the lock levels it takes (`locks.hold`, `locks.take` refuse any other).
    """
    declared = frozenset(locks) | ({Level.AUDIT_CHAIN} if audits else frozenset())
    log = checkpoints.attached(engine)
    head: chain.Head | None = None
    with engine.connect() as connection:
        open_ledger(connection, declared)
        if audits:
            chain.collect(connection)
        try:
            with connection.begin():
                yield connection
                head = chain.write(connection, seen=log.committed if log else 0)
        finally:
            chain.discard(connection)
            close_ledger(connection)
    if log is not None and head is not None:
        log.record(head)
