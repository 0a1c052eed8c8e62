"""The delivery engine against the bundled simulators: order, retries, breaker, leases, acks."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from gateway.api.deps import Services
from gateway.delivery import claims, outbox, slots
from gateway.delivery.worker import Worker
from gateway.errors import PermanentDelivery, RetryableDelivery
from gateway.policy import packs
from gateway.store.schema import attempts, audit_log, case_records, deliveries, events
from tests.conftest import KeyRing, verified
from tests.gateway.delivery import (
    XML,
    Clock,
    claim,
    drain,
    make_worker,
    post,
    records,
    set_faults,
    statuses,
)
from tests.messages import MERLIN_FOUND, compact, merlin, new_id


@pytest.fixture
def police(keyring: KeyRing) -> dict[str, dict[str, str]]:
    """Keys of the demo's forces."""
    return {f: keyring.headers("police", force=f) for f in ("01", "30", "13", "43")}


def test_spec_examples_are_delivered_once_each_with_case_records(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    sims: TestClient,
    police: dict[str, dict[str, str]],
) -> None:
    """Both spec examples reach every council they name, once, and the case ids are kept."""
    first = post(client, "merlin", merlin(), police["01"])
    second = post(client, "compact", compact(), police["30"])
    drain(worker, clock, services.engine)
    assert set(statuses(services.engine).values()) == {"delivered"}
    told = {(d["council"], d["system"]) for r in (first, second) for d in r["deliveries"]}
    for council, system in told:
        book = records(sims, system)[council]
        assert [r["times_recorded"] for r in book] == [1] * len(book)
    sent = [d for r in (first, second) for d in r["deliveries"]]
    assert sum(
        len(v) for s in ("mosaic", "fwi", "protocol") for v in records(sims, s).values()
    ) == len(sent)
    with services.engine.connect() as connection:
        kept = connection.execute(select(case_records.c.council, case_records.c.system)).all()
        assert {(r.council, r.system) for r in kept} == told
        assert verified(connection, services.engine).entries > 0


def test_a_target_down_for_a_while_gets_its_backlog_in_order_once_back(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    sims: TestClient,
    police: dict[str, dict[str, str]],
) -> None:
    """Mosaic is down while a report and its found arrive; once back, both land, in order."""
    set_faults(sims, "mosaic", outage=True)
    post(client, "merlin", merlin(), police["01"])
    post(
        client,
        "merlin",
        merlin(MERLIN_FOUND, message_id=new_id(), version=2, notification="FOUND"),
        police["01"],
    )
    for _ in range(4):
        worker.run_once()
        clock.advance(seconds=40)
    with services.engine.connect() as connection:
        brent = connection.execute(
            select(deliveries.c.seq, deliveries.c.status, deliveries.c.attempts)
            .where(deliveries.c.council == "304")
            .order_by(deliveries.c.seq)
        ).all()
    assert [r.status for r in brent] == ["retrying", "pending"]
    assert brent[1].attempts == 0, "the found must not be tried before the report it closes"
    set_faults(sims, "mosaic", outage=False)
    clock.advance(seconds=60)
    drain(worker, clock, services.engine)
    book = records(sims, "mosaic")["304"]
    assert [r["event_type"] for r in book] == ["REPORTED", "FOUND"]
    assert all(r["times_recorded"] == 1 for r in book)


