"""The append-only, hash-chained audit log (DESIGN.md §4).

Each entry is canonical JSON (sorted keys, no spaces, UTF-8) holding its own sequence number,
time, actor, action, subject, ids-only details and the previous entry's hash; its hash is the
SHA-256 of that text. Storing the exact hashed text makes verification independent of code
changes. Entries carry ids, never personal data, so purging content leaves the chain whole.

Appends are serialised: PostgreSQL takes a transaction-scoped advisory lock, SQLite already
has a single writer (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, select, text

from gateway.canonical import utc_now
from gateway.errors import AuditChainBroken
from gateway.store.schema import audit_log

GENESIS = "0" * 64
_LOCK_KEY = 0x6D69_7373  # arbitrary, fixed: "miss"


class Action(StrEnum):
    """Every state change and consultation the audit log records."""

    RECEIVED = "received"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    MAPPED = "mapped"
    ROUTED = "routed"
    UNROUTABLE = "unroutable"
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


def canonical_json(value: Mapping[str, Any]) -> str:
    """Deterministic JSON: sorted keys, compact separators, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _digest(entry: str) -> str:
    return hashlib.sha256(entry.encode("utf-8")).hexdigest()


def serialise(connection: Connection) -> None:
    """Take the audit chain's lock for the rest of the transaction (PostgreSQL).

    Every transaction that writes rows and appends to the chain takes it FIRST, before any row
    lock: a transaction holding row locks while waiting here, against one holding this lock and
    waiting for those rows, would deadlock. SQLite's BEGIN IMMEDIATE already serialises writers.
    Re-entrant within a transaction.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def append(
    connection: Connection,
    *,
    actor: str,
    action: Action,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one entry inside the caller's transaction; returns its sequence number."""
    serialise(connection)
    last = connection.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = at or utc_now()  # one instant for the column and the hashed entry
    when = at.isoformat().replace("+00:00", "Z")
    entry = canonical_json(
        {
            "seq": seq,
            "at": when,
            "actor": actor,
            "action": str(action),
            "subject": subject,
            "details": dict(details or {}),
            "prev_hash": prev_hash,
        }
    )
    connection.execute(
        audit_log.insert().values(
            seq=seq,
            at=at,
            actor=actor,
            action=str(action),
            subject=subject,
            entry=entry,
            prev_hash=prev_hash,
            hash=_digest(entry),
        )
    )
    return int(seq)


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
