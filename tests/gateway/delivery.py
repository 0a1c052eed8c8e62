"""What the delivery tests share: a worker on the in-process simulators, and its helpers.

The fixtures `sims`, `clock`, `worker` and `example` (the MERLIN example posted); the
hand-moved `Clock`; `make_worker`; posting (`post`, `another_report`, `ids_of`), claiming,
draining and reading back what the simulators recorded; putting a delivery in a state
directly (`set_delivery`, `add_attempt`) and reading the database back (`statuses`, `row`,
`counts`). tests/gateway/conftest.py exposes the fixtures to the gateway's tests; elsewhere
a test module imports the ones it uses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select, update

from gateway.api.app import simulators_app
from gateway.api.deps import Services
from gateway.canonical import utc_now
from gateway.delivery import outbox
from gateway.delivery.breaker import BreakerPolicy
from gateway.delivery.retry import RetryPolicy
from gateway.delivery.slots import CouncilBreakers
from gateway.delivery.worker import Worker, WorkerConfig
from gateway.store.schema import attempts, audit_log, deliveries, episodes, events, messages
from tests.adapters.simulators import LOOPBACK
from tests.messages import merlin, new_id

XML = {"Content-Type": "application/xml"}
UNSETTLED = ("pending", "retrying", "in_flight", "sent")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        # A little ahead of the wall clock, so what a test posts next is already due.
        self.now = utc_now() + timedelta(seconds=5)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def sims() -> Iterator[TestClient]:
    """The three simulators in-process, reached whatever host a target URL names."""
    with TestClient(simulators_app(), client=LOOPBACK) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    """The worker's clock."""
    return Clock()


def make_worker(services: Services, http: httpx.Client, clock: Clock, **policy: Any) -> Worker:
    """A worker on the test database and the demo routing, with a fast retry schedule."""
    config = WorkerConfig(
        concurrency=16,
        policy=RetryPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=30), **policy),
    )
    breakers = CouncilBreakers(BreakerPolicy(min_calls=3, open_for=timedelta(seconds=5)))
    return Worker(
        services.engine, services.routing, config, breakers=breakers, http=http, clock=clock
    )


@pytest.fixture
def worker(services: Services, sims: TestClient, clock: Clock) -> Worker:
    """A worker sending to the in-process simulators."""
    return make_worker(services, sims, clock)


def post(client: TestClient, source: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """POST a message and return its receipt."""
    response = client.post(f"/v1/inbound/{source}", content=body, headers={**XML, **headers})
    assert response.status_code == 202, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def another_report(client: TestClient, headers: dict[str, str], n: int) -> dict[str, Any]:
    """A MERLIN report of a new episode (Brent, 304, and Derbyshire, 830, are told of it)."""
    return post(client, "merlin", merlin(message_id=new_id(), ref=f"24MIS0{n:05d}"), headers)


def ids_of(receipt: dict[str, Any]) -> dict[str, str]:
    """The receipt's delivery ids by council."""
    return {d["council"]: d["delivery_id"] for d in receipt["deliveries"]}


@pytest.fixture
def example(client: TestClient, met: dict[str, str]) -> dict[str, str]:
    """The MERLIN example posted: its delivery ids to Brent (304) and Derbyshire (830)."""
    return ids_of(post(client, "merlin", merlin(), met))


def set_delivery(engine: Engine, delivery_id: str, **values: Any) -> None:
    """Put a delivery in a state directly (what the worker would have done)."""
    with engine.begin() as connection:
        connection.execute(
            update(deliveries).where(deliveries.c.id == delivery_id).values(**values)
        )


def add_attempt(engine: Engine, delivery_id: str, number: int, **values: Any) -> None:
    """Record a finished attempt directly (what the worker would have done)."""
    started = utc_now() - timedelta(minutes=10 - number)
    with engine.begin() as connection:
        connection.execute(
            insert(attempts).values(
                delivery_id=delivery_id,
                number=number,
                started_at=started,
                finished_at=started + timedelta(seconds=1),
                **values,
            )
        )


def statuses(engine: Engine) -> dict[str, str]:
    """Every delivery's status by id."""
    with engine.connect() as connection:
        return {r.id: r.status for r in connection.execute(select(deliveries))}


def row(engine: Engine, delivery_id: str) -> Any:
    """A delivery's row."""
    with engine.connect() as connection:
        return connection.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()


def counts(engine: Engine) -> dict[str, int]:
    """Row counts of every table a message touches."""
    with engine.connect() as connection:
        return {
            t.name: connection.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (messages, events, episodes, deliveries, audit_log)
        }


def drain(worker: Worker, clock: Clock, engine: Engine, rounds: int = 200) -> None:
    """Run the worker, moving the clock to each next retry, until nothing is left unsettled."""
    for _ in range(rounds):
        if worker.run_once():
            continue
        with engine.connect() as connection:
            waiting = connection.execute(
                select(deliveries.c.status, deliveries.c.next_attempt_at).where(
                    deliveries.c.status.in_(UNSETTLED)
                )
            ).all()
        if not waiting:
            return
        due = [r.next_attempt_at for r in waiting if r.next_attempt_at is not None]
        if due and min(due) > clock.now:
            clock.now = min(due)
        elif all(r.status == "sent" for r in waiting):
            time.sleep(0.1)  # Protocol acknowledges asynchronously, on the simulator's clock
        else:
            clock.advance(seconds=1)
    pytest.fail(f"deliveries still unsettled: {statuses(engine)}")


def claim(
    services: Services,
    now: datetime,
    capacity: dict[str, int],
    *,
    lease_s: float = 60,
    actor: str = "test",
) -> list[outbox.Claim]:
    """Claim as a worker would, at `now`, up to the capacities given."""
    return outbox.claim(
        services.engine,
        capacity=capacity,
        limit=sum(capacity.values()),
        now=now,
        lease=lambda _: timedelta(seconds=lease_s),
        actor=actor,
    )


def records(sims: TestClient, system: str) -> dict[str, list[dict[str, Any]]]:
    """What a simulator recorded, per council."""
    found: dict[str, list[dict[str, Any]]] = sims.get(f"/sim/{system}/_control/records").json()
    return found


def set_faults(sims: TestClient, system: str, **faults: Any) -> None:
    """Switch a simulator's faults."""
    assert sims.put(f"/sim/{system}/_control/faults", json=faults).status_code == 200
