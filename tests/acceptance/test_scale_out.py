"""Scale-out: three `gateway serve` processes on one PostgreSQL share ingest and delivery.

Police IT post round-robin to the three (as a load balancer without sticky sessions would), so
one episode's messages reach different processes; one process is killed with SIGKILL mid-run and
started again. Every accepted message is stored, every event reaches each council it is for
exactly once, and in order per (episode, council).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from gateway import audit, keys
from gateway.audit.checkpoints import CheckpointLog
from gateway.store import migrate
from gateway.store.engine import make_engine
from gateway.store.schema import audit_log, events, messages
from gateway.store.work import unit_of_work
from tests.acceptance.delivery_checks import (
    AUDIT_KEY,
    assert_exactly_once_in_order,
    fast_delivery_env,
    simulators_process,
    unsettled,
)
from tests.acceptance.fault_run import XML
from tests.acceptance.process import GatewayProcess
from tests.conftest import POSTGRES_URL
from tests.messages import MERLIN_FOUND, compact, merlin

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
PROCESSES = 3
EPISODES_PER_KIND = 12  # six kinds x 12 episodes x 3 messages = 216 events
FAULTS = {"error_rate": 0.05, "rate_limit_rate": 0.05, "retry_after_s": 1}
SETTLE_S = 90


def _merlin_episode(n: int, borough: str) -> list[bytes]:
    """A MERLIN report, its update and its finding (to the borough and Derbyshire, 830)."""
    ref = f"24MIS{int(borough) * 1000 + n:06d}"
    place = (
        ("<HomeBorough>304<", f"<HomeBorough>{borough}<"),
        ("<PlacementBorough>304<", f"<PlacementBorough>{borough}<"),
    )
    return [
        merlin(*place, message_id=str(uuid.uuid4()), ref=ref),
        merlin(*place, message_id=str(uuid.uuid4()), ref=ref, version=2, notification="UPDATE"),
        merlin(
            *place,
            MERLIN_FOUND,
            message_id=str(uuid.uuid4()),
            ref=ref,
            version=3,
            notification="FOUND",
        ),
    ]


def _compact_episode(number: int, force: str, council: str) -> list[bytes]:
    """A COMPACT case opened, then updated twice (to the one council named)."""
    case = f"MP/{force}/2024/{number:06d}"
    swaps = (
        ("<ForceCode>30<", f"<ForceCode>{force}<"),
        ("<LocalAuthority>Derbyshire County Council<", f"<LocalAuthority>{council}<"),
    )
    opened = compact(*swaps, export_id=str(uuid.uuid4()).upper(), case=case)
    updates = [
        compact(*swaps, export_id=str(uuid.uuid4()).upper(), case=case, sequence=s, event="UPDATE")
        for s in (2, 3)
    ]
    return [opened, *updates]


def _episodes() -> list[tuple[str, str, list[bytes]]]:
    """(source, force, messages in order) for episodes spread across the six demo councils."""
    found: list[tuple[str, str, list[bytes]]] = []
    for n in range(EPISODES_PER_KIND):
        found += [("merlin", "01", _merlin_episode(n, borough)) for borough in ("304", "317")]
        for force, council in (
            ("30", "Derbyshire County Council"),
            ("30", "Derby City"),
            ("13", "Wakefield"),
            ("43", "Slough"),
        ):
            found.append(("compact", force, _compact_episode(len(found), force, council)))
    return found


@pytest.fixture
def database_url(postgres_schema: str) -> Iterator[str]:
    """A private, empty PostgreSQL schema for the three processes; dropped afterwards."""
    schema = f"gw_scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def simulators(tmp_path: Path) -> Iterator[str]:
    """`gateway simulators` in its own process with light faults; yields its base URL."""
    with simulators_process(tmp_path, FAULTS) as url:
        yield url


@pytest.fixture
def gateways(tmp_path: Path, database_url: str, simulators: str) -> Iterator[list[GatewayProcess]]:
    """Three `gateway serve` processes (each with its worker) on one database, migrated once."""
    env = fast_delivery_env(tmp_path, simulators)
    processes = [GatewayProcess(tmp_path / f"gw{i}", database_url) for i in range(PROCESSES)]
    for process in processes:
        process.env |= env
    engine = make_engine(database_url)
    migrate.upgrade(engine)  # once, before any process serves (`gateway db upgrade`, README)
    engine.dispose()
    try:
        starting = [threading.Thread(target=process.start) for process in processes]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        assert all(p.process is not None and p.process.poll() is None for p in processes)
        yield processes
    finally:
        for process in processes:
            process.stop()


class Police:
    """Police IT behind a round-robin balancer: each message is resent until one answers."""

    def __init__(self, gateways: list[GatewayProcess], headers: dict[str, dict[str, str]]) -> None:
        self.gateways = gateways
        self.headers = headers
        self.turn = itertools.count()
        self.answers: list[tuple[int, int, dict[str, Any]]] = []  # (process, status, receipt)
        self.failures: list[str] = []

    def post_episodes(self, episodes: list[tuple[str, str, list[bytes]]]) -> None:
        """Post each episode's messages in order, each only after the previous was answered."""
        with httpx.Client(timeout=10) as http:
            for source, force, bodies in episodes:
                for body in bodies:
                    if not self._post(http, source, body, self.headers[force]):
                        return

    def _post(self, http: httpx.Client, source: str, body: bytes, key: dict[str, str]) -> bool:
        for _ in range(600):
            which = next(self.turn) % len(self.gateways)
            try:
                answer = http.post(
                    f"{self.gateways[which].url}/v1/inbound/{source}",
                    content=body,
                    headers={**XML, **key},
                )
            except httpx.TransportError:
                time.sleep(0.05)  # that process is down: the balancer tries the next one
                continue
            if answer.status_code in (200, 202):
                self.answers.append((which, answer.status_code, answer.json()))
                return True
            self.failures.append(f"{answer.status_code}: {answer.text[:300]}")
            return False
        self.failures.append("no gateway answered")
        return False


