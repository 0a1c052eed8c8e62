"""PostgreSQL lock order: the audit chain's lock is held only at commit; no step waits in a cycle.

Before, the worker's steps took the chain's lock first and ingest took it at commit, so a worker
step that waited for a row an ingest held deadlocked (seen in the scale-out test). Now every
unit of work takes it last (gateway/store/locks.py); these tests hold the interleavings that
could still wait on each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import OperationalError

from adapters.base import Ack
from gateway import audit
from gateway.canonical import utc_now
from gateway.delivery import enqueue, outbox
from gateway.policy import timer as policy_timer
from gateway.store import episodes as episode_rows
from gateway.store import locks
from gateway.store.schema import deliveries, episodes
from gateway.store.work import unit_of_work
from tests.conftest import verified
from tests.messages import MERLIN_FOUND, merlin, new_id

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("engine", ["postgres"], indirect=True),  # SQLite has no row locks
]
XML = {"Content-Type": "application/xml"}


def _episode(client: TestClient, met: dict[str, str], *, found: bool = False) -> str:
    """A new report (and its found message): its episode's id."""
    ref = f"01MIS{int(new_id()[-8:], 16) % 10**6:06d}"
    messages = [merlin(message_id=new_id(), ref=ref)]
    if found:
        messages.append(
            merlin(MERLIN_FOUND, message_id=new_id(), ref=ref, version=2, notification="FOUND")
        )
    for message in messages:
        answer = client.post("/v1/inbound/merlin", content=message, headers=met | XML)
        assert answer.status_code == 202, answer.text
    return str(answer.json()["episode_id"])


def _as_ingest(connection: Connection, episode_id: str) -> None:
    episode_rows.EPISODE.first(connection, {"row_id": episode_id})


def _as_unroutable_replay(connection: Connection, episode_id: str) -> None:
    enqueue._LOCK_EPISODE.run(connection, {"episode": episode_id})


def _as_policy_timer(connection: Connection, episode_id: str) -> None:
    due = utc_now() - timedelta(minutes=1)
    connection.execute(
        update(episodes).where(episodes.c.id == episode_id).values(policy_due_at=due)
    )
    assert episode_id in policy_timer._due_episodes(connection, utc_now(), 100)


@pytest.mark.parametrize(
    "lock_episode",
    [_as_ingest, _as_unroutable_replay, _as_policy_timer],
    ids=["ingest", "unroutable-replay", "policy-timer"],
)
def test_worker_records_case_ids_while_another_step_holds_the_episode(
    engine: Engine,
    client: TestClient,
    met: dict[str, str],
    lock_episode: Callable[[Connection, str], None],
) -> None:
    """With the episode locked as each step locks it, the worker's case-record insert goes on."""
    episode_id = _episode(client, met)
    with engine.connect() as holder:
        holder.begin()
        lock_episode(holder, episode_id)
        try:
            with unit_of_work(engine, audits=True, locks=outbox.FINISH_LOCKS) as worker:
                worker.execute(text("SET LOCAL lock_timeout = '3s'"))
                outbox.save_case_record(
                    worker, episode_id, "304", "mosaic", person_id="P-1", case_episode_id="E-1",
                    now=utc_now(),
                )  # fmt: skip
        except OperationalError as error:  # 55P03: it waited on the other step's lock
            pytest.fail(f"the worker waited on the episode's lock: {error.orig}")
        finally:
            holder.rollback()


def test_a_unit_takes_the_chain_only_as_it_commits(engine: Engine) -> None:
    """A unit that has appended and still works does not hold up another unit's commit."""
    with unit_of_work(engine, audits=True) as working:
        audit.append(working, actor="worker:slow", action=audit.Action.ATTEMPTED)
        working.execute(text("SELECT 1"))  # still working, entries waiting
        with unit_of_work(engine, audits=True) as other:
            other.execute(text("SET LOCAL lock_timeout = '3s'"))
            audit.append(other, actor="police:01", action=audit.Action.RECEIVED)
    with engine.connect() as connection:
        actors = connection.execute(select(audit.chain.audit_log.c.actor)).scalars().all()
        assert list(actors) == ["police:01", "worker:slow"]  # the chain orders by commit
        verified(connection, engine)


def _wait_until_blocked_by(engine: Engine, pid: int) -> None:
    deadline = time.monotonic() + 10
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            blocked = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
                ),
                {"pid": pid},
            ).scalar_one()
            watcher.rollback()
            if blocked:
                return
            time.sleep(0.05)
    pytest.fail("the acknowledgements never waited for the attempt's delivery")


def test_acknowledgements_and_an_attempt_on_one_episode_do_not_deadlock(
    engine: Engine, client: TestClient, met: dict[str, str]
) -> None:
    """Acks for two deliveries of one episode and council, while the second's attempt finishes.

    The attempt holds the second delivery and then records the case ids; the acks took the
    first delivery and wait for the second. Had the acks recorded the first's case ids before
    taking the second delivery, each would wait for the other.
    """
    episode_id = _episode(client, met, found=True)
    with engine.begin() as connection:
        first, second = connection.execute(
            select(deliveries.c.id, deliveries.c.idempotency_key, deliveries.c.council)
            .where(deliveries.c.episode_id == episode_id, deliveries.c.council == "304")
            .order_by(deliveries.c.seq)
        ).all()
        connection.execute(
            update(deliveries).where(deliveries.c.id == first.id).values(status="sent")
        )
        connection.execute(
            update(deliveries).where(deliveries.c.id == second.id).values(status="in_flight")
        )
    acks = [
        Ack(target_reference=f"F-{d.id}", idempotency_key=d.idempotency_key, accepted=True,
            reference="EP-1", person_id="P-1", cursor=str(n))
        for n, d in enumerate((first, second))
    ]  # fmt: skip
    failures: list[BaseException] = []

    def apply() -> None:
        try:
            outbox.apply_acks(
                engine, "304", "mosaic", acks, "2", now=utc_now(), actor="worker:acks"
            )
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)

    with unit_of_work(engine, audits=True, locks=outbox.FINISH_LOCKS) as attempt:
        locks.take(attempt, locks.Level.DELIVERY)
        attempt.execute(
            select(deliveries.c.id).where(deliveries.c.id == second.id).with_for_update()
        )
        pid = attempt.execute(text("SELECT pg_backend_pid()")).scalar_one()
        acknowledging = threading.Thread(target=apply)
        acknowledging.start()
        _wait_until_blocked_by(engine, pid)
        outbox.save_case_record(
            attempt, episode_id, "304", "mosaic", person_id="P-1", case_episode_id="EP-1",
            now=utc_now(),
        )  # fmt: skip
    acknowledging.join(30)
    assert failures == []
    with engine.connect() as connection:
        statuses = connection.execute(
            select(deliveries.c.status).where(deliveries.c.id.in_([first.id, second.id]))
        ).scalars()
        assert set(statuses) == {"delivered"}
        verified(connection, engine)
