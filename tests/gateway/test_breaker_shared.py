"""The breakers and in-flight caps in the database: shared by workers, fair to every council."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from gateway.api.deps import Services
from gateway.canonical import utc_now
from gateway.delivery import outbox, slots
from gateway.delivery.breaker import BreakerPolicy, Outcome
from gateway.delivery.slots import CouncilBreakers
from gateway.delivery.worker import Worker
from gateway.store import locks
from gateway.store.schema import attempts, breakers, deliveries
from gateway.store.work import unit_of_work
from tests.conftest import KeyRing
from tests.gateway.delivery import Clock, make_worker, post, set_faults
from tests.messages import merlin, new_id

LIMITS = {"304": 4, "830": 4}


@pytest.fixture
def worker(services: Services, sims: TestClient, clock: Clock) -> Worker:
    """A worker sending to the in-process simulators, with the settings' breaker."""
    made = make_worker(services, sims, clock)
    made.breakers = CouncilBreakers()
    return made


@pytest.fixture
def police(keyring: KeyRing) -> dict[str, str]:
    """The Metropolitan Police's key (the MERLIN example's force)."""
    return keyring.headers("police", force="01")


def free(engine: Engine, board: CouncilBreakers, now: datetime, *seen: Outcome) -> dict[str, int]:
    """What a claim would be allowed now, after counting `seen`."""
    with unit_of_work(engine, locks=(locks.Level.BREAKER,)) as connection:
        return board.free_slots(connection, LIMITS, list(seen), now)


def test_a_breaker_opened_by_one_worker_holds_for_another(
    client: TestClient, services: Services, police: dict[str, str]
) -> None:
    """Worker A's failures open Derbyshire's breaker; worker B, its own process, sees it open."""
    post(client, "merlin", merlin(), police)  # work queued for both councils
    engine, now = services.engine, datetime.now().astimezone()
    first, second = CouncilBreakers(), CouncilBreakers()
    assert free(engine, second, now) == LIMITS
    failures = [Outcome("830", now, True) for _ in range(10)]
    assert free(engine, first, now, *failures) == {"304": 4, "830": 0}
    assert free(engine, second, now) == {"304": 4, "830": 0}
    reopens = now + BreakerPolicy().open_for
    assert free(engine, second, reopens) == {"304": 4, "830": 3}, "three probes"
    probes = [Outcome("830", reopens, False) for _ in range(2)]
    assert free(engine, second, reopens, *probes) == LIMITS, "B's probes close it for A too"
    assert free(engine, first, reopens) == LIMITS
    stored = slots.load(engine, "830")
    assert stored is not None and stored.opened_at is None


def test_only_councils_with_work_are_locked_and_given_slots(
    client: TestClient, services: Services, police: dict[str, str]
) -> None:
    """With every council of England routed, a round reads the breakers of those with work.

    Brent and Derbyshire have a delivery queued; Camden has none, but the outcome of its last
    attempt is counted. No other council's breaker is read, locked or created.
    """
    national = {f"{code:03d}": 4 for code in range(100, 253)} | LIMITS
    engine, now = services.engine, datetime.now().astimezone()
    board = CouncilBreakers()
    with unit_of_work(engine, locks=(locks.Level.BREAKER,)) as connection:
        assert board.free_slots(connection, national, [], now) == {}
    post(client, "merlin", merlin(), police)
    failures = [Outcome("202", now, True) for _ in range(10)]
    with unit_of_work(engine, locks=(locks.Level.BREAKER,)) as connection:
        given = board.free_slots(connection, national, failures, now)
    assert given == {"202": 0, "304": 4, "830": 4}
    with engine.connect() as connection:
        stored = set(connection.scalars(select(breakers.c.council)))
    assert stored == {"202", "304", "830"}
    camden = slots.load(engine, "202")
    assert camden is not None and camden.opened_at is not None, "its failures were counted"


def test_a_lease_run_out_is_claimed_with_nothing_queued(
    client: TestClient,
    services: Services,
    sims: TestClient,
    clock: Clock,
    police: dict[str, str],
) -> None:
    """A worker died with both deliveries in flight and nothing else queued: another claims them."""
    post(client, "merlin", merlin(), police)
    first, second = make_worker(services, sims, clock), make_worker(services, sims, clock)
    assert len(first._claim(16)) == 2
    assert second._claim(16) == [], "the leases still run"
    clock.advance(hours=1)
    assert sorted(c.council for c in second._claim(16)) == ["304", "830"]