def _police_keys(database_url: str, forces: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Authorization headers of a police key per force (what `gateway keys create` issues)."""
    engine = make_engine(database_url)
    try:
        with unit_of_work(engine, audits=True) as connection:
            issued = {f: keys.create(connection, keys.Role.POLICE, force=f) for f in forces}
    finally:
        engine.dispose()
    return {f: {"Authorization": f"Bearer {key}"} for f, key in issued.items()}


def test_three_processes_share_the_work_once_and_in_order_through_a_kill(
    gateways: list[GatewayProcess], database_url: str, simulators: str, tmp_path: Path
) -> None:
    """216 events posted round-robin to three processes, one killed: all stored, once, in order."""
    headers = _police_keys(database_url, ("01", "30", "13", "43"))
    episodes = _episodes()
    police = Police(gateways, headers)
    posters = [
        threading.Thread(target=police.post_episodes, args=(episodes[i::6],)) for i in range(6)
    ]
    for poster in posters:
        poster.start()
    total = sum(len(bodies) for _, _, bodies in episodes)
    while len(police.answers) < total * 0.4 and any(p.is_alive() for p in posters):
        time.sleep(0.05)
    gateways[1].kill9()  # mid-ingest, with deliveries claimed and in flight
    time.sleep(2)
    gateways[1].start()
    for poster in posters:
        poster.join(timeout=120)
    assert not police.failures, police.failures[:3]
    assert len(police.answers) == total
    assert {which for which, status, _ in police.answers if status == 202} == {0, 1, 2}
    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + SETTLE_S
        while unsettled(engine) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert unsettled(engine) == 0, "deliveries left unsettled"
        _assert_stored(engine, police.answers, total, tmp_path / "audit-checkpoints")
        _assert_shared(engine)
        assert_exactly_once_in_order(engine, simulators)
    finally:
        engine.dispose()


def _assert_stored(
    engine: Engine, answers: list[tuple[int, int, dict[str, Any]]], total: int, checkpoints: Path
) -> None:
    """Every receipt police IT were given names a stored message; nothing was lost or doubled.

    The audit chain verifies against the checkpoints all three processes wrote to one file.
    """
    with engine.connect() as connection:
        stored = set(connection.execute(select(messages.c.id)).scalars())
        # Events from police messages; the policy timer may add events of its own.
        from_police = select(func.count()).where(events.c.message_row_id.is_not(None))
        assert connection.execute(from_police).scalar_one() == total
        report = audit.verify(connection, CheckpointLog(checkpoints, AUDIT_KEY.encode()))
        assert report.ok and report.entries > 0 and report.checkpoints > 0, report.problems
    assert {receipt["receipt_id"] for _, _, receipt in answers} == stored
    assert len(stored) == total


def _assert_shared(engine: Engine) -> None:
    """Deliveries were attempted by workers in every process (the restarted one counts anew)."""
    with engine.connect() as connection:
        actors = set(
            connection.execute(
                select(audit_log.c.actor)
                .where(audit_log.c.action == str(audit.Action.ATTEMPTED))
                .distinct()
            ).scalars()
        )
    assert len({a for a in actors if a.startswith("worker:")}) >= PROCESSES, actors
