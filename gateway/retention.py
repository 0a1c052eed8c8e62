"""Retention (docs/architecture.md): raw message bodies and sent payloads are purged after a period.

What goes: `messages.body` (the police XML as received) and `deliveries.payload` (the rendered
payload as sent). What stays: every row and id, the canonical episode and events (the working
record the episode API, policy counts, replay and the SSDA903 export read), hashes, delivery
metadata and attempts, and the audit chain, which holds ids only and so verifies afterwards.
docs/decisions/0009-retention.md gives the reasons.

Nothing still needed for delivery is touched. A payload is purged only once its delivery is
final (`delivered` or `cancelled`); a raw message only while no delivery of its episode is
unfinished (pending, retrying, in flight, sent awaiting an acknowledgement, or dead and so
awaiting a replay) and no event of its episode waits for a council to be onboarded.

A purge works in bounded batches: candidates are read outside any lock, a page at a time in
primary-key order, then each batch is one short transaction that locks the rows the rules
still match (`SKIP LOCKED`: a row another transaction is changing waits for the next run),
blanks the column and appends one `purged` audit entry with the counts, the cut-off and the
SHA-256 of each purged item. So a purge of millions holds no long transaction and waits for
no one. The purge never deletes or changes an audit entry. A purged payload keeps its
media type: a delivery with a media type and no body is one whose payload was purged.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, and_, exists, func, select, update
from sqlalchemy.exc import DBAPIError

from gateway import audit
from gateway.logs import get_logger
from gateway.settings import Settings
from gateway.store import locks
from gateway.store.schema import deliveries, messages, unroutable
from gateway.store.work import unit_of_work

log = get_logger(__name__)
FINAL = ("delivered", "cancelled")  # a delivery in one of these will not be sent again unasked


@dataclass(frozen=True, slots=True)
class Purged:
    """What one purge run did (or, in a dry run, would do)."""

    cutoff: datetime
    messages: int
    payloads: int
    batches: int
    dry_run: bool


@dataclass(frozen=True, slots=True)
class _Kind:
    """One purgeable column: its table, the rule, and the column each item's hash comes from."""

    name: str
    table: Table
    column: str
    rule: Callable[[datetime], ColumnElement[bool]]
    hashed: str
    digest: Callable[[Any], str]
    level: locks.Level  # the rows' lock level


def _message_rule(cutoff: datetime) -> ColumnElement[bool]:
    unfinished = exists().where(
        deliveries.c.episode_id == messages.c.episode_id, deliveries.c.status.not_in(FINAL)
    )
    waiting = exists().where(
        unroutable.c.episode_id == messages.c.episode_id, unroutable.c.resolved_at.is_(None)
    )
    return and_(
        messages.c.body.is_not(None), messages.c.received_at < cutoff, ~unfinished, ~waiting
    )


def _payload_rule(cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        deliveries.c.payload.is_not(None),
        deliveries.c.status.in_(FINAL),
        # updated_at is never before created_at; the created_at test lets its index help.
        deliveries.c.created_at < cutoff,
        func.coalesce(deliveries.c.updated_at, deliveries.c.created_at) < cutoff,
    )


MESSAGE_BODIES = _Kind(
    name="message_bodies",
    table=messages,
    column="body",
    rule=_message_rule,
    hashed="c14n_sha256",
    digest=str,  # the canonical XML's hash, kept on the row since it was received
    level=locks.Level.EPISODE,
)
DELIVERY_PAYLOADS = _Kind(
    name="delivery_payloads",
    table=deliveries,
    column="payload",
    rule=_payload_rule,
    hashed="payload",
    digest=lambda payload: hashlib.sha256(payload).hexdigest(),
    level=locks.Level.DELIVERY,
)


def cutoff_for(now: datetime, days: int) -> datetime:
    """The instant before which content is purged: `days` whole days before `now`."""
    return now - timedelta(days=days)


