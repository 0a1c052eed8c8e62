"""Inbound API end to end: spec examples, receipts, duplicates, conflicts, stale versions, roles."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import anyio.to_thread
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gateway.api.app import build_services, create_app
from gateway.ingest.batching import Ingestor
from gateway.ingest.prepare import Submission
from gateway.ingest.write import Outcome
from gateway.settings import Settings
from gateway.store.engine import make_engine
from gateway.store.schema import audit_log, children
from tests.conftest import KeyRing
from tests.gateway.delivery import counts
from tests.messages import MERLIN_FOUND, compact, merlin, new_id

XML = {"Content-Type": "application/xml"}


def post(client: TestClient, source: str, body: bytes, headers: dict[str, str]) -> Any:
    """POST a message with the XML content type."""
    return client.post(f"/v1/inbound/{source}", content=body, headers={**XML, **headers})


def test_merlin_spec_example_gives_the_implied_episode(
    client: TestClient, met: dict[str, str], operator: dict[str, str]
) -> None:
    """The MERLIN example: looked-after child placed in Brent by Derbyshire, told to both."""
    response = post(client, "merlin", merlin(), met)
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["status"] == "accepted" and receipt["event_types"] == ["reported"]
    assert receipt["message_id"] == "6f1c9a52-3d7e-4d55-9a0e-2b8f7c1d0e44"
    assert {(d["council"], d["system"], d["status"]) for d in receipt["deliveries"]} == {
        ("304", "mosaic", "pending"),
        ("830", "fwi", "pending"),
    }
    assert receipt["unroutable_councils"] == [] and receipt["stale"] is False
    episode = client.get(f"/v1/episodes/{receipt['episode_id']}", headers=operator).json()
    assert episode["police_category"] == "missing" and episode["whereabouts_known"] is False
    assert episode["dfe_missing_type"] == "M" and episode["status"] == "open"
    assert episode["risk_level"] == "medium"
    assert episode["risk_history"] == [{"level": "medium", "at": "2024-05-01T20:55:00Z"}]
    assert episode["child"]["nhs_number"] == "9997654323"
    assert episode["child"]["home_address"]["postcode"] == "HA9 0ZZ"
    assert (episode["home_council"], episode["responsible_council"]) == ("304", "830")
    assert episode["looked_after"] is True and episode["legal_status"] == "C2"
    assert episode["placement_type"] == "residential"
    assert episode["reported_at"] == "2024-05-01T20:30:00Z"
    assert episode["last_seen_at"] == "2024-05-01T17:00:00Z"
    assert sorted(episode["vulnerabilities"]) == ["county_lines", "cse"]
    assert episode["cin_factors"] == ["10A", "11A", "24A"]
    assert episode["sources"] == [{"source": "merlin", "force": "01", "reference": "24MIS012345"}]
    assert [e["type"] for e in episode["events"]] == ["reported"]
    assert episode["episodes_last_28_days"] == 1 and episode["return_interview_due_by"] is None


def test_compact_spec_example_converts_the_ambiguous_hour(
    client: TestClient, derbys: dict[str, str], operator: dict[str, str]
) -> None:
    """The COMPACT example: 27/10/2024 01:30 is the first (BST) occurrence, 00:30 UTC."""
    response = post(client, "compact", compact(), derbys)
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert [(d["council"], d["system"]) for d in receipt["deliveries"]] == [("830", "fwi")]
    episode = client.get(f"/v1/episodes/{receipt['episode_id']}", headers=operator).json()
    assert episode["risk_history"] == [{"level": "high", "at": "2024-10-27T00:30:00Z"}]
    assert episode["reported_at"] == "2024-10-27T00:05:00Z"
    assert episode["last_seen_at"] == "2024-10-26T22:15:00Z"
    assert episode["looked_after"] is False and episode["dfe_missing_type"] is None
    assert episode["child"]["nhs_number"] == "9997654323"
    assert episode["child"]["home_address"]["postcode"] == "DE4 3ZZ"
    assert episode["child"]["gender"] == "male"
    assert episode["vulnerabilities"] == ["self_harm"]
    assert episode["cin_factors"] == ["10A", "15A"]


@pytest.mark.parametrize("source", ["merlin", "compact"])
def test_resending_100_times_creates_nothing_new(
    client: TestClient, engine: Engine, met: dict[str, str], derbys: dict[str, str], source: str
) -> None:
    """Each resend answers 200 with the original receipt and writes no row anywhere."""
    body, headers = (merlin(), met) if source == "merlin" else (compact(), derbys)
    first = post(client, source, body, headers)
    assert first.status_code == 202
    before = counts(engine)
    for _ in range(100):
        again = post(client, source, body, headers)
        assert again.status_code == 200
        assert again.json() == {**first.json(), "status": "duplicate"}
    assert counts(engine) == before


def test_resend_with_different_formatting_is_still_a_duplicate(
    client: TestClient, met: dict[str, str]
) -> None:
    """Same content after XML canonicalisation (whitespace between tags) is the same message."""
    assert post(client, "merlin", merlin(), met).status_code == 202
    reformatted = merlin().replace(b"\n    <", b"\n<").replace(b"\n  <", b"\n<")
    assert post(client, "merlin", reformatted, met).status_code == 200


def test_conflicting_resend_is_409(client: TestClient, engine: Engine, met: dict[str, str]) -> None:
    """The same message id with different content is refused and changes nothing."""
    assert post(client, "merlin", merlin(), met).status_code == 202
    before = counts(engine)
    changed = merlin(("Outside the home", "At the bus station"))
    response = post(client, "merlin", changed, met)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "conflicting-resend"
    assert counts(engine) == before


def test_lower_version_is_stored_as_stale_without_deliveries(
    client: TestClient, engine: Engine, met: dict[str, str]
) -> None:
    """A version older than one accepted is 202, stale, and creates no event or delivery."""
    newer = post(
        client, "merlin", merlin(message_id=new_id(), version=3, notification="RISK_REVIEW"), met
    )
    assert newer.status_code == 202
    before = counts(engine)
    older = post(
        client, "merlin", merlin(message_id=new_id(), version=2, notification="UPDATE"), met
    )
    assert older.status_code == 202
    assert older.json()["stale"] is True and older.json()["deliveries"] == []
    assert older.json()["episode_id"] == newer.json()["episode_id"]
    after = counts(engine)
    assert after["messages"] == before["messages"] + 1
    assert (after["events"], after["deliveries"]) == (before["events"], before["deliveries"])


def test_notifications_of_one_report_join_one_episode(
    client: TestClient, met: dict[str, str], operator: dict[str, str]
) -> None:
    """MISSING_REPORT then FOUND of one MerlinRef: one episode, two events, interview due +72 h."""
    first = post(client, "merlin", merlin(), met).json()
    found = post(
        client,
        "merlin",
        merlin(MERLIN_FOUND, message_id=new_id(), version=2, notification="FOUND"),
        met,
    )
    assert found.status_code == 202, found.text
    assert found.json()["episode_id"] == first["episode_id"]
    episode = client.get(f"/v1/episodes/{first['episode_id']}", headers=operator).json()
    assert [e["type"] for e in episode["events"]] == ["reported", "found"]
    assert episode["status"] == "found"
    assert episode["found_at"] == "2024-05-02T08:15:00Z"
    assert episode["return_interview_due_by"] == "2024-05-05T08:15:00Z"


def test_child_is_matched_across_reports_by_nhs_number(
    client: TestClient, met: dict[str, str], operator: dict[str, str]
) -> None:
    """A second report for the same NHS number counts as the child's second episode."""
    post(client, "merlin", merlin(), met)
    second = post(
        client,
        "merlin",
        merlin(
            ("2024-05-01T18:00:00+01:00", "2024-05-09T18:00:00+01:00"),
            ("2024-05-01T21:30:00+01:00", "2024-05-09T21:30:00+01:00"),
            ("2024-05-01T21:55:00+01:00", "2024-05-09T21:55:00+01:00"),
            message_id=new_id(),
            ref="24MIS012399",
        ),
        met,
    ).json()
    episode = client.get(f"/v1/episodes/{second['episode_id']}", headers=operator).json()
    assert episode["episodes_last_28_days"] == 2 and episode["episodes_last_90_days"] == 2
    assert episode["episodes_last_30_days"] == 2 and episode["episodes_last_60_days"] == 2
    assert episode["episodes_total"] == 2


