"""Real `gateway serve` against hostile input: bombs, form floods, stalled heads; its files.

Bombs are refused quickly while another force is served, forms are bounded, a stalled request
head is cut off, and the data directory and database are private. `bench.hostile` measures
the same things and prints the figures.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.acceptance.process import GatewayProcess
from tests.contract.bombs import BOMBS
from tests.messages import compact, merlin, new_id

pytestmark = pytest.mark.slow
XML = {"Content-Type": "application/xml"}
# Over HTTP, with margin for a loaded machine (docs/decisions/0022 has the figures).
BOUND_S = 5.0


def _post(url: str, path: str, body: bytes, key: dict[str, str]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = httpx.post(f"{url}{path}", content=body, headers={**XML, **key}, timeout=120)
    return time.perf_counter() - started, response


def test_bombs_are_refused_in_bounded_time_and_another_force_is_not_held_up(
    gateway: GatewayProcess,
) -> None:
    """Each full-size bomb from force 01 gets its 4xx quickly; force 30's message meanwhile 202."""
    gateway.env["GATEWAY_WORKER"] = "0"
    gateway.start()
    met = gateway.key("--role", "police", "--force", "01")
    derbyshire = gateway.key("--role", "police", "--force", "30")
    for name, (build, status, code) in BOMBS.items():
        answer: list[tuple[float, httpx.Response]] = []
        bomb = build(merlin())
        thread = threading.Thread(
            target=lambda b=bomb, a=answer: a.append(
                _post(gateway.url, "/v1/inbound/merlin", b, met)
            )
        )
        thread.start()
        valid = compact(export_id=new_id(), case=f"MP/30/2024/{len(name):06d}")
        took, other = _post(gateway.url, "/v1/inbound/compact", valid, derbyshire)
        thread.join()
        bomb_took, refused = answer[0]
        assert (refused.status_code, refused.json()["code"]) == (status, code), name
        assert bomb_took < BOUND_S, f"{name} took {bomb_took:.1f} s to refuse"
        assert other.status_code == 202, other.text
        assert took < BOUND_S, f"force 30 waited {took:.1f} s beside {name}"


def _flood(fields: int, size: int) -> Iterator[bytes]:
    for n in range(fields):
        yield (b"&" if n else b"") + f"f{n}=".encode() + b"a" * size


def test_a_form_flood_without_a_key_leaves_memory_where_it_was(gateway: GatewayProcess) -> None:
    """300 MB of sign-in form, declared or streamed, is refused with 413 and not kept."""
    gateway.env["GATEWAY_WORKER"] = "0"
    gateway.start()
    before = gateway.peak_rss_kib()
    length = sum(len(part) for part in _flood(300, 1_000_000))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for headers in (form | {"Content-Length": str(length)}, form):
        try:
            answer = httpx.post(
                f"{gateway.url}/ui/sign-in",
                content=_flood(300, 1_000_000),
                headers=headers,
                timeout=120,
            )
            assert answer.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection on us once it has answered 413
    growth_mib = (gateway.peak_rss_kib() - before) / 1024
    assert growth_mib < 20, f"peak memory grew by {growth_mib:.0f} MiB"


def test_a_stalled_request_head_is_cut_off_and_files_are_private(
    gateway: GatewayProcess,
) -> None:
    """A head trickled a byte a second is closed at the header timeout; data is 0700/0600."""
    gateway.env |= {"GATEWAY_WORKER": "0", "GATEWAY_HEADER_TIMEOUT_S": "1"}
    previous = os.umask(0o022)  # the server inherits the usual umask
    try:
        gateway.start()
    finally:
        os.umask(previous)
    with socket.create_connection(("127.0.0.1", gateway.port)) as connection:
        connection.settimeout(1)
        started = time.monotonic()
        closed_after = None
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaa":
            try:
                connection.sendall(bytes([byte]))
                if connection.recv(1024) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None and closed_after < 1 + BOUND_S
    if gateway.env.get("GATEWAY_DATABASE_URL"):
        return  # PostgreSQL: no database files here
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in gateway.data_dir.glob("gateway.db*")}
    assert stat.S_IMODE(gateway.data_dir.stat().st_mode) == 0o700
    assert modes and set(modes.values()) == {0o600}, modes
