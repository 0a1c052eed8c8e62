"""Chaos: faulty simulators and `kill -9` of the gateway; every event arrives once, in order.

Real processes: the simulators run as `gateway simulators` (they outlive the gateway, as a
council's case system would), the gateway as `gateway serve`, killed with SIGKILL at random
moments while police IT post and while it delivers, then started again.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from gateway.store.schema import events
from tests.acceptance.delivery_checks import (
    assert_exactly_once_in_order,
    fast_delivery_env,
    simulators_process,
    unsettled,
)
from tests.acceptance.process import GatewayProcess
from tests.messages import MERLIN_FOUND, compact, merlin

pytestmark = pytest.mark.slow
XML = {"Content-Type": "application/xml"}
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
    with simulators_process(tmp_path, FAULTS) as url:
        yield url


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


def test_every_event_is_delivered_exactly_once_in_order_through_faults_and_kills(
    gateway: GatewayProcess,
    simulators: str,
    tmp_path: Path,
) -> None:
    """1 008 events to six councils, 30 % faults, 20 kill -9s: all delivered once, in order."""
    gateway.env |= fast_delivery_env(tmp_path, simulators)
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
    engine = create_engine(_engine_url(gateway))
    try:
        deadline = time.monotonic() + 600
        while unsettled(engine) and time.monotonic() < deadline:
            time.sleep(1)
        assert unsettled(engine) == 0, "deliveries left unsettled"
        with engine.connect() as connection:  # every message's events (the policy timer's aside)
            stored = connection.execute(
                select(func.count()).where(events.c.message_row_id.is_not(None))
            ).scalar_one()
        assert stored == 1008
        assert_exactly_once_in_order(engine, simulators)
    finally:
        engine.dispose()