def purge(
    engine: Engine,
    now: datetime,
    settings: Settings,
    *,
    actor: str = "retention",
    dry_run: bool = False,
) -> Purged:
    """Purge message bodies and payloads older than `settings.retention_days`, in batches.

    Args:
        engine: the database.
        now: the current time (the cut-off is `retention_days` before it).
        settings: `retention_days` and `purge_batch` are read.
        actor: who purges, for the audit log.
        dry_run: count what would be purged; change nothing and audit nothing.

    Returns:
        How many bodies and payloads were purged, in how many batches (audit entries).
    """
    cutoff = cutoff_for(now, settings.retention_days)
    counts: dict[str, int] = {}
    batches = 0
    for kind in (MESSAGE_BODIES, DELIVERY_PAYLOADS):
        counts[kind.name] = 0
        for ids in _candidates(engine, kind, cutoff, settings.purge_batch):
            if dry_run:
                counts[kind.name] += len(ids)
                continue
            done = _purge_batch(engine, kind, ids, cutoff=cutoff, now=now, actor=actor)
            counts[kind.name] += done
            batches += 1 if done else 0
    result = Purged(
        cutoff=cutoff,
        messages=counts[MESSAGE_BODIES.name],
        payloads=counts[DELIVERY_PAYLOADS.name],
        batches=batches,
        dry_run=dry_run,
    )
    log.info(
        "retention_purged",
        cutoff=cutoff.isoformat(),
        messages=result.messages,
        payloads=result.payloads,
        batches=batches,
        dry_run=dry_run,
    )
    return result


def _candidates(engine: Engine, kind: _Kind, cutoff: datetime, size: int) -> Iterator[list[str]]:
    """Pages of ids the rule matches now, in id order; each page read in its own short read."""
    key = kind.table.c.id
    after = ""
    while True:
        with engine.connect() as connection:
            ids = list(
                connection.execute(
                    select(key).where(kind.rule(cutoff), key > after).order_by(key).limit(size)
                ).scalars()
            )
        if not ids:
            return
        yield ids
        after = ids[-1]


def _purge_batch(
    engine: Engine, kind: _Kind, ids: list[str], *, cutoff: datetime, now: datetime, actor: str
) -> int:
    """Blank one batch in one transaction and audit it; how many were purged."""
    table, key = kind.table, kind.table.c.id
    with unit_of_work(engine, audits=True, locks=(kind.level,)) as connection:
        locks.take(connection, kind.level)
        # Re-checked as the rows are locked: a delivery replayed meanwhile is no longer final.
        rows = connection.execute(
            select(key, table.c[kind.hashed].label("hashed"))
            .where(key.in_(ids), kind.rule(cutoff))
            .order_by(key)
            .with_for_update(skip_locked=True, of=table)
        ).all()
        if not rows:
            return 0
        connection.execute(
            update(table).where(key.in_([r.id for r in rows])).values({kind.column: None})
        )
        audit.append(
            connection,
            actor=actor,
            action=audit.Action.PURGED,
            subject=None,
            details={
                "what": kind.name,
                "count": len(rows),
                "cutoff": cutoff.isoformat().replace("+00:00", "Z"),
                "sha256": {r.id: kind.digest(r.hashed) for r in rows},
            },
            at=now,
        )
    return len(rows)


class Scheduler:
    """Runs `purge` at most once per interval, for the delivery worker's loop to call.

    Calling it is cheap and never blocks: a due purge runs in its own thread (unless
    `background` is false, for tests), and a call while one still runs does nothing.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        actor: str = "retention",
        background: bool = True,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.actor = actor
        self.background = background
        self.interval = timedelta(seconds=settings.purge_interval_s)
        self.last: Purged | None = None
        self._next: datetime | None = None
        self._running = threading.Lock()

    def __call__(self, now: datetime) -> bool:
        """Start a purge if one is due and none is running; whether one was started."""
        if self._next is not None and now < self._next:
            return False
        if not self._running.acquire(blocking=False):
            return False
        self._next = now + self.interval
        if self.background:
            thread = threading.Thread(target=self._run, args=(now,), name="retention", daemon=True)
            thread.start()
        else:
            self._run(now)
        return True

    def _run(self, now: datetime) -> None:
        try:
            self.last = purge(self.engine, now, self.settings, actor=self.actor)
        except DBAPIError as exc:  # a busy or restarting database: the next interval tries again
            log.warning("retention_purge_failed", error=type(exc).__name__)
        except Exception:  # a background thread must report, not vanish silently
            log.exception("retention_purge_failed")
        finally:
            self._running.release()
