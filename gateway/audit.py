"""The append-only, hash-chained audit log (DESIGN.md §4).

Each entry is canonical JSON (sorted keys, no spaces, UTF-8) holding its own sequence number,
time, actor, action, subject, ids-only details and the previous entry's hash; its hash is the
SHA-256 of that text. Storing the exact hashed text makes verification independent of code
changes. Entries carry ids, never personal data, so purging content leaves the chain whole.

An append joins the caller's transaction and is written when it commits: the entries of one
transaction get consecutive numbers, chained after the newest entry then. Only that write is
serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite already has one writer), so
the chain orders entries by commit, and `at` (when the action happened) may run a few
milliseconds backwards between transactions that committed close together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, event, func, select, text

from gateway.canonical import utc_now
from gateway.errors import AuditChainBroken
from gateway.store.prepared import Prepared
from gateway.store.schema import audit_log

GENESIS = "0" * 64
_LOCK_KEY = 0x6D69_7373  # arbitrary, fixed: "miss"
_LOCK = Prepared(text("SELECT pg_advisory_xact_lock(:key)"))
# Connection.info key: (the open transaction, its entries). `info` outlives the transaction
# (it belongs to the pooled DBAPI connection), hence the owner.
_PENDING = "gateway.audit.pending"
_HEAD = Prepared(
    select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
)
_INSERT = Prepared(audit_log.insert())


class Action(StrEnum):
    """Every state change and consultation the audit log records."""

    RECEIVED = "received"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    MAPPED = "mapped"
    ROUTED = "routed"
    UNROUTABLE = "unroutable"
    RESOLVED = "resolved"  # a waiting council name, read again, names a council now
    FLAGGED = "flagged"
    ATTEMPTED = "attempted"
    DELIVERED = "delivered"
    DISCLOSED = "disclosed"
    DEAD_LETTERED = "dead_lettered"
    REPLAYED = "replayed"
    PURGED = "purged"
    CONSULTED = "consulted"
    KEY_CREATED = "key_created"
    KEY_REVOKED = "key_revoked"
    CONFIG_CHANGED = "config_changed"


# Built once: `json.dumps` with these options builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)


def canonical_json(value: Mapping[str, Any]) -> str:
    """Deterministic JSON: sorted keys, compact separators, UTF-8 kept as is."""
    return _CANONICAL.encode(value)


def _digest(entry: str) -> str:
    return hashlib.sha256(entry.encode("utf-8")).hexdigest()


def serialise(connection: Connection) -> None:
    """Take the audit chain's lock now, for the rest of the transaction (PostgreSQL).

    Every transaction that appends takes it at commit (`_write_pending`), and while holding it
    there waits for nothing but the chain. Ingest, unroutable replay and the policy re-arm take
    it only then, so two ingests run side by side, each on the rows it locks. The worker's
    steps, delivery replay, retention and the policy timer take it first, as they always have,
    which keeps them one at a time; they may, because none of them ever waits for a row lock
    that an ingest, an unroutable replay or a re-arm can hold (deliveries and attempts are
    theirs alone; the timer skips locked episodes; ingest locks an episode FOR NO KEY UPDATE,
    which the foreign-key checks of the worker's inserts, FOR KEY SHARE, pass), so the lock
    cannot close a cycle (tests/gateway/test_lock_order.py).
    SQLite's BEGIN IMMEDIATE already serialises writers. Re-entrant within a transaction.
    """
    if connection.dialect.name == "postgresql":
        _LOCK.run(connection, {"key": _LOCK_KEY})


@dataclass(frozen=True, slots=True)
class _Pending:
    """An entry waiting for its transaction to commit; numbered and chained then."""

    at: datetime
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]


def append(
    connection: Connection,
    *,
    actor: str,
    action: Action,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Add an entry to the chain as part of the caller's transaction.

    The entry is written when the transaction commits, after every entry appended before it
    (see `_write_pending`): the chain is taken once per transaction, at its end, instead of
    for the whole of it. A transaction that rolls back leaves no entry.

    Raises:
        RuntimeError: the connection has no transaction open.
    """
    transaction = connection.get_transaction()
    if transaction is None:
        raise RuntimeError("audit.append needs a transaction (engine.begin())")
    owner, entries = connection.info.get(_PENDING, (None, []))
    if owner is not transaction:  # left by a transaction that ended without commit or rollback
        entries = []
        connection.info[_PENDING] = (transaction, entries)
    entries.append(_Pending(at or utc_now(), actor, str(action), subject, dict(details or {})))


def _take_pending(connection: Connection) -> list[_Pending]:
    """The open transaction's entries, removed from the connection."""
    owner, entries = connection.info.pop(_PENDING, (None, []))
    return list(entries) if owner is connection.get_transaction() else []


@event.listens_for(Engine, "commit")
def _write_pending(connection: Connection) -> None:
    """Number, chain and insert the transaction's entries, just before it commits."""
    entries = _take_pending(connection)
    if not entries:
        return
    serialise(connection)
    last = _HEAD.first(connection)
    seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS)
    rows = []
    for item in entries:
        seq += 1
        entry = canonical_json(
            {
                "seq": seq,
                "at": item.at.isoformat().replace("+00:00", "Z"),
                "actor": item.actor,
                "action": item.action,
                "subject": item.subject,
                "details": item.details,
                "prev_hash": prev_hash,
            }
        )
        digest = _digest(entry)
        rows.append(
            {
                "seq": seq,
                "at": item.at,
                "actor": item.actor,
                "action": item.action,
                "subject": item.subject,
                "entry": entry,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    _INSERT.run(connection, rows)


@event.listens_for(Engine, "rollback")
def _drop_pending(connection: Connection) -> None:
    """A transaction that rolls back leaves no entry (nor any for the next one to write)."""
    connection.info.pop(_PENDING, None)


@dataclass(frozen=True, slots=True)
class Verified:
    """A chain that verified: how many entries, and the newest hash (to pin externally)."""

    entries: int
    head: str


def _rows(connection: Connection, batch: int = 5000) -> Iterator[Any]:
    after = 0
    while True:
        rows = connection.execute(
            select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def verify(connection: Connection) -> Verified:
    """Walk the whole chain.

    Raises:
        AuditChainBroken: at the first entry whose text, hash, link or sequence is wrong.
    """
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for row in _rows(connection):
        if row.seq != expected_seq:
            raise AuditChainBroken(row.seq, f"sequence gap: expected {expected_seq}")
        if _digest(row.entry) != row.hash:
            raise AuditChainBroken(row.seq, "entry text does not match its hash")
        body = json.loads(row.entry)
        if body.get("prev_hash") != prev_hash or row.prev_hash != prev_hash:
            raise AuditChainBroken(row.seq, "previous-hash link is broken")
        if (
            body.get("seq") != row.seq
            or body.get("action") != row.action
            or body.get("actor") != row.actor
        ):
            raise AuditChainBroken(row.seq, "columns disagree with the hashed entry")
        prev_hash, expected_seq, count = row.hash, expected_seq + 1, count + 1
    return Verified(entries=count, head=prev_hash)


def count(connection: Connection) -> int:
    """How many entries the chain holds."""
    return int(connection.execute(select(func.count()).select_from(audit_log)).scalar_one())
