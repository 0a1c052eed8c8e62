"""`GET /v1/receipts`: a force's messages with every council told and where each stands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from gateway.canonical import utc_now
from gateway.store.schema import messages
from tests.conftest import KeyRing
from tests.gateway.delivery import ids_of, post, set_delivery
from tests.gateway.onboarding import HARROW
from tests.messages import compact, merlin, new_id


def receipts(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    """GET /v1/receipts; the JSON body of a 200."""
    response = client.get("/v1/receipts", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def report(client: TestClient, met: dict[str, str], n: int, *changes: Any) -> dict[str, Any]:
    """A MERLIN report of a new episode (Brent as host, Derbyshire responsible)."""
    return post(client, "merlin", merlin(*changes, message_id=new_id(), ref=f"24MIS5{n:05d}"), met)


def set_received(engine: Engine, receipt_id: str, **delta: float) -> None:
    """Move a message's reception into the past."""
    with engine.begin() as connection:
        connection.execute(
            update(messages)
            .where(messages.c.id == receipt_id)
            .values(received_at=utc_now() - timedelta(**delta))
        )


def test_a_police_key_lists_its_own_forces_messages_with_every_council_told(
    client: TestClient, met: dict[str, str], derbys: dict[str, str]
) -> None:
    """The Met sees its MERLIN report with Brent (host, Mosaic) and Derbyshire (responsible)."""
    mine = post(client, "merlin", merlin(), met)
    post(client, "compact", compact(), derbys)
    body = receipts(client, met)
    assert [i["receipt_id"] for i in body["items"]] == [mine["receipt_id"]]
    item = body["items"][0]
    assert item["force"] == "01" and item["source"] == "merlin" and item["status"] == "pending"
    assert item["event_types"] == ["reported"] and item["episode_id"] == mine["episode_id"]
    told = {c["council"]: c for c in item["councils"]}
    assert set(told) == {"304", "830"}
    assert told["304"]["council_name"] == "London Borough of Brent"
    assert (told["304"]["system"], told["304"]["role"]) == ("mosaic", "host")
    assert (told["830"]["system"], told["830"]["role"]) == ("fwi", "responsible")
    assert {c["state"] for c in told.values()} == {"pending"}
    assert {c["delivery_id"] for c in told.values()} == set(ids_of(mine).values())
    assert body["next_cursor"] is None
    derby = receipts(client, derbys)["items"]
    assert [(i["force"], i["councils"][0]["role"]) for i in derby] == [("30", "home")]


def test_a_police_key_asking_for_another_force_is_refused(
    client: TestClient, met: dict[str, str], keyring: KeyRing
) -> None:
    """force=30 with the Met's key is 403; council keys are 403; no key is 401."""
    other = client.get("/v1/receipts", params={"force": "30"}, headers=met)
    assert other.status_code == 403 and other.json()["code"] == "forbidden-force"
    assert client.get("/v1/receipts", params={"force": "01"}, headers=met).status_code == 200
    council = keyring.headers("council", council="304")
    assert client.get("/v1/receipts", headers=council).status_code == 403
    assert client.get("/v1/receipts").status_code == 401


def test_an_operator_lists_every_force_or_one(
    client: TestClient, met: dict[str, str], derbys: dict[str, str], operator: dict[str, str]
) -> None:
    """Without `force` an operator sees both forces' messages, newest first; with it, one."""
    first = post(client, "merlin", merlin(), met)
    second = post(client, "compact", compact(), derbys)
    listed = [i["receipt_id"] for i in receipts(client, operator)["items"]]
    assert listed == [second["receipt_id"], first["receipt_id"]]
    only = receipts(client, operator, force="01")["items"]
    assert [i["receipt_id"] for i in only] == [first["receipt_id"]]


