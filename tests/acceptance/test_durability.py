"""Real processes: a 202 survives `kill -9`, and hostile bodies leave memory bounded."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.process import GatewayProcess
from tests.messages import merlin

pytestmark = pytest.mark.slow
XML = {"Content-Type": "application/xml"}


def _submit_until_stopped(
    url: str, headers: dict[str, str], accepted: list[str], stop: threading.Event
) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        while not stop.is_set():
            message_id = str(uuid.uuid4())
            ref = f"24MIS{random.randrange(10**6):06d}"
            try:
                response = http.post(
                    "/v1/inbound/merlin",
                    headers={**XML, **headers},
                    content=merlin(message_id=message_id, ref=ref),
                )
            except httpx.TransportError:
                return  # the server died mid-request: that message was never acknowledged
            if response.status_code == 202:
                accepted.append(message_id)


def test_every_acknowledged_message_survives_kill_9(gateway: GatewayProcess) -> None:
    """Five times: submit continuously, SIGKILL at a random moment, restart, find every 202."""
    gateway.command("db", "upgrade")
    police = gateway.key("--role", "police", "--force", "01")
    operator = gateway.key("--role", "operator")
    accepted: list[str] = []
    for _ in range(5):
        gateway.start()
        stop = threading.Event()
        before = len(accepted)
        worker = threading.Thread(
            target=_submit_until_stopped, args=(gateway.url, police, accepted, stop)
        )
        worker.start()
        # Kill at a random moment once this round is under way (its first 202 is in), so a
        # slow start on a loaded machine cannot leave a round with nothing acknowledged.
        deadline = time.monotonic() + 30
        while len(accepted) == before and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(random.uniform(0.0, 0.9))
        gateway.kill9()
        stop.set()
        worker.join(timeout=30)
    gateway.start()
    assert len(accepted) >= 5
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        for message_id in accepted:
            receipt = http.get(f"/v1/receipts/merlin/{message_id}", headers=police)
            assert receipt.status_code == 200, f"acknowledged message {message_id} was lost"
            episode = http.get(f"/v1/episodes/{receipt.json()['episode_id']}", headers=operator)
            assert episode.status_code == 200
        assert http.get("/v1/audit/verify", headers=operator).json()["ok"] is True


def test_hostile_bodies_leave_memory_bounded(gateway: GatewayProcess) -> None:
    """50 MB bodies, 100 000-deep nesting and entity bombs are refused without memory growth."""
    gateway.start()
    police = gateway.key("--role", "police", "--force", "01")
    headers = {**XML, **police}
    with httpx.Client(base_url=gateway.url, timeout=60) as http:
        assert http.post("/v1/inbound/merlin", headers=headers, content=merlin()).status_code == 202
        baseline = gateway.peak_rss_kib()
        fifty_mb = b"<a>" + b"x" * (50 * 1024 * 1024) + b"</a>"
        assert http.post("/v1/inbound/merlin", headers=headers, content=fifty_mb).status_code == 413

        def stream() -> Iterator[bytes]:
            for _ in range(50):
                yield b"y" * (1024 * 1024)

        try:
            streamed = http.post("/v1/inbound/merlin", headers=headers, content=stream())
            assert streamed.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection on us once it has answered 413
        deep = b"<a>" * 100_000 + b"</a>" * 100_000
        answer = http.post("/v1/inbound/merlin", headers=headers, content=deep)
        assert answer.status_code == 400
        assert answer.json()["code"] == "nesting-too-deep"
        bomb = (
            Path(__file__).parents[1] / "contract" / "hostile" / "billion_laughs.xml"
        ).read_bytes()
        for _ in range(20):
            assert http.post("/v1/inbound/merlin", headers=headers, content=bomb).status_code == 400
    growth_mib = (gateway.peak_rss_kib() - baseline) / 1024
    assert growth_mib < 64, f"peak memory grew by {growth_mib:.0f} MiB"
