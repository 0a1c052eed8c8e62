"""The append-only, hash-chained audit log (docs/architecture.md): its entries and their chain.

Each entry is canonical JSON (sorted keys, no spaces, UTF-8) holding its own sequence number,
time, actor, action, subject, ids-only details and the previous entry's hash; its hash is the
SHA-256 of that text. Storing the exact hashed text makes verification independent of code
changes. Entries carry ids, never personal data, so purging content leaves the chain whole.

An append joins the caller's unit of work (`gateway.store.work`) and is written when it
commits: the entries of one unit get consecutive numbers, chained after the newest entry then.
Only that write holds the chain's lock (`locks.Level.AUDIT_CHAIN`), so the chain orders
entries by commit, and `at` (when the action happened) may run a few milliseconds backwards
between transactions that committed close together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from gateway.canonical import utc_now
from gateway.logs import get_logger
from gateway.store import locks
from gateway.store.prepared import Prepared
from gateway.store.schema import audit_log

log = get_logger(__name__)
GENESIS = "0" * 64
# Connection.info key: the entries of the open unit of work (present only in an audited one).
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


def digest(entry: str) -> str:
    """An entry's hash: the SHA-256 of its text, in hex."""
    return hashlib.sha256(entry.encode("utf-8")).hexdigest()


def iso(at: datetime) -> str:
    """A time as entries write it: ISO 8601, UTC as `Z`."""
    return at.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Head:
    """The newest entry of the chain: its number and hash."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class _Pending:
    """An entry waiting for its unit of work to commit; numbered and chained then."""

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
    """Add an entry to the chain as part of the caller's unit of work.

    The entry is written when the unit commits, after every entry appended before it: the
    chain is taken once per transaction, at its end, instead of for the whole of it. A unit
    that rolls back leaves no entry.

    Raises:
        RuntimeError: the connection is not in a unit of work opened with `audits=True`.
    """
    entries: list[_Pending] | None = connection.info.get(_PENDING)
    if entries is None:
        raise RuntimeError(
            "audit.append needs an audited unit of work: "
            "`with unit_of_work(engine, audits=True) as connection:` (gateway/store/work.py)"
        )
    entries.append(_Pending(at or utc_now(), actor, str(action), subject, dict(details or {})))


def collect(connection: Connection) -> None:
    """Start collecting the connection's entries for its unit of work (the unit calls this)."""
    connection.info[_PENDING] = []


def discard(connection: Connection) -> None:
    """Forget the entries of a unit of work that ended without writing them."""
    connection.info.pop(_PENDING, None)


def write(connection: Connection, *, seen: int = 0) -> Head | None:
    """Number, chain and insert the unit's entries, just before it commits; the new head.

    Takes the chain's lock (`locks.take_chain`) only if there is something to write. `seen`:
    the newest entry this process saw committed before; a head below it means entries were
    cut from the database since, which is logged at once (verify shows it too).
    """
    entries: list[_Pending] = connection.info.pop(_PENDING, [])
    if not entries:
        return None
    locks.take_chain(connection)
    last = _HEAD.first(connection)
    seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS)
    if seq < seen:
        log.critical("audit_chain_went_back", head=seq, seen=seen)
    rows = []
    for item in entries:
        seq += 1
        entry = canonical_json(
            {
                "seq": seq,
                "at": iso(item.at),
                "actor": item.actor,
                "action": item.action,
                "subject": item.subject,
                "details": item.details,
                "prev_hash": prev_hash,
            }
        )
        hashed = digest(entry)
        rows.append(
            {
                "seq": seq,
                "at": item.at,
                "actor": item.actor,
                "action": item.action,
                "subject": item.subject,
                "entry": entry,
                "prev_hash": prev_hash,
                "hash": hashed,
            }
        )
        prev_hash = hashed
    _INSERT.run(connection, rows)
    return Head(seq, prev_hash)


def head(connection: Connection) -> Head | None:
    """The chain's newest entry as committed now, if any."""
    last = connection.execute(_HEAD.statement).first()
    return Head(int(last.seq), str(last.hash)) if last else None
