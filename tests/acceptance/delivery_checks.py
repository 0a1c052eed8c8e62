"""What the multi-process delivery tests share: simulators in a process, and the checks.

Both the chaos test (one gateway, kill -9) and the scale-out test (three gateways) start
`gateway simulators` with seeded faults and end by checking, against the simulators' record
books, that every delivery was recorded exactly once and in order per (episode, council).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from gateway.store.schema import deliveries
from tests.acceptance.process import GATEWAY, free_port

SYSTEMS = ("mosaic", "fwi", "protocol")
# The demo's six councils, pointed at the simulators with a 1 s timeout so faults cost little.
DEMO = [
    ("304", "Brent", "mosaic", "brent"),
    ("317", "Redbridge", "protocol", "redbridge"),
    ("830", "Derbyshire", "fwi", "derbyshire"),
    ("831", "Derby", "mosaic", "derby"),
    ("384", "Wakefield", "mosaic", "wakefield"),
    ("871", "Slough", "protocol", "slough"),
]
ENTRY = """  - code: "{code}"
    name: {name}
    system: {system}
    base_url: "{{simulators}}/sim/{system}/{code}"
    policy: {policy}
    timeout_s: 1
"""


AUDIT_KEY = "the acceptance tests' synthetic audit key"


def fast_delivery_env(folder: Path, simulators: str) -> dict[str, str]:
    """Settings for a gateway delivering to `simulators` with short retries (writes its routing).

    Not the demo routing, so the audit key is set; every process shares one checkpoint folder.
    """
    routing = folder / "routing.yaml"
    entries = "".join(ENTRY.format(code=c, name=n, system=s, policy=p) for c, n, s, p in DEMO)
    routing.write_text(f"councils:\n{entries}")
    return {
        "GATEWAY_ROUTING_FILE": str(routing),
        "GATEWAY_PUBLIC_URL": simulators,
        "GATEWAY_SIMULATORS": "0",
        "GATEWAY_RETRY_BASE_S": "0.05",
        "GATEWAY_RETRY_CAP_S": "1",
        "GATEWAY_BREAKER_OPEN_S": "0.5",
        "GATEWAY_ACK_POLL_S": "0.5",
        "GATEWAY_WORKER_POLL_S": "0.1",
        "GATEWAY_AUDIT_KEY": AUDIT_KEY,
        "GATEWAY_AUDIT_CHECKPOINT_DIR": str(folder / "audit-checkpoints"),
    }


@contextmanager
def simulators_process(log_dir: Path, faults: Mapping[str, Any]) -> Iterator[str]:
    """`gateway simulators` in its own process, each system seeded with `faults`; its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (log_dir / "simulators.log").open("wb") as log:
        process = subprocess.Popen(
            [*GATEWAY, "simulators", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            _wait_until_up(url)
            for seed, system in enumerate(SYSTEMS):
                httpx.put(
                    f"{url}/sim/{system}/_control/faults", json={**faults, "seed": seed}
                ).raise_for_status()
            yield url
        finally:
            process.terminate()
            process.wait(timeout=15)


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/sim/mosaic/_control/faults", timeout=1).raise_for_status()
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "gateway simulators did not come up"
            time.sleep(0.1)


def unsettled(engine: Engine) -> int:
    """How many deliveries are not delivered yet."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(deliveries.c.status != "delivered")
            ).scalar_one()
        )


def assert_exactly_once_in_order(engine: Engine, simulators: str) -> None:
    """Each delivery recorded once by its council's simulator, in seq order per episode."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                deliveries.c.idempotency_key,
                deliveries.c.council,
                deliveries.c.episode_id,
                deliveries.c.seq,
            )
        ).all()
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
