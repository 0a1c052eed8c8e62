"""One council cannot starve the others: a trickling target, a slow acknowledgement feed."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from adapters import deadline
from gateway.api.deps import Services
from gateway.canonical import utc_now
from gateway.delivery.worker import Worker, WorkerConfig
from gateway.routing import RoutingTable
from gateway.store.schema import attempts, deliveries
from tests.adapters.trickle import trickling
from tests.conftest import KeyRing
from tests.gateway.delivery import post
from tests.messages import compact, merlin, new_id

TIMEOUT_S = 1.0


def pointed(routing: RoutingTable, council: str, url: str) -> RoutingTable:
    """The routing with `council` sent to `url`, its attempts limited to `TIMEOUT_S`."""
    route = routing.councils[council].model_copy(update={"timeout_s": TIMEOUT_S})
    target = routing.targets[council].model_copy(update={"base_url": url, "timeout_s": TIMEOUT_S})
    return dataclasses.replace(
        routing,
        councils={**routing.councils, council: route},
        targets={**routing.targets, council: target},
    )


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    """Whether `check` held within `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def statuses(engine: Engine, council: str) -> list[str]:
    """The council's deliveries' statuses."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(deliveries.c.status).where(deliveries.c.council == council)
            ).scalars()
        )


def test_a_trickling_target_holds_no_worker_beyond_its_timeout_and_others_flow(
    client: TestClient, services: Services, sims: TestClient, keyring: KeyRing
) -> None:
    """Derbyshire answers a byte every quarter second; Brent's deliveries go through meanwhile."""
    police = keyring.headers("police", force="01")
    for n in range(8):
        post(client, "merlin", merlin(message_id=new_id(), ref=f"24MIS{n:06d}"), police)
    with trickling() as url:
        http = httpx.Client(transport=sims._transport, mounts={url: deadline.transport()})
        routing = pointed(services.routing, "830", url)
        config = WorkerConfig(concurrency=6, poll=dataclasses.replace(WorkerConfig()).poll)
        worker = Worker(services.engine, routing, config, http=http, clock=utc_now)
        started = time.monotonic()
        worker.start()
        try:
            brent_done = wait_for(lambda: statuses(services.engine, "304") == ["delivered"] * 8, 30)
            brent_took = time.monotonic() - started
            time.sleep(TIMEOUT_S * 2)  # Derbyshire's attempts run out meanwhile
        finally:
            worker.stop()
    assert brent_done, statuses(services.engine, "304")
    assert brent_took < 15, "Brent waited on Derbyshire"
    with services.engine.connect() as connection:
        tried = connection.execute(
            select(attempts.c.started_at, attempts.c.finished_at, attempts.c.error)
            .join(deliveries, deliveries.c.id == attempts.c.delivery_id)
            .where(deliveries.c.council == "830", attempts.c.finished_at.is_not(None))
        ).all()
    assert tried, "Derbyshire was attempted"
    for attempt in tried:
        assert "no answer in time" in attempt.error
        assert (attempt.finished_at - attempt.started_at).total_seconds() < TIMEOUT_S + 0.75


class GatedAcks(httpx.BaseTransport):
    """The simulators, with one council's acknowledgement feed stuck until `release`."""

    def __init__(self, inner: httpx.BaseTransport, council: str) -> None:
        self.inner = inner
        self.path = f"/sim/protocol/{council}/import/acks"
        self.release = threading.Event()
        self.waiting = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Hold the gated feed's reads; pass everything else on."""
        if request.url.path == self.path:
            self.waiting.set()
            self.release.wait(30)
        return self.inner.handle_request(request)


def test_one_slow_acknowledgement_feed_does_not_hold_the_others(
    client: TestClient, services: Services, sims: TestClient, keyring: KeyRing
) -> None:
    """Redbridge's feed hangs; Slough's acknowledgements are read and applied meanwhile."""
    swaps = (
        ("<HomeBorough>304<", "<HomeBorough>317<"),
        ("<PlacementBorough>304<", "<PlacementBorough>317<"),
    )
    post(
        client, "merlin", merlin(*swaps, message_id=new_id()), keyring.headers("police", force="01")
    )
    slough = (
        ("<ForceCode>30<", "<ForceCode>43<"),
        ("<LocalAuthority>Derbyshire County Council<", "<LocalAuthority>Slough<"),
    )
    post(
        client,
        "compact",
        compact(*slough, export_id=new_id().upper(), case="MP/43/2024/000001"),
        keyring.headers("police", force="43"),
    )
    gate = GatedAcks(sims._transport, "317")
    worker = Worker(
        services.engine, services.routing, WorkerConfig(), http=httpx.Client(transport=gate)
    )
    gate.release.set()  # open while the files are dropped
    worker.run_once()
    assert statuses(services.engine, "317") == ["sent"]
    assert statuses(services.engine, "871") == ["sent"]
    time.sleep(0.6)  # the simulator acknowledges half a second after a file arrives
    gate.release.clear()
    worker.acks.start()
    try:
        worker.acks.maybe_poll(force=True)
        assert gate.waiting.wait(10), "Redbridge's feed was read"
        assert wait_for(lambda: statuses(services.engine, "871") == ["delivered"], 10)
        assert statuses(services.engine, "317") == ["sent"], "Redbridge's poll is still stuck"
        worker.acks.maybe_poll(force=True)  # a second round does not queue Redbridge again
        gate.release.set()
        assert wait_for(lambda: statuses(services.engine, "317") == ["delivered"], 10)
    finally:
        gate.release.set()
        worker.acks.stop()
