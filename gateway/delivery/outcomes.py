"""Recording how attempts ended and moving their deliveries on (the outbox's second half).

A worker settles its finished attempts in batches: one unit of work locks the batch's
deliveries, records every attempt, moves each delivery on (delivered, sent, retrying, dead),
keeps the case systems' ids and appends every attempt's audit entries, which the unit chains
in one hold of the chain's lock at commit. Nothing is held open while a case system answers:
the batch is what finished meanwhile. A batch that fails to commit leaves its deliveries
`in_flight` until their leases pass; they are then resent with the same idempotency key, as
after a crash.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.base import Payload, SendResult
from gateway import audit
from gateway.delivery.claims import Claim
from gateway.delivery.retry import GiveUp, RetryPolicy, next_attempt
from gateway.errors import DeliveryError, PermanentDelivery
from gateway.store import locks
from gateway.store.dialects import in_list
from gateway.store.prepared import Params, Prepared
from gateway.store.schema import attempts, case_records, deliveries
from gateway.store.work import unit_of_work

PURPOSE = "safeguarding notification of a missing child (DPA 2018 Part 3, s.62)"
FINISH_LOCKS = (locks.Level.DELIVERY, locks.Level.CASE_RECORD)


@dataclass(frozen=True, slots=True)
class Finished:
    """How an attempt ended, as recorded."""

    status: str  # the delivery's status afterwards, or "superseded" (lease lost meanwhile)
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempted:
    """An attempt that has ended, waiting to be recorded.

    Attributes:
        claim: what was attempted.
        outcome: the case system's answer, or why there was none.
        payload: the rendered payload (None when rendering failed).
        at: when the attempt ended (the attempt's and the delivery's times).
    """

    claim: Claim
    outcome: SendResult | DeliveryError
    payload: Payload | None
    at: datetime


# The deliveries' status and attempts now; locked (SQLite drops FOR UPDATE: one writer).
_CURRENT = Prepared(
    select(deliveries.c.id, deliveries.c.status, deliveries.c.attempts)
    .where(in_list(deliveries.c.id, "ids"))
    .order_by(deliveries.c.id)
    .with_for_update()
)
_SETTLE = Prepared(update(deliveries).where(deliveries.c.id == bindparam("row_id")))
_RECORD = Prepared(
    update(attempts).where(
        attempts.c.delivery_id == bindparam("row_id"),
        attempts.c.number == bindparam("attempt_no"),
    )
)


def finish(
    engine: Engine,
    claimed: Claim,
    outcome: SendResult | DeliveryError,
    *,
    payload: Payload | None,
    policy: RetryPolicy,
    now: datetime,
    actor: str,
    rand: Callable[[], float] = random.random,
) -> Finished:
    """Record one attempt and move its delivery on (`finish_many` of one)."""
    done = Attempted(claimed, outcome, payload, now)
    return finish_many(engine, [done], policy=policy, actor=actor, rand=rand)[0]


def finish_many(
    engine: Engine,
    done: Sequence[Attempted],
    *,
    policy: RetryPolicy,
    actor: str,
    rand: Callable[[], float] = random.random,
) -> list[Finished]:
    """Record the attempts and move their deliveries on, in one unit of work; in their order.

    When a claim's lease ran out and another worker claimed the delivery meanwhile, only the
    attempt is recorded ("superseded"); the other worker's attempt decides, with the same key.
    """
    if not done:
        return []
    with unit_of_work(engine, audits=True, locks=FINISH_LOCKS) as connection:
        return finish_in(connection, done, policy=policy, actor=actor, rand=rand)


def finish_in(
    connection: Connection,
    done: Sequence[Attempted],
    *,
    policy: RetryPolicy,
    actor: str,
    rand: Callable[[], float] = random.random,
) -> list[Finished]:
    """`finish_many` inside the caller's audited unit of work, which names `FINISH_LOCKS`."""
    if not done:
        return []
    locks.take(connection, locks.Level.DELIVERY)
    # Locked: an acknowledgement applied meanwhile decides, and the attempt is superseded.
    ids = sorted({d.claim.delivery_id for d in done})
    current = {r.id: (r.status, r.attempts) for r in _CURRENT.rows(connection, {"ids": ids})}
    settles: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    finished = []
    for item in done:
        ours = current.get(item.claim.delivery_id) == ("in_flight", item.claim.attempt)
        result = _settle(item, policy, rand, settles, records) if ours else None
        if result is not None:  # a later attempt in this batch is not this one's to settle
            current[item.claim.delivery_id] = (result.status, item.claim.attempt)
        _audit(connection, item, result, actor)
        finished.append(result or Finished("superseded"))
    _run_grouped(connection, _SETTLE, settles)
    _run_grouped(connection, _RECORD, [_attempt_values(item) for item in done])
    save_case_records(connection, records)
    return finished


def _run_grouped(connection: Connection, prepared: Prepared, rows: list[dict[str, Any]]) -> None:
    """Run `prepared` once per row, as one executemany per set of columns."""
    groups: dict[tuple[str, ...], list[Params]] = defaultdict(list)
    for row in rows:
        groups[tuple(row)].append(row)
    for group in groups.values():
        prepared.run(connection, group)


