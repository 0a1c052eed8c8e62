"""The delivery log API: filters, keyset pages, detail with attempts and payload, roles."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gateway.api.deps import Services
from gateway.canonical import utc_now
from gateway.store.schema import audit_log, deliveries
from tests.conftest import KeyRing
from tests.gateway.delivery import add_attempt, another_report, ids_of, post, set_delivery
from tests.messages import compact, merlin

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def listing(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    """GET /v1/deliveries with query parameters."""
    return client.get("/v1/deliveries", params=params, headers=headers)


def listed_ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    """The delivery ids of one page."""
    response = listing(client, headers, **params)
    assert response.status_code == 200, response.text
    return [item["delivery_id"] for item in response.json()["items"]]


@pytest.fixture
def examples(
    client: TestClient, met: dict[str, str], derbys: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Both spec examples posted: MERLIN (to 304 and 830), then COMPACT (to 830)."""
    return {
        "merlin": post(client, "merlin", merlin(), met),
        "compact": post(client, "compact", compact(), derbys),
    }


def test_list_is_newest_first_with_the_documented_fields(
    client: TestClient, examples: dict[str, dict[str, Any]], operator: dict[str, str]
) -> None:
    """The COMPACT delivery (posted last) comes first; every item has the contract's fields."""
    body = listing(client, operator).json()
    assert body["next_cursor"] is None
    items = body["items"]
    assert items[0]["delivery_id"] == ids_of(examples["compact"])["830"]
    assert {i["delivery_id"] for i in items[1:]} == set(ids_of(examples["merlin"]).values())
    first = items[0]
    assert (first["council"], first["system"], first["status"]) == ("830", "fwi", "pending")
    assert (first["risk"], first["priority"], first["event_type"]) == ("high", 0, "reported")
    assert first["episode_id"] == examples["compact"]["episode_id"]
    assert first["seq"] == 1 and first["attempt_count"] == 0
    # The 2024 example arrives years after its report: Derbyshire's pack flags it at once.
    assert {f["rule"] for f in first["flags"]} >= {"missing_3_days_review_5_days"}
    assert all(f["council"] == "830" and f["reason"] for f in first["flags"])
    assert first["overdue"] is False and first["ack_overdue"] is False
    assert first["created_at"].endswith("Z") and first["deadline_at"].endswith("Z")
    created = datetime.fromisoformat(first["created_at"])
    assert datetime.fromisoformat(first["deadline_at"]) - created == timedelta(minutes=15)
    assert {i["risk"] for i in items[1:]} == {"medium"}
    for key in ("next_attempt_at", "delivered_at", "target_reference", "last_error", "sent_at"):
        assert key in first