def test_child_without_nhs_number_is_matched_by_name_and_birth_date(
    client: TestClient, met: dict[str, str], operator: dict[str, str]
) -> None:
    """Without an NHS number on one side, normalised family name, first name and DOB match."""
    post(client, "merlin", merlin(), met)
    second = post(
        client,
        "merlin",
        merlin(
            ("<NhsNumber>9997654323</NhsNumber>", ""),
            ("Testchild", "TESTCHILD"),
            ("Alex Jordan", "alex"),
            message_id=new_id(),
            ref="24MIS012398",
        ),
        met,
    ).json()
    episode = client.get(f"/v1/episodes/{second['episode_id']}", headers=operator).json()
    assert episode["episodes_last_28_days"] == 2


def test_a_child_first_known_by_name_takes_the_nhs_number_a_later_report_gives(
    client: TestClient, met: dict[str, str], operator: dict[str, str], engine: Engine
) -> None:
    """A child recorded without an NHS number keeps the one a later report of it gives.

    The second report matches by name and birth date; the third, under another name, by NHS.
    """
    no_nhs = ("<NhsNumber>9997654323</NhsNumber>", "")
    post(client, "merlin", merlin(no_nhs), met)
    post(client, "merlin", merlin(message_id=new_id(), ref="24MIS012397"), met)
    third = post(
        client,
        "merlin",
        merlin(("Testchild", "Othername"), message_id=new_id(), ref="24MIS012396"),
        met,
    ).json()
    episode = client.get(f"/v1/episodes/{third['episode_id']}", headers=operator).json()
    assert episode["episodes_total"] == 3
    with engine.connect() as connection:
        numbers = connection.execute(select(children.c.nhs_number)).scalars().all()
    assert numbers == ["9997654323"]