def in_flight(engine: Engine) -> dict[str, int]:
    """Deliveries in flight by council."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(deliveries.c.council).where(deliveries.c.status == "in_flight")
        ).all()
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.council] += 1
    return dict(counts)


def test_a_councils_in_flight_cap_holds_across_workers(
    client: TestClient,
    services: Services,
    sims: TestClient,
    clock: Clock,
    police: dict[str, str],
) -> None:
    """Two workers claiming at once never have more than `max_in_flight` out to a council."""
    for n in range(6):
        post(client, "merlin", merlin(message_id=new_id(), ref=f"24MIS{n:06d}"), police)
    first = make_worker(services, sims, clock)
    second = make_worker(services, sims, clock)
    taken = first._claim(16)
    assert sorted(c.council for c in taken) == ["304"] * 4 + ["830"] * 4
    assert second._claim(16) == [], "the other worker's claims fill both councils' caps"
    assert in_flight(services.engine) == {"304": 4, "830": 4}
    first.process(next(c for c in taken if c.council == "304"))
    assert [c.council for c in second._claim(16)] == ["304"]
    clock.advance(hours=1)  # the first worker "died": its leases run out, and its slots with them
    assert len(second._claim(16)) == 8


def attempt_times(engine: Engine) -> dict[str, list[datetime]]:
    """When each council's attempts started."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(deliveries.c.council, attempts.c.started_at).join(
                deliveries, deliveries.c.id == attempts.c.delivery_id
            )
        ).all()
    found: dict[str, list[datetime]] = defaultdict(list)
    for row in rows:
        found[row.council].append(row.started_at)
    return found


def due_councils(engine: Engine, now: datetime) -> set[str]:
    """Councils with a delivery due now."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(deliveries.c.council).where(
                deliveries.c.status.in_(outbox.DUE), deliveries.c.next_attempt_at <= now
            )
        ).all()
    return {row.council for row in rows}


def test_a_flaky_council_with_due_work_is_attempted_at_least_every_30_seconds(
    client: TestClient,
    services: Services,
    sims: TestClient,
    clock: Clock,
    worker: Worker,
    police: dict[str, str],
) -> None:
    """37 % of calls fail (503s, 429s with Retry-After: 1): no due council waits over 30 s."""
    for system, seed in (("mosaic", 1), ("fwi", 2)):
        set_faults(sims, system, error_rate=0.27, rate_limit_rate=0.1, retry_after_s=1, seed=seed)
    for n in range(40):
        post(client, "merlin", merlin(message_id=new_id(), ref=f"24MIS{n:06d}"), police)
    waiting_since: dict[str, datetime] = {}
    for _ in range(900):
        due = due_councils(services.engine, clock.now)
        if not due and not worker.run_once() and not due_councils(services.engine, clock.now):
            if all(s == "delivered" for s in _statuses(services.engine)):
                break
        else:
            worker.run_once()
        last = {c: max(t) for c, t in attempt_times(services.engine).items()}
        for council in due:
            since = max(waiting_since.setdefault(council, clock.now), last.get(council, clock.now))
            assert clock.now - since <= timedelta(seconds=30), f"{council} waited"
        waiting_since = {c: waiting_since.get(c, clock.now) for c in due}
        clock.advance(seconds=1)
    assert all(s == "delivered" for s in _statuses(services.engine))
    for council in LIMITS:
        breaker = slots.load(services.engine, council)
        assert breaker is not None and breaker.openings == 0, f"{council} was treated as down"


def _statuses(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(deliveries.c.status)).scalars())


def test_a_council_that_is_down_is_probed_not_hammered(
    client: TestClient,
    services: Services,
    worker: Worker,
    sims: TestClient,
    clock: Clock,
    police: dict[str, str],
) -> None:
    """Ten minutes of an FWi outage: Derbyshire gets a few probes a minute; Brent is served."""
    set_faults(sims, "fwi", outage=True)
    for n in range(20):
        post(client, "merlin", merlin(message_id=new_id(), ref=f"24MIS{n:06d}"), police)
    start = clock.now
    while clock.now < start + timedelta(minutes=10):
        worker.run_once()
        clock.advance(seconds=1)
    times = attempt_times(services.engine)
    assert len(times["304"]) == 20, "Brent's deliveries went through meanwhile"
    probes = sorted(times["830"])
    # Each delivery's own schedule (at most 30 s apart here) would make about 400 attempts; the
    # breaker opens after the first dozen, then lets three probes out per pause (at most 60 s).
    assert 12 + 3 * 5 <= len(probes) <= 12 + 3 * 14, f"{len(probes)} attempts in ten minutes"
    assert max(probes) >= start + timedelta(minutes=9), "still probed at the end"


def test_high_risk_work_due_cuts_a_councils_pause_short(
    client: TestClient, services: Services, police: dict[str, str]
) -> None:
    """Derbyshire's breaker opened for two minutes; its high-risk delivery gets probes at 30 s."""
    high = ("<RiskLevel>MEDIUM<", "<RiskLevel>HIGH<")
    post(client, "merlin", merlin(high, message_id=new_id()), police)
    engine, now = services.engine, utc_now() + timedelta(seconds=5)
    long = timedelta(minutes=2)
    board = CouncilBreakers(BreakerPolicy(open_for=long, open_max=long))
    failures = [Outcome("830", now, True) for _ in range(10)]
    assert free(engine, board, now, *failures)["830"] == 0
    capped = now + BreakerPolicy().high_risk_pause
    assert free(engine, board, capped - timedelta(seconds=1))["830"] == 0
    assert free(engine, board, capped)["830"] == 3, "probes for the high-risk delivery"
    with unit_of_work(engine, locks=(locks.Level.DELIVERY,)) as connection:
        locks.take(connection, locks.Level.DELIVERY)
        connection.execute(update(deliveries).values(priority=1))  # as if it were medium risk
    assert free(engine, board, capped)["830"] == 0, "without high-risk work the pause stands"