def _settle(
    item: Attempted,
    policy: RetryPolicy,
    rand: Callable[[], float],
    settles: list[dict[str, Any]],
    records: list[dict[str, Any]],
) -> Finished:
    claimed, outcome, now = item.claim, item.outcome, item.at
    values: dict[str, Any] = {"row_id": claimed.delivery_id, "lease_until": None, "updated_at": now}
    if item.payload is not None:
        values |= {"payload": item.payload.body, "payload_media_type": item.payload.media_type}
    if isinstance(outcome, SendResult):
        status = "delivered" if outcome.acknowledged else "sent"
        values |= {"status": status, "target_reference": outcome.target_reference}
        values |= {"last_error": None, "next_attempt_at": None}
        values["delivered_at" if outcome.acknowledged else "sent_at"] = now
        finished = Finished(status)
        if outcome.person_id or outcome.episode_ref:
            records.append(
                {
                    "episode_id": claimed.episode_id,
                    "council": claimed.council,
                    "system": claimed.system,
                    "person_id": outcome.person_id,
                    "case_episode_id": outcome.episode_ref,
                    "updated_at": now,
                }
            )
    else:
        when = next_attempt(
            policy,
            outcome,
            attempts=claimed.budget_used,
            created_at=claimed.created_at,
            now=now,
            rand=rand,
            high_risk=claimed.high_risk,
        )
        if isinstance(when, GiveUp):
            values |= {"status": "dead", "last_error": when.reason, "next_attempt_at": None}
            finished = Finished("dead")
        else:
            values |= {"status": "retrying", "last_error": outcome.reason, "next_attempt_at": when}
            finished = Finished("retrying", when)
    settles.append(values)
    return finished


def _attempt_values(item: Attempted) -> dict[str, Any]:
    outcome = item.outcome
    keys = {"row_id": item.claim.delivery_id, "attempt_no": item.claim.attempt}
    if isinstance(outcome, SendResult):
        return keys | {
            "finished_at": item.at,
            "outcome": _attempt_outcome(outcome),
            "http_status": outcome.http_status,
            "target_reference": outcome.target_reference,
        }
    return keys | {
        "finished_at": item.at,
        "outcome": _attempt_outcome(outcome),
        "http_status": outcome.http_status,
        "error": outcome.reason,
    }


def _attempt_outcome(outcome: SendResult | DeliveryError) -> str:
    if isinstance(outcome, SendResult):
        return "delivered" if outcome.acknowledged else "sent"
    return "permanent" if isinstance(outcome, PermanentDelivery) else "retryable"


def _audit(connection: Connection, item: Attempted, finished: Finished | None, actor: str) -> None:
    """The attempt's entry, then (when it decided) the disclosure and the settlement."""
    claimed, outcome = item.claim, item.outcome

    def note(action: audit.Action, details: dict[str, Any]) -> None:
        audit.append(
            connection,
            actor=actor,
            action=action,
            subject=claimed.delivery_id,
            details=details,
            at=item.at,
        )

    note(
        audit.Action.ATTEMPTED,
        {
            "attempt": claimed.attempt,
            "council": claimed.council,
            "system": claimed.system,
            "http_status": outcome.http_status,
            "outcome": _attempt_outcome(outcome),
        },
    )
    if finished is None:
        return
    if isinstance(outcome, SendResult):
        # The payload has left the gateway: a disclosure to the council (docs/architecture.md).
        note(
            audit.Action.DISCLOSED,
            {
                "recipient": claimed.council,
                "system": claimed.system,
                "episode_id": claimed.episode_id,
                "purpose": PURPOSE,
            },
        )
        if finished.status == "delivered":
            reference = {"council": claimed.council, "target_reference": outcome.target_reference}
            note(audit.Action.DELIVERED, reference)
    elif finished.status == "dead":
        note(audit.Action.DEAD_LETTERED, {"council": claimed.council, "attempts": claimed.attempt})


def _upsert(dialect: str) -> Prepared:
    new = (postgresql if dialect == "postgresql" else sqlite).insert(case_records)
    kept = {
        name: func.coalesce(func.nullif(new.excluded[name], ""), case_records.c[name])
        for name in ("person_id", "case_episode_id")
    }
    return Prepared(
        new.on_conflict_do_update(
            index_elements=[case_records.c.episode_id, case_records.c.council],
            set_={**kept, "updated_at": new.excluded.updated_at},
        )
    )


_UPSERT = {name: _upsert(name) for name in ("postgresql", "sqlite")}


def save_case_records(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Keep the ids case systems gave children and episodes (for SSDA903), one upsert each.

    Each row: `episode_id`, `council`, `system`, `person_id`, `case_episode_id`, `updated_at`.
    An upsert, so two steps recording the same episode and council at once (an attempt's
    outcome and an acknowledgement) both succeed; an id not given keeps its value.
    """
    if not rows:
        return
    locks.take(connection, locks.Level.CASE_RECORD)
    _UPSERT[connection.dialect.name].run(connection, rows)


def save_case_record(
    connection: Connection,
    episode_id: str,
    council: str,
    system: str,
    *,
    person_id: str | None,
    case_episode_id: str | None,
    now: datetime,
) -> None:
    """Keep the ids the council's case system gave the child and the episode (for SSDA903)."""
    row: dict[str, Any] = {"episode_id": episode_id, "council": council, "system": system}
    row |= {"person_id": person_id, "case_episode_id": case_episode_id, "updated_at": now}
    save_case_records(connection, [row])
