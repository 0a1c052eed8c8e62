"""Chaos: faulty simulators and `kill -9` of the gateway; every event arrives once, in order.

Real processes: the simulators run as `gateway simulators` (they outlive the gateway, as a
council's case system would), the gateway as `gateway serve`, killed with SIGKILL at random
moments while police IT post and while it delivers, then started again.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from gateway.store.schema import deliveries, events
from tests.acceptance.process import GATEWAY, GatewayProcess, free_port
from tests.messages import MERLIN_FOUND, compact, merlin

pytestmark = pytest.mark.slow
XML = {"Content-Type": "application/xml"}
SYSTEMS = ("mosaic", "fwi", "protocol")
EPISODES_PER_KIND = 84  # six kinds x 84 episodes x 2 messages = 1008 events
KILLS = 20
# 30 % of calls fail: errors, timeouts (answered after the client gave up) and 429s.
FAULTS = {
    "error_rate": 0.1,
    "timeout_rate": 0.1,
    "rate_limit_rate": 0.1,
    "retry_after_s": 1,
    "timeout_delay_s": 1.5,
}
ROUTING = """councils:
{entries}
"""
ENTRY = """  - code: "{code}"
    name: {name}
    system: {system}
    base_url: "{{simulators}}/sim/{system}/{code}"
    policy: {policy}
    timeout_s: 1
