"""Queueing a delivery: one outbox row per (event, target council), shared by ingest and replay.

The row's `seq` is the next number for its (episode, council), so callers must enqueue an
episode's events in event order: that is the ordering key the outbox claims by.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select

from gateway.canonical import RiskLevel
from gateway.store.schema import deliveries

if TYPE_CHECKING:  # ingest imports this module; the type alone is needed here
    from gateway.ingest import Deadlines

PRIORITY = {RiskLevel.HIGH: 0, RiskLevel.MEDIUM: 1, RiskLevel.LOW: 2, RiskLevel.NO_APPARENT_RISK: 3}
RISK_BY_PRIORITY = {priority: risk for risk, priority in PRIORITY.items()}


def enqueue(
    connection: Connection,
    *,
    episode_id: str,
    event_id: str,
    council: str,
    system: str,
    risk: RiskLevel,
    now: datetime,
    deadlines: Deadlines,
    flags: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Insert a pending delivery, due now, inside the caller's transaction; returns its id.

    Its priority and deadline follow the event's risk level; its idempotency key is derived
    from its id and never changes, whatever retries and replays follow. `flags` are the council
    policy flags this delivery raises with the council (gateway/policy).
    """
    seq = (
        connection.execute(
            select(func.coalesce(func.max(deliveries.c.seq), 0)).where(
                deliveries.c.episode_id == episode_id, deliveries.c.council == council
            )
        ).scalar_one()
        + 1
    )
    delivery_id = str(uuid.uuid4())
    connection.execute(
        insert(deliveries).values(
            id=delivery_id,
            event_id=event_id,
            episode_id=episode_id,
            council=council,
            system=system,
            seq=seq,
            status="pending",
            priority=PRIORITY[risk],
            idempotency_key=uuid.UUID(delivery_id).hex,
            created_at=now,
            deadline_at=now + deadlines.for_risk(risk),
            next_attempt_at=now,
            attempts=0,
            attempt_floor=0,
            updated_at=now,
            flags=[dict(flag) for flag in flags],
        )
    )
    return delivery_id
