"""The demo: `gateway serve` with no settings delivers the spec examples to the simulators."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.acceptance.process import GatewayProcess
from tests.messages import compact, merlin

pytestmark = pytest.mark.slow
XML = {"Content-Type": "application/xml"}


def _settled(http: httpx.Client, operator: dict[str, str], episode_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = http.get(
        "/v1/deliveries", params={"episode_id": episode_id}, headers=operator
    ).json()["items"]
    return items if items and all(i["status"] == "delivered" for i in items) else []


@pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)
def test_spec_examples_show_up_delivered_in_the_simulators_and_the_delivery_log(
    gateway: GatewayProcess, record_property: Any
) -> None:
    """Post both examples as curl would; both land in the simulators and read as delivered."""
    met = gateway.key("--role", "police", "--force", "01")
    derbys = gateway.key("--role", "police", "--force", "30")
    operator = gateway.key("--role", "operator")
    gateway.start()
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        receipts = [
            http.post("/v1/inbound/merlin", content=merlin(), headers={**XML, **met}).json(),
            http.post("/v1/inbound/compact", content=compact(), headers={**XML, **derbys}).json(),
        ]
        posted = time.monotonic()
        settled: dict[str, list[dict[str, Any]]] = {}
        while len(settled) < len(receipts) and time.monotonic() - posted < 30:
            for receipt in receipts:
                items = _settled(http, operator, receipt["episode_id"])
                if items:
                    settled[receipt["episode_id"]] = items
            time.sleep(0.05)
        elapsed = time.monotonic() - posted
        assert len(settled) == len(receipts), "not delivered within 30 s"
        record_property("delivered_and_visible_after_s", round(elapsed, 3))
        books = {s: http.get(f"/sim/{s}/_control/records").json() for s in ("mosaic", "fwi")}
        keys = {
            http.get(f"/v1/deliveries/{d['delivery_id']}", headers=operator).json()[
                "idempotency_key"
            ]
            for items in settled.values()
            for d in items
        }
    assert [r["event_type"] for r in books["mosaic"]["304"]] == ["REPORTED"]
    assert sorted(r["event_type"] for r in books["fwi"]["830"]) == ["Reported", "Reported"]
    recorded = {r["idempotency_key"] for book in books.values() for rs in book.values() for r in rs}
    assert keys == recorded
