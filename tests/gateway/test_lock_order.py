"""PostgreSQL lock order: a worker step holding the audit chain's lock never waits on an ingest.

An ingest holds its episode's row lock until it commits, and takes the audit chain's lock only
at commit; the worker's steps take the chain's lock first. So a worker step must never wait for
a row lock an ingest can hold, or the two deadlock (seen in the scale-out test, where
PostgreSQL aborted one side and police got a 500).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from gateway import audit, ingest
from gateway.canonical import utc_now
from gateway.delivery import enqueue, outbox
from gateway.store.prepared import Prepared
from tests.messages import merlin, new_id

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("engine", ["postgres"], indirect=True),  # SQLite has no row locks
]
XML = {"Content-Type": "application/xml"}


def _episode(client: TestClient, met: dict[str, str]) -> str:
    answer = client.post(
        "/v1/inbound/merlin", content=merlin(message_id=new_id()), headers=met | XML
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["episode_id"])


@pytest.mark.parametrize(
    ("episode_lock", "key"),
    [(ingest._EPISODE, "row_id"), (enqueue._LOCK_EPISODE, "episode")],
    ids=["ingest", "unroutable-replay"],
)
def test_worker_records_case_ids_while_an_ingest_holds_the_episode(
    engine: Engine, client: TestClient, met: dict[str, str], episode_lock: Prepared, key: str
) -> None:
    """With the episode locked as ingest locks it, the worker's case-record insert goes through."""
    episode_id = _episode(client, met)
    with engine.connect() as ingesting, engine.connect() as worker:
        ingesting.begin()
        episode_lock.first(ingesting, {key: episode_id})
        worker.begin()
        worker.execute(text("SET LOCAL lock_timeout = '3s'"))
        audit.serialise(worker)
        try:
            outbox.save_case_record(
                worker,
                episode_id,
                "304",
                "mosaic",
                person_id="P-1",
                case_episode_id="E-1",
                now=utc_now(),
            )
        except OperationalError as error:  # 55P03: it waited on the ingest's lock
            pytest.fail(f"the worker waited on the ingest's episode lock: {error.orig}")
        finally:
            worker.rollback()
            ingesting.rollback()
