"""Chaos: faulty simulators and `kill -9` of the gateway; every event arrives once, in order.

Real processes: the simulators run as `gateway simulators` (they outlive the gateway, as a
council's case system would), the gateway as `gateway serve`, killed with SIGKILL at random
moments while police IT post and while it delivers, then started again.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.acceptance.delivery_checks import (
    assert_exactly_once_in_order,
    fast_delivery_env,
    simulators_process,
)
from tests.acceptance.fault_run import (
    episodes,
    send_with_kills,
    stored_from_messages,
    wait_until_delivered,
)
from tests.acceptance.process import GatewayProcess

pytestmark = pytest.mark.slow
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


@pytest.fixture
def simulators(tmp_path: Path) -> Iterator[str]:
    """`gateway simulators` in its own process, faults on; yields its base URL."""
    with simulators_process(tmp_path, FAULTS) as url:
        yield url


def _engine_url(gw: GatewayProcess) -> str:
    return gw.env.get("GATEWAY_DATABASE_URL") or f"sqlite:///{gw.data_dir / 'gateway.db'}"


def test_every_event_is_delivered_exactly_once_in_order_through_faults_and_kills(
    gateway: GatewayProcess,
    simulators: str,
    tmp_path: Path,
) -> None:
    """1 008 events to six councils, 30 % faults, 20 kill -9s: all delivered once, in order."""
    gateway.env |= fast_delivery_env(tmp_path, simulators)
    found = episodes(EPISODES_PER_KIND, messages=2)
    random.Random(7).shuffle(found)
    run = send_with_kills(gateway, found, kills=KILLS)
    assert not run.sending.failures, run.sending.failures[:3]
    engine = create_engine(_engine_url(gateway))
    try:
        assert wait_until_delivered(engine, 600), "deliveries left unsettled"
        assert stored_from_messages(engine) == 1008
        assert_exactly_once_in_order(engine, simulators)
    finally:
        engine.dispose()