def test_a_later_high_risk_event_never_overtakes_an_earlier_one(
    client: TestClient,
    services: Services,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """Only the first unsettled delivery of an episode and target is claimable, whatever risk."""
    post(client, "merlin", merlin(("<RiskLevel>MEDIUM<", "<RiskLevel>LOW<")), police["01"])
    post(
        client,
        "merlin",
        merlin(
            ("<RiskLevel>MEDIUM<", "<RiskLevel>HIGH<"),
            message_id=new_id(),
            version=2,
            notification="RISK_REVIEW",
        ),
        police["01"],
    )
    claims = claim(services, clock.now + timedelta(1), {"304": 10, "830": 10})
    assert sorted((c.council, c.seq) for c in claims) == [("304", 1), ("830", 1)]


def test_higher_risk_goes_first_when_there_is_a_backlog(
    client: TestClient,
    services: Services,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """With one free slot, a high-risk episode's delivery is claimed before older low ones."""
    for n in range(3):
        post(
            client,
            "merlin",
            merlin(
                ("<RiskLevel>MEDIUM<", "<RiskLevel>LOW<"),
                message_id=new_id(),
                ref=f"24MIS{n:06d}",
            ),
            police["01"],
        )
    urgent = post(
        client,
        "merlin",
        merlin(("<RiskLevel>MEDIUM<", "<RiskLevel>HIGH<"), message_id=new_id(), ref="24MIS999999"),
        police["01"],
    )
    claims = claim(services, clock.now + timedelta(1), {"304": 1})
    assert [c.episode_id for c in claims] == [urgent["episode_id"]]


def test_retries_back_off_honour_retry_after_and_open_the_breaker(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    sims: TestClient,
    police: dict[str, dict[str, str]],
) -> None:
    """A 429 schedules that delivery no sooner than Retry-After; a healthy council flows on."""
    set_faults(sims, "mosaic", rate_limit_rate=1.0, retry_after_s=7)
    post(client, "merlin", merlin(), police["01"])
    worker.run_once()
    with services.engine.connect() as connection:
        row = connection.execute(select(deliveries).where(deliveries.c.council == "304")).one()
    assert row.status == "retrying" and row.next_attempt_at >= clock.now + timedelta(seconds=7)
    assert "429" in row.last_error
    assert worker.run_once() == 0, "nothing is due"
    held = slots.load(services.engine, "304")
    policy = worker.breakers.policy
    assert held is not None and held.state(policy, clock.now, high_risk_due=False) == "closed"


def test_exhausted_attempts_dead_letter_with_the_reason(
    client: TestClient,
    services: Services,
    sims: TestClient,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """A target that stays down dead-letters after the configured number of attempts."""
    worker = make_worker(services, sims, clock, max_attempts=3)
    set_faults(sims, "fwi", outage=True)
    post(client, "merlin", merlin(), police["01"])
    drain(worker, clock, services.engine)
    with services.engine.connect() as connection:
        row = connection.execute(select(deliveries).where(deliveries.c.council == "830")).one()
        tried = (
            connection.execute(select(attempts.c.outcome).where(attempts.c.delivery_id == row.id))
            .scalars()
            .all()
        )
    assert row.status == "dead" and row.last_error.startswith("gave up after 3 attempts")
    assert tried == ["retryable"] * 3


def test_a_permanent_answer_dead_letters_at_once_and_replay_delivers_after_the_fix(
    client: TestClient,
    services: Services,
    sims: TestClient,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """Mosaic refusing the body (422 VALIDATION) is permanent; a replay after the fix delivers."""

    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(
                200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600}
            )
        return httpx.Response(422, json={"error": "VALIDATION", "details": ["$.person"]})

    broken = make_worker(services, httpx.Client(transport=httpx.MockTransport(refuse)), clock)
    post(client, "merlin", merlin(), police["01"])
    broken.run_once()
    with services.engine.connect() as connection:
        row = connection.execute(select(deliveries).where(deliveries.c.council == "304")).one()
    assert row.status == "dead" and "VALIDATION" in row.last_error and row.attempts == 1
    with (
        services.engine.begin() as connection
    ):  # what a replay does (the replay API's tests cover it)
        connection.execute(
            update(deliveries)
            .where(deliveries.c.id == row.id)
            .values(status="pending", next_attempt_at=clock.now, attempt_floor=row.attempts)
        )
    drain(make_worker(services, sims, clock), clock, services.engine)
    assert statuses(services.engine)[row.id] == "delivered"
    assert [r["times_recorded"] for r in records(sims, "mosaic")["304"]] == [1]


def test_a_worker_that_dies_mid_attempt_is_retried_with_the_same_key_after_its_lease(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    sims: TestClient,
    police: dict[str, dict[str, str]],
) -> None:
    """An expired lease makes the delivery claimable again; the abandoned attempt is recorded."""
    post(client, "merlin", merlin(), police["01"])
    lost = claim(services, clock.now, {"304": 1}, lease_s=30)
    assert len(lost) == 1
    assert worker.process(lost[0]).status == "delivered"  # it did reach Mosaic...
    with services.engine.begin() as connection:  # ...but, say, the record was lost with the worker
        connection.execute(
            update(deliveries)
            .where(deliveries.c.id == lost[0].delivery_id)
            .values(status="in_flight", lease_until=clock.now + timedelta(seconds=30))
        )
    clock.advance(seconds=10)
    assert [c.council for c in claim(services, clock.now, {"304": 1}, lease_s=30)] == []
    clock.advance(seconds=30)
    drain(worker, clock, services.engine)
    assert statuses(services.engine)[lost[0].delivery_id] == "delivered"
    assert [r["times_recorded"] for r in records(sims, "mosaic")["304"]] == [1]


def slow_then_fresh(
    client: TestClient, services: Services, clock: Clock, police: dict[str, dict[str, str]]
) -> tuple[outbox.Claim, outbox.Claim]:
    """A report's delivery to Brent claimed by a slow worker, then, its lease over, by another."""
    post(client, "merlin", merlin(), police["01"])
    slow = claim(services, clock.now, {"304": 1}, lease_s=5, actor="slow")[0]
    clock.advance(seconds=10)
    fresh = claim(services, clock.now, {"304": 1}, lease_s=5, actor="fresh")[0]
    return slow, fresh


def test_a_superseded_attempt_is_recorded_but_does_not_decide(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """When a slow worker finishes after its lease was taken over, only its attempt is kept."""
    slow, fresh = slow_then_fresh(client, services, clock, police)
    assert fresh.attempt == slow.attempt + 1
    assert worker.process(slow).status == "superseded"
    assert worker.process(fresh).status == "delivered"
    with services.engine.connect() as connection:
        outcomes = connection.execute(
            select(attempts.c.number, attempts.c.outcome)
            .where(attempts.c.delivery_id == slow.delivery_id)
            .order_by(attempts.c.number)
        ).all()
    assert [tuple(r) for r in outcomes] == [(1, "delivered"), (2, "delivered")]


def test_protocol_deliveries_are_sent_until_acknowledged(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    sims: TestClient,
    police: dict[str, dict[str, str]],
) -> None:
    """Redbridge (Protocol) is `sent` after the drop and `delivered` once its ack is read."""
    body = merlin(
        ("<HomeBorough>304<", "<HomeBorough>317<"),
        ("<PlacementBorough>304<", "<PlacementBorough>317<"),
    )
    receipt = post(client, "merlin", body, police["01"])
    (redbridge,) = [d for d in receipt["deliveries"] if d["council"] == "317"]
    worker.run_once()
    assert statuses(services.engine)[redbridge["delivery_id"]] == "sent"
    drain(worker, clock, services.engine)
    assert statuses(services.engine)[redbridge["delivery_id"]] == "delivered"
    with services.engine.connect() as connection:
        record = connection.execute(
            select(case_records).where(case_records.c.council == "317")
        ).one()
    assert record.system == "protocol" and record.case_episode_id


def test_metrics_show_counts_and_the_backlog_per_target(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    sims: TestClient,
    police: dict[str, dict[str, str]],
) -> None:
    """`/metrics` has the process counters and the database's queue figures per target."""
    set_faults(sims, "fwi", outage=True)
    post(client, "merlin", merlin(), police["01"])
    client.post("/v1/inbound/merlin", content=b"<nope", headers={**XML, **police["01"]})
    worker.run_once()
    text = client.get("/metrics").text
    assert 'gateway_messages_received_total{outcome="accepted",source="merlin"}' in text
    assert 'gateway_messages_rejected_total{reason="malformed-xml",source="merlin"}' in text
    assert 'gateway_deliveries_delivered_total{council="304",system="mosaic"}' in text
    assert 'gateway_queue_depth{council="830",status="retrying",system="fwi"} 1.0' in text
    assert 'gateway_oldest_pending_age_seconds{council="830",system="fwi"}' in text


def test_a_gateway_bug_while_rendering_dead_letters_visibly(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """A stored event the renderer cannot read is dead-lettered with a reason, not lost."""
    post(client, "merlin", merlin(), police["01"])
    claimed = claim(services, clock.now, {"304": 1})[0]
    broken = dataclasses.replace(claimed, canonical_event={"type": "reported"})
    assert worker.process(broken).status == "dead"
    with services.engine.connect() as connection:
        row = connection.execute(
            select(deliveries).where(deliveries.c.id == claimed.delivery_id)
        ).one()
    assert row.last_error.startswith("the gateway could not render or send it (ValidationError)")


def _audited(engine: Engine, delivery_ids: list[str]) -> dict[str, list[str]]:
    """The audit actions about each delivery's attempts, in chain order (not its routing)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_log.c.subject, audit_log.c.action)
            .where(audit_log.c.subject.in_(delivery_ids), audit_log.c.action != "routed")
            .order_by(audit_log.c.seq)
        ).all()
        verified(connection, engine)
    found: dict[str, list[str]] = {d: [] for d in delivery_ids}
    for row in rows:
        found[row.subject].append(row.action)
    return found


def test_one_batch_records_each_attempt_as_its_own_would(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """Attempts recorded together: each delivery moves on, each attempt is in the chain."""
    for n in range(2):
        post(client, "merlin", merlin(message_id=new_id(), ref=f"24MIS{n:06d}"), police["01"])
    claims = claim(services, clock.now, {"304": 2, "830": 2})
    assert len(claims) == 4
    done = [worker.attempt(c) for c in claims[:2]]
    done.append(dataclasses.replace(done[0], claim=claims[2], outcome=RetryableDelivery("busy")))
    done.append(dataclasses.replace(done[0], claim=claims[3], outcome=PermanentDelivery("bad")))
    finished = worker.record(done)
    assert [f.status for f in finished] == ["delivered", "delivered", "retrying", "dead"]
    ids = [c.delivery_id for c in claims]
    now = statuses(services.engine)
    assert [now[i] for i in ids] == ["delivered", "delivered", "retrying", "dead"]
    actions = _audited(services.engine, ids)
    assert actions[ids[0]] == actions[ids[1]] == ["attempted", "disclosed", "delivered"]
    assert actions[ids[2]] == ["attempted"]
    assert actions[ids[3]] == ["attempted", "dead_lettered"]
    with services.engine.connect() as connection:
        open_attempts = connection.execute(
            select(attempts.c.delivery_id).where(attempts.c.finished_at.is_(None))
        ).all()
        kept = connection.execute(select(case_records.c.council)).scalars().all()
    assert open_attempts == []
    assert sorted(kept) == ["304", "830"]


def test_a_batch_with_a_superseded_attempt_settles_only_the_current_one(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """Both attempts of one delivery in one batch: the older is recorded, the newer decides."""
    slow, fresh = slow_then_fresh(client, services, clock, police)
    finished = worker.record([worker.attempt(fresh), worker.attempt(slow)])
    assert [f.status for f in finished] == ["delivered", "superseded"]
    actions = _audited(services.engine, [slow.delivery_id])[slow.delivery_id]
    assert actions.count("delivered") == 1
    assert actions.count("attempted") == 3  # abandoned by the lease, then both attempts


def test_a_round_claims_before_it_records_so_order_holds(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """The found waits for the report it follows: it is claimable only after that round."""
    post(client, "merlin", merlin(), police["01"])
    found = merlin(MERLIN_FOUND, message_id=new_id(), version=2, notification="FOUND")
    post(client, "merlin", found, police["01"])
    first = claim(services, clock.now, {"304": 4})
    assert [c.seq for c in first] == [1]
    done = [worker.attempt(first[0])]
    lease = worker._lease
    recorded, claimed = outbox.record_and_claim(
        services.engine, done, capacity={"304": 4}, limit=4, now=clock.now, lease=lease,
        policy=worker.config.policy, actor="test",
    )  # fmt: skip
    assert [f.status for f in recorded] == ["delivered"]
    assert claimed == [], "the found was claimed while its report was still in flight"
    _, following = outbox.record_and_claim(
        services.engine, [], capacity={"304": 4}, limit=4, now=clock.now, lease=lease,
        policy=worker.config.policy, actor="test",
    )  # fmt: skip
    assert [c.seq for c in following] == [2]


def test_a_slot_is_free_once_the_target_answers_and_the_record_follows(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """A job frees its council's slot; the delivery stays in flight until the next round."""
    post(client, "merlin", merlin(), police["01"])
    claims = worker._claim(1)
    assert len(claims) == 1 and worker._active[claims[0].council] == 1
    worker._job(claims[0])
    assert worker._active[claims[0].council] == 0
    assert statuses(services.engine)[claims[0].delivery_id] == "in_flight"
    worker._pool = ThreadPoolExecutor(1)
    try:
        worker._dispatch()
    finally:
        worker._pool.shutdown()
    assert statuses(services.engine)[claims[0].delivery_id] == "delivered"


def test_stopping_records_the_attempts_that_ended_since_the_last_round(
    client: TestClient,
    services: Services,
    worker: Worker,
    police: dict[str, dict[str, str]],
) -> None:
    """A graceful stop does not leave answered deliveries in flight until their leases pass."""
    post(client, "merlin", merlin(), police["01"])
    claims = worker._claim(1)
    worker._job(claims[0])
    worker.stop()
    assert statuses(services.engine)[claims[0].delivery_id] == "delivered"


def test_the_claim_reads_only_the_councils_with_room(
    client: TestClient,
    services: Services,
    clock: Clock,
    police: dict[str, dict[str, str]],
) -> None:
    """Councils without a free slot (or with their breaker open) are not even read."""
    for n in range(2):
        post(client, "merlin", merlin(message_id=new_id(), ref=f"24MIS{n:06d}"), police["01"])
    with services.engine.begin() as connection:
        read = {c: claims._claimable(connection, [c], 8, clock.now) for c in ("830", "999")}
        both = claims._claimable(connection, ["304", "830"], 8, clock.now)
    assert sorted(r.council for r in read["830"]) == ["830", "830"]
    assert read["999"] == []
    assert sorted(r.council for r in both) == ["304", "304", "830", "830"]


# --- the return home interview's clock ------------------------------------------------------

# Clocks that differ from each other and from the statutory 72 hours (every bundled pack says
# 72), so the test tells the owner's clock from the receiving council's.
HOURS = {"brent": 96, "derbyshire": 48}


class Clocked:
    """A pack as loaded, with another return interview clock."""

    def __init__(self, pack: packs.Pack, hours: int) -> None:
        self._pack = pack
        self.return_interview_due_hours = hours

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pack, name)


@pytest.fixture
def distinct_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Brent's pack allows 96 hours for the interview, Derbyshire's 48."""
    real = packs.load

    def load(name: str) -> Any:
        return Clocked(real(name), HOURS[name]) if name in HOURS else real(name)

    monkeypatch.setattr(packs, "load", load)


def found_payloads(engine: Engine) -> dict[str, dict[str, Any]]:
    """The Mosaic body sent for the found event, by council."""
    query = (
        select(deliveries.c.council, deliveries.c.payload)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(events.c.type == "found", deliveries.c.system == "mosaic")
    )
    with engine.connect() as connection:
        return {row.council: json.loads(row.payload) for row in connection.execute(query)}


@pytest.mark.usefixtures("distinct_clocks")
def test_a_host_council_is_sent_the_owners_interview_deadline(
    client: TestClient, services: Services, worker: Worker, clock: Clock, keyring: KeyRing
) -> None:
    """Placed in Brent (304, host, Mosaic) by Derbyshire (830, owner): Derbyshire's 48 hours."""
    met = keyring.headers("police", force="01")
    post(client, "merlin", merlin(), met)
    found = merlin(MERLIN_FOUND, message_id=new_id(), version=2, notification="FOUND")
    post(client, "merlin", found, met)
    drain(worker, clock, services.engine)
    episode = found_payloads(services.engine)["304"]["episode"]
    assert (episode["councilRole"], episode["returnInterviewOwnerLaCode"]) == ("HOST", "830")
    found_at = datetime.fromisoformat(episode["foundTime"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(episode["returnInterviewDueBy"].replace("Z", "+00:00"))
    assert due - found_at == timedelta(hours=HOURS["derbyshire"])


def test_an_owner_not_routed_here_has_the_statutory_72_hours(worker: Worker) -> None:
    """An owner the gateway does not deliver to (or none known) gets the guidance's 72 hours."""
    assert worker._interview_due("999") == timedelta(hours=72)
    assert worker._interview_due(None) == timedelta(hours=72)


def test_a_round_with_no_free_slot_keeps_the_breakers_outcomes_for_the_next(
    client: TestClient, services: Services, worker: Worker, clock: Clock, keyring: KeyRing
) -> None:
    """Recording only (every slot busy) must not drop the outcomes the next claim counts."""
    post(client, "merlin", merlin(), keyring.headers("police", force="01"))
    (claimed, *_) = worker._claim(1)
    attempted = worker.attempt(claimed)  # tells the breaker: one outcome pending
    worker._release([claimed])
    worker._claim(0, [attempted])  # records, claims nothing
    pending = worker.breakers.take_pending()
    assert [o.council for o in pending] == [claimed.council]