def _statuses(client: TestClient, met: dict[str, str], engine: Engine) -> dict[str, str]:
    """Six messages, one in each message status; their receipt ids by that status."""
    made = {name: report(client, met, n) for n, name in enumerate(("delivered", "pending"))}
    made["dead"] = report(client, met, 3)
    made["overdue"] = report(client, met, 4)
    made["unroutable"] = post(client, "merlin", merlin(*HARROW, message_id=new_id()), met)
    made["stale"] = post(
        client, "merlin", merlin(message_id=new_id(), ref="24MIS500000", version=1), met
    )
    assert made["stale"]["stale"] is True
    for delivery_id in ids_of(made["delivered"]).values():
        set_delivery(engine, delivery_id, status="delivered", delivered_at=utc_now())
    dead = ids_of(made["dead"])
    set_delivery(engine, dead["304"], status="dead", last_error="refused")
    set_delivery(engine, dead["830"], status="delivered", delivered_at=utc_now())
    late = ids_of(made["overdue"])["830"]
    set_delivery(engine, late, status="retrying", deadline_at=utc_now() - timedelta(minutes=1))
    return {status: r["receipt_id"] for status, r in made.items()}


def test_each_message_status_follows_its_deliveries(
    client: TestClient, met: dict[str, str], engine: Engine
) -> None:
    """The most urgent state wins: dead, unroutable, overdue, pending, delivered; stale alone."""
    expected = _statuses(client, met, engine)
    items = receipts(client, met)["items"]
    assert {i["receipt_id"]: i["status"] for i in items} == {v: k for k, v in expected.items()}
    for status, receipt_id in expected.items():
        filtered = receipts(client, met, status=status)["items"]
        assert [i["receipt_id"] for i in filtered] == [receipt_id], status
    states = {i["status"]: {c["state"] for c in i["councils"]} for i in items}
    assert states["dead"] == {"dead", "delivered"}
    assert states["overdue"] == {"overdue", "pending"}
    assert states["stale"] == set()


def test_a_council_that_is_not_onboarded_shows_as_unroutable_with_its_official_name(
    client: TestClient, met: dict[str, str]
) -> None:
    """Harrow (310, host) and Hillingdon (312, responsible) wait: no system, no delivery."""
    post(client, "merlin", merlin(*HARROW), met)
    (item,) = receipts(client, met)["items"]
    assert item["status"] == "unroutable"
    told = {c["council"]: c for c in item["councils"]}
    assert told["310"]["council_name"] == "London Borough of Harrow"
    assert (told["310"]["role"], told["312"]["role"]) == ("host", "responsible")
    assert {(c["state"], c["system"], c["delivery_id"]) for c in told.values()} == {
        ("unroutable", None, None)
    }


def test_since_until_and_source_narrow_the_list(
    client: TestClient, met: dict[str, str], engine: Engine, operator: dict[str, str]
) -> None:
    """Messages received before `since` or from `until` on are left out."""
    old = report(client, met, 1)
    new = report(client, met, 2)
    set_received(engine, old["receipt_id"], hours=3)
    since = (utc_now() - timedelta(hours=1)).isoformat()
    assert [i["receipt_id"] for i in receipts(client, met, since=since)["items"]] == [
        new["receipt_id"]
    ]
    assert [i["receipt_id"] for i in receipts(client, met, until=since)["items"]] == [
        old["receipt_id"]
    ]
    assert receipts(client, operator, source="compact")["items"] == []
    naive = client.get("/v1/receipts", params={"since": "2024-05-01T08:00:00"}, headers=met)
    assert naive.status_code == 422


def test_pages_follow_the_cursor_and_a_forged_cursor_is_refused(
    client: TestClient, met: dict[str, str]
) -> None:
    """Five messages in pages of two: 2, 2, 1, newest first, none twice; a bad cursor is 422."""
    made = [report(client, met, n)["receipt_id"] for n in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = receipts(client, met, **params)
        seen += [i["receipt_id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == list(reversed(made))
    bad = client.get("/v1/receipts", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=met)
    assert bad.status_code == 422
    assert [e["path"] for e in bad.json()["errors"]] == ["/query/cursor"]


@pytest.mark.parametrize("status", ["lost", ""])
def test_an_unknown_status_is_a_422_naming_it(
    client: TestClient, met: dict[str, str], status: str
) -> None:
    """Only the documented statuses filter."""
    response = client.get("/v1/receipts", params={"status": status}, headers=met)
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["/query/status"]