def test_unroutable_council_is_stored_and_listed(
    client: TestClient, met: dict[str, str], operator: dict[str, str], keyring: KeyRing
) -> None:
    """A child living in Harrow (not onboarded) is accepted, listed unroutable, never dropped."""
    body = merlin(
        ("<HomeBorough>304</HomeBorough>", "<HomeBorough>310</HomeBorough>"),
        ("<LookedAfter>true</LookedAfter>", "<LookedAfter>false</LookedAfter>"),
        ("      <PlacementBorough>304</PlacementBorough>\n", ""),
    )
    receipt = post(client, "merlin", body, met).json()
    assert receipt["unroutable_councils"] == ["310"] and receipt["deliveries"] == []
    listed = client.get("/v1/unroutable", headers=operator).json()["items"]
    assert [(i["council"], i["episode_id"]) for i in listed] == [("310", receipt["episode_id"])]
    council = keyring.headers("council", council="304")
    assert client.get("/v1/unroutable", headers=council).status_code == 403


def test_force_cannot_submit_for_another_force(client: TestClient, derbys: dict[str, str]) -> None:
    """A force 30 key posting a force 01 MERLIN message gets 403."""
    response = post(client, "merlin", merlin(), derbys)
    assert response.status_code == 403 and response.json()["code"] == "force-mismatch"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer nonsense"}, 401), ({"Authorization": "Basic abc"}, 401)],
)
def test_missing_or_unknown_key_is_401(
    client: TestClient, headers: dict[str, str], status: int
) -> None:
    """No key or an unknown one is 401 with a Bearer challenge."""
    response = post(client, "merlin", merlin(), headers)
    assert response.status_code == status
    assert response.headers["www-authenticate"] == "Bearer"


