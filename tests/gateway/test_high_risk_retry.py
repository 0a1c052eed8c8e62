"""A high-risk delivery's retries wait at most 30 s, however far into its schedule it is."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.deps import Services
from gateway.canonical import utc_now
from gateway.delivery import outbox
from gateway.delivery.retry import RetryPolicy
from gateway.errors import RetryableDelivery
from gateway.store.schema import deliveries
from tests.conftest import KeyRing
from tests.gateway.delivery import claim, post
from tests.messages import merlin, new_id

POLICY = RetryPolicy(base=timedelta(seconds=2), cap=timedelta(minutes=10))
FAILED = RetryableDelivery("mosaic: temporary failure (503)", http_status=503)


def _next_wait(client: TestClient, services: Services, risk: str, keyring: KeyRing) -> timedelta:
    """Claim the risk's delivery to Brent as its ninth attempt, fail it; the wait it is given."""
    report = merlin(("<RiskLevel>MEDIUM<", f"<RiskLevel>{risk}<"), message_id=new_id())
    receipt = post(client, "merlin", report, keyring.headers("police", force="01"))
    now = utc_now() + timedelta(seconds=10)
    [claimed] = claim(services, now, {"304": 1})
    assert claimed.episode_id == receipt["episode_id"]
    assert claimed.high_risk is (risk == "HIGH")
    ninth = dataclasses.replace(claimed, budget_used=9)
    at = now + timedelta(seconds=1)
    attempt = outbox.Attempted(ninth, FAILED, None, at)
    outbox.finish_many(services.engine, [attempt], policy=POLICY, actor="test", rand=lambda: 0.99)
    with services.engine.connect() as connection:
        row = connection.execute(
            select(deliveries).where(deliveries.c.id == claimed.delivery_id)
        ).one()
    assert row.status == "retrying"
    wait: timedelta = row.next_attempt_at - at
    return wait


def test_a_failed_high_risk_delivery_is_tried_again_within_30_seconds(
    client: TestClient, services: Services, keyring: KeyRing
) -> None:
    """The claim knows the event is high risk, and its ninth failure waits at most 30 s."""
    wait = _next_wait(client, services, "HIGH", keyring)
    assert timedelta(seconds=15) < wait <= timedelta(seconds=30)


def test_a_failed_medium_risk_delivery_keeps_the_long_backoff(
    client: TestClient, services: Services, keyring: KeyRing
) -> None:
    """Other risks keep the ordinary schedule: the ninth failure waits minutes."""
    assert _next_wait(client, services, "MEDIUM", keyring) > timedelta(minutes=4)
