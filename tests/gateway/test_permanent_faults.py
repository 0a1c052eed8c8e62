"""Each simulator's permanent refusal dead-letters visibly; a replay after the fix lands once."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.deps import Services
from gateway.delivery.worker import Worker
from tests.conftest import KeyRing
from tests.gateway.delivery import Clock, drain, post, records, set_faults
from tests.messages import merlin

REDBRIDGE = (
    ("<HomeBorough>304<", "<HomeBorough>317<"),
    ("<PlacementBorough>304<", "<PlacementBorough>317<"),
)

# system: (council told on it, the MERLIN changes naming it, the reason the delivery log shows)
CASES: dict[str, tuple[str, tuple[tuple[str, str], ...], str]] = {
    "mosaic": ("304", (), "mosaic: payload rejected (422 VALIDATION) at $"),
    "fwi": ("830", (), "fwi: fault Validation (Client)"),
    "protocol": (
        "317",
        REDBRIDGE,
        "rejected by the case system: /ProtocolImport: refused by the simulator's reject fault",
    ),
}


def detail(client: TestClient, delivery_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """GET /v1/deliveries/{id} as the caller."""
    response = client.get(f"/v1/deliveries/{delivery_id}", headers=headers)
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()
    return item


@pytest.mark.parametrize("system", sorted(CASES))
def test_a_permanent_refusal_dead_letters_and_a_replay_after_the_fix_delivers_once(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    sims: TestClient,
    met: dict[str, str],
    keyring: KeyRing,
    system: str,
) -> None:
    """The reject fault is dead at once with the spec'd reason; the council's replay lands once."""
    council, changes, reason = CASES[system]
    set_faults(sims, system, reject_rate=1.0)
    receipt = post(client, "merlin", merlin(*changes), met)
    (delivery_id,) = [d["delivery_id"] for d in receipt["deliveries"] if d["council"] == council]
    drain(worker, clock, services.engine)
    own = keyring.headers("council", council=council)
    dead = detail(client, delivery_id, own)
    assert (dead["status"], dead["last_error"]) == ("dead", reason)
    assert len(dead["attempts"]) == 1, "a permanent refusal is not retried"
    assert council not in records(sims, system), "a refused payload is not recorded"

    set_faults(sims, system)
    replayed = client.post(f"/v1/deliveries/{delivery_id}/replay", headers=own)
    assert replayed.status_code == 202, replayed.text
    drain(worker, clock, services.engine)
    delivered = detail(client, delivery_id, own)
    assert delivered["status"] == "delivered" and delivered["last_error"] is None
    assert delivered["idempotency_key"] == dead["idempotency_key"]
    [record] = records(sims, system)[council]
    assert record["idempotency_key"] == dead["idempotency_key"]
    assert record["times_recorded"] == 1


def test_the_reject_fault_spares_the_calls_that_carry_no_payload(sims: TestClient) -> None:
    """Mosaic's token call and Protocol's ack feed are not refused, only the payload calls."""
    set_faults(sims, "mosaic", reject_rate=1.0)
    assert (
        sims.post(
            "/sim/mosaic/304/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "c",
                "client_secret": "s",
                "scope": "missing-episodes",
            },
        ).status_code
        == 200
    )
    set_faults(sims, "protocol", reject_rate=1.0)
    acks = sims.get("/sim/protocol/317/import/acks", headers={"X-Api-Key": "k"})
    assert acks.status_code == 200 and acks.json()["acks"] == []