def test_council_key_cannot_submit(client: TestClient, keyring: KeyRing) -> None:
    """Councils read; they do not submit (403)."""
    response = post(client, "merlin", merlin(), keyring.headers("council", council="304"))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Content-Type": "text/plain"}, "unsupported-media-type"),
        ({"Content-Type": "application/json"}, "unsupported-media-type"),
        ({"Content-Type": "application/xml", "Content-Encoding": "gzip"}, "compressed-body"),
    ],
)
def test_wrong_media_type_or_compression_is_415(
    client: TestClient, met: dict[str, str], headers: dict[str, str], code: str
) -> None:
    """Only uncompressed application/xml is read."""
    response = client.post("/v1/inbound/merlin", content=merlin(), headers={**met, **headers})
    assert response.status_code == 415 and response.json()["code"] == code


def test_body_over_the_limit_is_413_whether_declared_or_streamed(
    client: TestClient, met: dict[str, str]
) -> None:
    """Both a declared Content-Length and a chunked stream over 1 MiB are refused."""
    big = merlin().replace(b"Did not return", b"x" * 1_100_000 + b" Did not return")
    assert post(client, "merlin", big, met).status_code == 413

    def chunks() -> Any:
        for _ in range(20):
            yield b"<" + b"a" * 100_000

    response = client.post("/v1/inbound/merlin", content=chunks(), headers={**XML, **met})
    assert response.status_code == 413


def test_receipt_is_readable_by_its_force_only(
    client: TestClient, met: dict[str, str], derbys: dict[str, str], keyring: KeyRing
) -> None:
    """The sending force reads its receipt; another force gets 404, a council 403."""
    receipt = post(client, "merlin", merlin(), met).json()
    path = f"/v1/receipts/merlin/{receipt['message_id']}"
    again = client.get(path, headers=met)
    assert again.status_code == 200 and again.json()["receipt_id"] == receipt["receipt_id"]
    assert client.get(path, headers=derbys).status_code == 404
    assert client.get(path, headers=keyring.headers("council", council="304")).status_code == 403


def test_episode_is_readable_by_the_councils_told_only(
    client: TestClient, met: dict[str, str], keyring: KeyRing
) -> None:
    """Brent and Derbyshire read the episode; Derby gets 404, as for an unknown id; police 403."""
    receipt = post(client, "merlin", merlin(), met).json()
    path = f"/v1/episodes/{receipt['episode_id']}"
    for council in ("304", "830"):
        assert (
            client.get(path, headers=keyring.headers("council", council=council)).status_code == 200
        )
    other = keyring.headers("council", council="831")
    assert client.get(path, headers=other).status_code == 404
    assert client.get("/v1/episodes/no-such-id", headers=other).status_code == 404
    assert client.get(path, headers=met).status_code == 403


def test_episode_reads_are_audited_and_the_chain_verifies(
    client: TestClient, engine: Engine, met: dict[str, str], operator: dict[str, str]
) -> None:
    """Reading an episode adds a consultation entry; the chain verifies over the API."""
    receipt = post(client, "merlin", merlin(), met).json()
    client.get(f"/v1/episodes/{receipt['episode_id']}", headers=operator)
    with engine.connect() as connection:
        actions = [
            r.action
            for r in connection.execute(select(audit_log.c.action).order_by(audit_log.c.seq))
        ]
    assert actions[-1] == "consulted"
    assert {"received", "mapped", "routed"} <= set(actions)
    verified = client.get("/v1/audit/verify", headers=operator).json()
    assert verified["ok"] is True and verified["entries"] == len(actions)
    assert client.get("/v1/audit/verify", headers=met).status_code == 403