"""
DEMO = [
    ("304", "Brent", "mosaic", "brent"),
    ("317", "Redbridge", "protocol", "redbridge"),
    ("830", "Derbyshire", "fwi", "derbyshire"),
    ("831", "Derby", "mosaic", "derby"),
    ("384", "Wakefield", "mosaic", "wakefield"),
    ("871", "Slough", "protocol", "slough"),
]


def _episodes() -> list[tuple[str, str, list[bytes]]]:
    """(source, force, [first, second message]) for every episode, across the six councils."""
    found: list[tuple[str, str, list[bytes]]] = []
    for n in range(EPISODES_PER_KIND):
        for borough in ("304", "317"):
            ref = f"24MIS{int(borough) * 1000 + n:06d}"
            place = (
                ("<HomeBorough>304<", f"<HomeBorough>{borough}<"),
                ("<PlacementBorough>304<", f"<PlacementBorough>{borough}<"),
            )
            found.append(
                (
                    "merlin",
                    "01",
                    [
                        merlin(*place, message_id=str(uuid.uuid4()), ref=ref),
                        merlin(
                            *place,
                            MERLIN_FOUND,
                            message_id=str(uuid.uuid4()),
                            ref=ref,
                            version=2,
                            notification="FOUND",
                        ),
                    ],
                )
            )
        for force, council in (
            ("30", "Derbyshire County Council"),
            ("30", "Derby City"),
            ("13", "Wakefield"),
            ("43", "Slough"),
        ):
            case = f"MP/{force}/2024/{len(found):06d}"
            swaps = (
                ("<ForceCode>30<", f"<ForceCode>{force}<"),
                ("<LocalAuthority>Derbyshire County Council<", f"<LocalAuthority>{council}<"),
            )
            found.append(
                (
                    "compact",
                    force,
                    [
                        compact(*swaps, export_id=str(uuid.uuid4()).upper(), case=case),
                        compact(
                            *swaps,
                            export_id=str(uuid.uuid4()).upper(),
                            case=case,
                            sequence=2,
                            event="UPDATE",
                        ),
                    ],
                )
            )
    return found


@pytest.fixture
def simulators(tmp_path: Path) -> Iterator[str]:
    """`gateway simulators` in its own process, faults on; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "simulators.log").open("wb")
    process = subprocess.Popen(
        [*GATEWAY, "simulators", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/sim/mosaic/_control/faults", timeout=1).raise_for_status()
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "gateway simulators did not come up"
            time.sleep(0.1)
    for seed, system in enumerate(SYSTEMS):
        httpx.put(
            f"{url}/sim/{system}/_control/faults", json={**FAULTS, "seed": seed}
        ).raise_for_status()
    yield url
    process.terminate()
    process.wait(timeout=15)
    log.close()


def _post_in_order(
    gw: GatewayProcess,
    keys: dict[str, dict[str, str]],
    episodes: list[tuple[str, str, list[bytes]]],
    failures: list[str],
) -> None:
    """Post each episode's messages in order, resending until the gateway answers (police IT)."""
    with httpx.Client(base_url=gw.url, timeout=10) as http:
        for source, force, bodies in episodes:
            for body in bodies:
                for _ in range(600):
                    try:
                        answer = http.post(
                            f"/v1/inbound/{source}", content=body, headers={**XML, **keys[force]}
                        )
                    except httpx.TransportError:
                        time.sleep(0.1)  # killed: resend once it is back
                        continue
                    if answer.status_code in (200, 202):
                        break
                    failures.append(f"{answer.status_code}: {answer.text[:300]}")
                    return
                else:
                    failures.append("the gateway never came back")
                    return


def _engine_url(gw: GatewayProcess) -> str:
    return gw.env.get("GATEWAY_DATABASE_URL") or f"sqlite:///{gw.data_dir / 'gateway.db'}"


def _unsettled(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return len(
                connection.execute(
                    select(deliveries.c.id).where(deliveries.c.status != "delivered")
                ).all()
            )
    finally:
        engine.dispose()


def test_every_event_is_delivered_exactly_once_in_order_through_faults_and_kills(
    gateway: GatewayProcess,
    simulators: str,
    tmp_path: Path,
) -> None:
    """1 008 events to six councils, 30 % faults, 20 kill -9s: all delivered once, in order."""
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        ROUTING.format(
            entries="".join(ENTRY.format(code=c, name=n, system=s, policy=p) for c, n, s, p in DEMO)
        )
    )
    gateway.env |= {
        "GATEWAY_ROUTING_FILE": str(routing),
        "GATEWAY_PUBLIC_URL": simulators,
        "GATEWAY_SIMULATORS": "0",
        "GATEWAY_RETRY_BASE_S": "0.05",
        "GATEWAY_RETRY_CAP_S": "1",
        "GATEWAY_BREAKER_COOLDOWN_S": "0.5",
        "GATEWAY_ACK_POLL_S": "0.5",
        "GATEWAY_WORKER_POLL_S": "0.1",
    }
    keys = {f: gateway.key("--role", "police", "--force", f) for f in ("01", "30", "13", "43")}
    episodes = _episodes()
    random.Random(7).shuffle(episodes)
    gateway.start()
    failures: list[str] = []
    posters = [
        threading.Thread(target=_post_in_order, args=(gateway, keys, episodes[i::4], failures))
        for i in range(4)
    ]
    for poster in posters:
        poster.start()
    dice = random.Random(11)
    for _ in range(KILLS):  # kills land during ingest and, once posting is done, during delivery
        time.sleep(dice.uniform(0.5, 2.5))
        gateway.kill9()
        gateway.start()
    for poster in posters:
        poster.join(timeout=600)
    assert not failures, failures[:3]
    url = _engine_url(gateway)
    deadline = time.monotonic() + 600
    while _unsettled(url) and time.monotonic() < deadline:
        time.sleep(1)
    assert _unsettled(url) == 0, "deliveries left unsettled"
    _assert_exactly_once_in_order(url, simulators)


def _assert_exactly_once_in_order(url: str, simulators: str) -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                deliveries.c.idempotency_key,
                deliveries.c.council,
                deliveries.c.episode_id,
                deliveries.c.seq,
                events.c.type,
            ).join(events, events.c.id == deliveries.c.event_id)
        ).all()
        assert connection.execute(text("SELECT count(*) FROM events")).scalar_one() == 1008
    engine.dispose()
    expected = {r.idempotency_key: r for r in rows}
    seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for system in SYSTEMS:
        book = httpx.get(f"{simulators}/sim/{system}/_control/records", timeout=10).json()
        for council, records in book.items():
            seen[council].extend(records)
    recorded = [r for records in seen.values() for r in records]
    assert sorted(r["idempotency_key"] for r in recorded) == sorted(expected)
    assert all(r["times_recorded"] == 1 for r in recorded), "a simulator recorded one twice"
    for council, records in seen.items():
        order: dict[str, list[int]] = defaultdict(list)
        for record in records:  # arrival order at the council's case system
            row = expected[record["idempotency_key"]]
            assert row.council == council
            order[row.episode_id].append(row.seq)
        assert all(seqs == sorted(seqs) for seqs in order.values()), f"out of order at {council}"