def test_pages_cover_every_delivery_once_in_order(
    client: TestClient, engine: Engine, met: dict[str, str], operator: dict[str, str]
) -> None:
    """Pages of 3 over 12 deliveries (pairs sharing a creation time) have no gaps or repeats."""
    for n in range(6):
        another_report(client, met, n)
    with engine.connect() as connection:
        rows = connection.execute(select(deliveries.c.id, deliveries.c.created_at)).all()
    expected = [r.id for r in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = listing(client, operator, **params).json()
        assert len(page["items"]) <= 3
        seen += [i["delivery_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected and len(expected) == 12


def test_filters_by_status_council_system_and_episode(
    client: TestClient,
    engine: Engine,
    examples: dict[str, dict[str, Any]],
    operator: dict[str, str],
) -> None:
    """Each filter narrows the list to exactly the matching deliveries."""
    merlin_ids, compact_ids = ids_of(examples["merlin"]), ids_of(examples["compact"])
    set_delivery(engine, merlin_ids["830"], status="dead", last_error="gave up")
    assert listed_ids(client, operator, status="dead") == [merlin_ids["830"]]
    assert listed_ids(client, operator, status="delivered") == []
    assert set(listed_ids(client, operator, council="830")) == {
        merlin_ids["830"],
        compact_ids["830"],
    }
    assert listed_ids(client, operator, system="mosaic") == [merlin_ids["304"]]
    episode = examples["merlin"]["episode_id"]
    assert set(listed_ids(client, operator, episode_id=episode)) == set(merlin_ids.values())
    assert listed_ids(client, operator, council="830", status="pending") == [compact_ids["830"]]


def test_since_and_until_select_by_creation_time(
    client: TestClient, engine: Engine, met: dict[str, str], operator: dict[str, str]
) -> None:
    """`since` is inclusive and `until` exclusive, on created_at; offsets are honoured."""
    made = [ids_of(another_report(client, met, n))["304"] for n in range(3)]
    for hours, delivery_id in enumerate(made):
        set_delivery(engine, delivery_id, created_at=T0 + timedelta(hours=hours))
    both = {"council": "304"}
    assert listed_ids(client, operator, since="2024-05-01T13:00:00Z", **both) == made[:0:-1]
    assert listed_ids(client, operator, until="2024-05-01T13:00:00Z", **both) == [made[0]]
    assert listed_ids(client, operator, since="2024-05-01T13:00:00+01:00", **both) == made[::-1]
    window = {"since": "2024-05-01T12:30:00Z", "until": "2024-05-01T14:00:00Z"}
    assert listed_ids(client, operator, **window, **both) == [made[1]]


def test_overdue_is_flagged_and_filtered(
    client: TestClient,
    engine: Engine,
    examples: dict[str, dict[str, Any]],
    operator: dict[str, str],
) -> None:
    """Past its deadline and not delivered is overdue; a delivered one never is."""
    merlin_ids, compact_ids = ids_of(examples["merlin"]), ids_of(examples["compact"])
    past = utc_now() - timedelta(minutes=1)
    set_delivery(engine, merlin_ids["304"], status="retrying", deadline_at=past)
    set_delivery(engine, merlin_ids["830"], status="delivered", deadline_at=past)
    assert listed_ids(client, operator, overdue="true") == [merlin_ids["304"]]
    assert set(listed_ids(client, operator, overdue="false")) == {
        merlin_ids["830"],
        compact_ids["830"],
    }
    items = {i["delivery_id"]: i for i in listing(client, operator).json()["items"]}
    assert items[merlin_ids["304"]]["overdue"] is True
    assert items[merlin_ids["830"]]["overdue"] is False


def test_a_sent_delivery_is_ack_overdue_after_the_setting(
    client: TestClient,
    engine: Engine,
    services: Services,
    examples: dict[str, dict[str, Any]],
    operator: dict[str, str],
) -> None:
    """A drop unacknowledged for longer than ack_overdue_s is ack_overdue; a recent one is not."""
    merlin_ids = ids_of(examples["merlin"])
    late = utc_now() - timedelta(seconds=services.settings.ack_overdue_s + 60)
    set_delivery(engine, merlin_ids["304"], status="sent", sent_at=late)
    set_delivery(engine, merlin_ids["830"], status="sent", sent_at=utc_now())
    items = {i["delivery_id"]: i for i in listing(client, operator).json()["items"]}
    assert items[merlin_ids["304"]]["ack_overdue"] is True
    assert items[merlin_ids["830"]]["ack_overdue"] is False
    assert items[merlin_ids["304"]]["sent_at"].endswith("Z")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"since": "2024-05-01T12:00:00"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"status": "lost"}, "status"),
        ({"system": "carefirst"}, "system"),
        ({"council": "30"}, "council"),
        ({"overdue": "perhaps"}, "overdue"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_invalid_parameters_are_422_naming_the_parameter(
    client: TestClient, operator: dict[str, str], params: dict[str, Any], parameter: str
) -> None:
    """A naive or unparsable time, an unknown status or system, a bad limit: 422 problem."""
    response = listing(client, operator, **params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid-request"
    assert [e["path"] for e in problem["errors"]] == [f"/query/{parameter}"]


def test_limit_bounds_are_inclusive(
    client: TestClient, examples: dict[str, dict[str, Any]], operator: dict[str, str]
) -> None:
    """limit=1 gives one item and a cursor; limit=500 is allowed."""
    one = listing(client, operator, limit=1).json()
    assert len(one["items"]) == 1 and one["next_cursor"] is not None
    assert len(listing(client, operator, limit=500).json()["items"]) == 3


def _forged(cursor: str) -> str:
    """The same cursor with its id edited (and its checksum left alone)."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    at, _, check = raw.split("|")
    forged = f"{at}|{uuid.uuid4()}|{check}".encode()
    return base64.urlsafe_b64encode(forged).decode().rstrip("=")


def test_a_damaged_or_edited_cursor_is_refused(
    client: TestClient, examples: dict[str, dict[str, Any]], operator: dict[str, str]
) -> None:
    """Garbage, a cut-short cursor and an edited one are each a 422 naming the cursor."""
    cursor = listing(client, operator, limit=1).json()["next_cursor"]
    assert listing(client, operator, limit=1, cursor=cursor).status_code == 200
    for bad in ("not-a-cursor", cursor[:-6], _forged(cursor), "%%%"):
        response = listing(client, operator, cursor=bad)
        assert response.status_code == 422, bad
        error = response.json()["errors"][0]
        assert error["path"] == "/query/cursor" and "not one this API issued" in error["message"]


def test_detail_has_attempts_payload_and_idempotency_key(
    client: TestClient,
    engine: Engine,
    examples: dict[str, dict[str, Any]],
    operator: dict[str, str],
) -> None:
    """Attempts in number order, the payload as sent with its media type, the stable key."""
    delivery_id = ids_of(examples["merlin"])["304"]
    sent = json.dumps({"person": {"reference": "synthetic-1"}}).encode()
    add_attempt(
        engine, delivery_id, 2, outcome="delivered", http_status=201, target_reference="M-1"
    )
    add_attempt(engine, delivery_id, 1, outcome="retryable", http_status=503, error="unavailable")
    set_delivery(
        engine,
        delivery_id,
        status="delivered",
        attempts=2,
        delivered_at=utc_now(),
        target_reference="M-1",
        payload=sent,
        payload_media_type="application/json",
    )
    detail = client.get(f"/v1/deliveries/{delivery_id}", headers=operator).json()
    assert detail["delivery_id"] == delivery_id and detail["status"] == "delivered"
    assert detail["idempotency_key"] == uuid.UUID(delivery_id).hex
    assert [(a["number"], a["outcome"], a["http_status"]) for a in detail["attempts"]] == [
        (1, "retryable", 503),
        (2, "delivered", 201),
    ]
    assert detail["attempts"][0]["error"] == "unavailable"
    assert detail["attempts"][1]["target_reference"] == "M-1"
    assert detail["attempts"][0]["started_at"].endswith("Z")
    assert detail["payload"] == {
        "media_type": "application/json",
        "encoding": "utf-8",
        "body": sent.decode(),
        "purged": False,
    }
    assert detail["attempt_count"] == 2 and detail["target_reference"] == "M-1"


def test_detail_before_rendering_has_no_payload_and_binary_is_base64(
    client: TestClient,
    engine: Engine,
    examples: dict[str, dict[str, Any]],
    operator: dict[str, str],
) -> None:
    """An unsent delivery has a null payload body; bytes that are not UTF-8 come as base64."""
    merlin_ids = ids_of(examples["merlin"])
    fresh = client.get(f"/v1/deliveries/{merlin_ids['304']}", headers=operator).json()
    assert fresh["attempts"] == []
    assert fresh["payload"] == {
        "media_type": None,
        "encoding": None,
        "body": None,
        "purged": False,
    }
    set_delivery(engine, merlin_ids["830"], payload=b"\xff\xfe<x/>", payload_media_type="text/xml")
    odd = client.get(f"/v1/deliveries/{merlin_ids['830']}", headers=operator).json()
    assert odd["payload"]["encoding"] == "base64"
    assert base64.b64decode(odd["payload"]["body"]) == b"\xff\xfe<x/>"


def test_reading_a_delivery_is_audited_as_a_consultation(
    client: TestClient,
    engine: Engine,
    examples: dict[str, dict[str, Any]],
    keyring: KeyRing,
) -> None:
    """Each read appends a 'consulted' entry naming the caller, with ids and purpose only."""
    delivery_id = ids_of(examples["merlin"])["304"]
    key = keyring.issue("council", council="304")
    assert client.get(f"/v1/deliveries/{delivery_id}", headers={"Authorization": f"Bearer {key}"})
    with engine.connect() as connection:
        last = connection.execute(select(audit_log).order_by(audit_log.c.seq.desc())).first()
    assert last is not None
    assert (last.action, last.subject) == ("consulted", delivery_id)
    assert last.actor == f"council:304:{key.split('_')[1]}"
    entry = json.loads(last.entry)
    assert entry["details"]["purpose"] == "delivery_log"
    for personal in ("Testchild", "Alex", "2010-03-04", "9997654323", "HA9"):
        assert personal not in last.entry


def test_listing_is_not_audited(
    client: TestClient,
    engine: Engine,
    examples: dict[str, dict[str, Any]],
    operator: dict[str, str],
) -> None:
    """The list shows no payload or personal data, so it adds no consultation entry."""
    with engine.connect() as connection:
        before = connection.execute(select(audit_log.c.seq)).all()
    listing(client, operator)
    with engine.connect() as connection:
        assert connection.execute(select(audit_log.c.seq)).all() == before


def test_a_council_lists_only_its_own_deliveries(
    client: TestClient, examples: dict[str, dict[str, Any]], keyring: KeyRing
) -> None:
    """Brent sees its one delivery; asking for Derbyshire's gives an empty page, not an error."""
    brent = keyring.headers("council", council="304")
    assert listed_ids(client, brent) == [ids_of(examples["merlin"])["304"]]
    assert listed_ids(client, brent, council="830") == []
    assert listed_ids(client, brent, council="304") == [ids_of(examples["merlin"])["304"]]
    derbyshire = keyring.headers("council", council="830")
    assert len(listed_ids(client, derbyshire)) == 2


def test_a_council_cannot_read_another_councils_delivery(
    client: TestClient, examples: dict[str, dict[str, Any]], keyring: KeyRing
) -> None:
    """Brent reading Derbyshire's delivery gets the same 404 as for an id that does not exist."""
    brent = keyring.headers("council", council="304")
    theirs = client.get(f"/v1/deliveries/{ids_of(examples['compact'])['830']}", headers=brent)
    unknown = client.get(f"/v1/deliveries/{uuid.uuid4()}", headers=brent)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"] == unknown.json()["detail"]
    own = client.get(f"/v1/deliveries/{ids_of(examples['merlin'])['304']}", headers=brent)
    assert own.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/deliveries"),
        ("GET", "/v1/deliveries/{id}"),
        ("POST", "/v1/deliveries/{id}/replay"),
    ],
)
def test_police_keys_are_refused_and_keyless_calls_unauthenticated(
    client: TestClient,
    examples: dict[str, dict[str, Any]],
    met: dict[str, str],
    method: str,
    path: str,
) -> None:
    """The delivery log is for councils and operators: police 403, no key 401."""
    url = path.format(id=ids_of(examples["merlin"])["304"])
    refused = client.request(method, url, headers=met)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden-role"
    anonymous = client.request(method, url)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"


def test_a_replay_body_that_cannot_be_read_is_a_documented_400(
    client: TestClient, examples: dict[str, dict[str, Any]], keyring: KeyRing
) -> None:
    """Bytes that are not UTF-8 JSON get a problem the API documents, and nothing is queued."""
    brent = keyring.headers("council", council="304")
    url = f"/v1/deliveries/{ids_of(examples['merlin'])['304']}/replay"
    response = client.post(
        url, content=b"\xc3\x28K.", headers={**brent, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    documented = client.get("/openapi.json").json()["paths"]["/v1/deliveries/{delivery_id}/replay"][
        "post"
    ]["responses"]
    assert "400" in documented