def test_health_and_readiness_need_no_key(client: TestClient) -> None:
    """/healthz and /readyz answer without a key; readiness sees the migrated database."""
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


class _Deadlock(Exception):
    """What psycopg raises when PostgreSQL aborts a transaction to break a deadlock."""

    sqlstate = "40P01"


def test_a_transaction_aborted_every_time_is_a_503_and_nothing_is_stored(
    client: TestClient, engine: Engine, met: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deadlocked on every try: 503 with Retry-After, no rows; the resend then gets in."""
    from sqlalchemy.exc import OperationalError

    from gateway.ingest import batching, write

    tries: list[int] = []

    def deadlocked(connection: Any, message: Any) -> Any:
        tries.append(1)
        raise OperationalError("SELECT ...", {}, _Deadlock())

    before = counts(engine)
    monkeypatch.setattr(write, "_find_message", deadlocked)
    response = post(client, "merlin", merlin(), met)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "store-busy"
    assert len(tries) == batching.ATTEMPTS
    assert counts(engine) == before
    monkeypatch.undo()
    assert post(client, "merlin", merlin(), met).status_code == 202


def test_key_checks_and_receipt_reads_do_not_wait_for_another_processs_write(
    client: TestClient, engine: Engine, met: dict[str, str]
) -> None:
    """On SQLite, a write held by the ingest process (here another engine) leaves reads be.

    Key checks and receipt reads begin deferred (`gateway.store.engine.reading`); begun
    IMMEDIATE, as writers begin, each would wait for the write lock on the busy timeout.
    """
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL reads never wait for writers")
    answered: dict[str, Any] = {}

    def read() -> None:
        answered["response"] = client.get("/v1/receipts/merlin/no-such-message", headers=met)

    other = make_engine(str(engine.url))
    try:
        with other.begin() as writer:
            writer.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: the write lock is held
            reader = threading.Thread(target=read)
            reader.start()
            reader.join(timeout=10)
            assert "response" in answered, "the read waited for another process's write"
    finally:
        other.dispose()
    assert answered["response"].status_code == 404


def test_submissions_waiting_for_the_store_leave_the_thread_pool_to_other_requests(
    settings: Settings, engine: Engine, met: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submissions waiting for the store hold no server thread; a read still answers.

    Four submissions wait on a held store while the server has two threads: a receipt read
    (its key check and query both run on those threads) still answers, then all four commit.

    A submission that held its thread until committed would leave none: during a burst from
    many forces, the delivery log and every key check would wait for the store.
    """
    held, running = threading.Event(), threading.Event()
    store = Ingestor.store

    def held_store(self: Ingestor, batch: list[Submission]) -> list[Outcome | Exception]:
        running.set()
        assert held.wait(30), "the test never released the store"
        return store(self, batch)

    monkeypatch.setattr(Ingestor, "store", held_store)
    app = create_app(build_services(settings, engine=engine, upgrade=False))

    async def scenario() -> tuple[httpx.Response, list[httpx.Response]]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            posts = [
                asyncio.create_task(
                    http.post(
                        "/v1/inbound/merlin",
                        content=merlin(message_id=new_id(), ref=f"24MIS{n:06d}"),
                        headers={**XML, **met},
                    )
                )
                for n in range(4)
            ]
            try:
                deadline = time.monotonic() + 10
                while not running.is_set():
                    assert time.monotonic() < deadline, "no submission reached the store"
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.2)  # the other three reach the group commit's queue
                read = await asyncio.wait_for(
                    http.get("/v1/receipts/merlin/no-such-message", headers=met), 5
                )
            finally:
                held.set()
            return read, list(await asyncio.gather(*posts))

    read, posted = asyncio.run(scenario())
    assert read.status_code == 404, read.text  # answered: key checked, receipts searched
    assert [r.status_code for r in posted] == [202] * 4
    assert counts(engine)["messages"] == 4
