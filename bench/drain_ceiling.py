"""The drain against the targets' own ceiling, both measured in the same run.

The targets are `bench/noop_target.py`: Mosaic and FWi answering every call with a fixed
success. First a plain client (8 threads, one `httpx.Client` each, as the worker's 8 slots)
posts the two systems' golden payloads to them for a while: what the targets and the machine
allow a Python client. Then a backlog of queued deliveries (two per message: Brent on Mosaic,
Derbyshire on FWi) is drained by a separate `gateway worker` process against the same targets;
the drain rate over that ceiling is the figure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench import seed
from bench.processes import ROOT, Backend, helper_process, launch
from bench.scenarios import Figure, _drain_rate, _wait_settled, reader

THREADS = 8
_GOLDEN = ROOT / "adapters"


def noop_target(log_dir: Path) -> AbstractContextManager[str]:
    """`bench.noop_target` in its own process; its base URL."""
    return helper_process(
        "bench.noop_target", log=log_dir / "noop-target.log", ready="/oauth/token"
    )


def _requests(url: str) -> list[tuple[str, dict[str, str], bytes]]:
    """One Mosaic and one FWi call, as the worker sends them (the golden `reported` payloads)."""
    mosaic = (_GOLDEN / "mosaic/fixtures/golden/reported_not_looked_after.json").read_bytes()
    fwi = (_GOLDEN / "fwi/fixtures/golden/reported_not_looked_after.xml").read_bytes()
    return [
        (
            f"{url}/sim/mosaic/304/api/v1/missing-episodes",
            {"Authorization": "Bearer noop-token", "Content-Type": "application/json"},
            mosaic,
        ),
        (
            f"{url}/sim/fwi/830/FWiIntegration/MissingEpisodeService.svc",
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"noop"'},
            fwi,
        ),
    ]


def ceiling(url: str, seconds: float) -> float:
    """Calls a second that a plain 8-thread httpx client gets from the no-op targets."""
    calls = _requests(url)
    counts = [0] * THREADS
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        with httpx.Client(trust_env=False) as http:
            while time.monotonic() < stop:
                target, headers, body = calls[counts[index] % len(calls)]
                http.post(target, headers=headers, content=body).raise_for_status()
                counts[index] += 1

    began = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began)


def seed_backlog(url: str, deliveries: int) -> None:
    """Queue `deliveries` due deliveries (two per message), as after an outage."""
    template = seed.capture()
    count = deliveries // 2
    seed.seed(url, template, range(count), edit=seed.as_backlog, newest=datetime.now(UTC),
              spacing=timedelta(seconds=600) / count)  # fmt: skip


def run_worker(root: Path, database_url: str, target: str) -> subprocess.Popen[bytes]:
    """`gateway worker` on the database, the demo routing pointed at the no-op targets."""
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(root),
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_PUBLIC_URL": target,  # the demo routing's `{simulators}`
        "GATEWAY_SIMULATORS": "0",
        "GATEWAY_LOG_LEVEL": "info",
        "PYTHONPATH": str(ROOT),
    }
    argv = [sys.executable, "-m", "gateway", "worker"]
    return launch(argv, env, root / "worker.log", stderr_only=True)


def drain(backend: Backend, target: str, deliveries: int, timeout: float = 600) -> float:
    """Seed a backlog, drain it with a separate worker; deliveries a second."""
    url = backend.url("drain_ceiling")
    seed_backlog(url, deliveries)
    started = datetime.now(UTC)
    worker = run_worker(backend.root / "drain-worker", url, target)
    try:
        with reader(url) as engine:
            _wait_settled(engine, timeout=timeout)
            rate, count = _drain_rate(engine, started)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    if count != deliveries:
        raise RuntimeError(f"{count} of {deliveries} delivered")
    return rate


def drain_vs_ceiling(backend: Backend, deliveries: int, seconds: float) -> list[Figure]:
    """The ceiling before and after the drain (their mean is the reference), and the drain."""
    with noop_target(backend.root / "noop-target") as target:
        before = ceiling(target, seconds)
        rate = drain(backend, target, deliveries)
        after = ceiling(target, seconds)
    reference = (before + after) / 2
    return [
        Figure(backend.name, f"drain of {deliveries:,} by `gateway worker`, no-op targets",
               "deliveries/s", rate, "plain 8-thread client, same targets", reference,
               "≥ 0.5 x client", rate >= 0.5 * reference),
    ]  # fmt: skip
