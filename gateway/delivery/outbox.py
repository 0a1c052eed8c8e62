"""The outbox (docs/architecture.md): one name for its three parts.

- `gateway.delivery.claims`: claiming due deliveries, in order per episode and council,
  highest risk first, under leases.
- `gateway.delivery.outcomes`: recording how attempts ended, in batches, with their audit
  entries and the case systems' ids.
- `gateway.delivery.acks`: Protocol's asynchronous acknowledgements.

Each step is a short unit of work naming its locks (gateway/store/locks.py gives their
order), so nothing is held open while a case system answers, and the steps of several workers
run side by side, taking the audit chain's lock only at commit. A worker's round claims and
records in one (`record_and_claim`, docs/decisions/0035).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from gateway.delivery.acks import ACK_LOCKS, ack_cursor, apply_acks, awaiting_ack
from gateway.delivery.claims import CLAIM_LOCKS, DUE, SETTLED, Capacity, Claim, claim, claim_in
from gateway.delivery.outcomes import (
    FINISH_LOCKS,
    PURPOSE,
    Attempted,
    Finished,
    finish,
    finish_in,
    finish_many,
    save_case_record,
    save_case_records,
)
from gateway.delivery.retry import RetryPolicy
from gateway.store import locks
from gateway.store.work import unit_of_work

__all__ = [
    "ACK_LOCKS",
    "CLAIM_LOCKS",
    "DUE",
    "FINISH_LOCKS",
    "PURPOSE",
    "ROUND_LOCKS",
    "SETTLED",
    "Attempted",
    "Claim",
    "Finished",
    "ack_cursor",
    "apply_acks",
    "awaiting_ack",
    "claim",
    "finish",
    "finish_many",
    "record_and_claim",
    "save_case_record",
    "save_case_records",
]


# A round claims (the breakers' rows, then deliveries) and records (deliveries, case records).
ROUND_LOCKS = (locks.Level.BREAKER, locks.Level.DELIVERY, locks.Level.CASE_RECORD)


def record_and_claim(
    engine: Engine,
    done: Sequence[Attempted],
    *,
    capacity: Capacity,
    limit: int,
    now: datetime,
    lease: Callable[[str], timedelta],
    policy: RetryPolicy,
    actor: str,
    rand: Callable[[], float] = random.random,
) -> tuple[list[Finished], list[Claim]]:
    """A worker's round in one unit of work: claim what is due, then record what ended.

    One transaction and one commit for both. The claim comes first, as the lock levels
    require, so a delivery whose predecessor is recorded here is claimable from the next round.
    """
    with unit_of_work(engine, audits=True, locks=ROUND_LOCKS) as connection:
        claims = claim_in(
            connection, capacity=capacity, limit=limit, now=now, lease=lease, actor=actor
        )
        finished = finish_in(connection, done, policy=policy, actor=actor, rand=rand)
        return finished, claims
