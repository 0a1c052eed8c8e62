"""A plain client's cost against the no-op targets: 8 threads with httpx's sync client, then
8 tasks with its `AsyncClient` on one event loop (docs/decisions/0035).

Usage: `.venv/bin/python -m bench.client_cost [--requests N]`. Prints, for each, the CPU this
process spent per request and the requests a second, twice, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.drain_ceiling import THREADS, _requests, noop_target

Call = tuple[str, dict[str, str], bytes]


def threads(calls: list[Call], total: int) -> tuple[float, float]:
    """(ms of CPU per request, requests a second) for `THREADS` threads, one client each."""
    each = total // THREADS

    def run() -> None:
        with httpx.Client(trust_env=False) as http:
            for i in range(each):
                url, headers, body = calls[i % len(calls)]
                http.post(url, headers=headers, content=body).raise_for_status()

    workers = [threading.Thread(target=run) for _ in range(THREADS)]
    cpu, began = time.process_time(), time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done = each * THREADS
    return (time.process_time() - cpu) / done * 1000, done / (time.monotonic() - began)


async def tasks(calls: list[Call], total: int) -> tuple[float, float]:
    """The same with `THREADS` tasks sharing one `AsyncClient`."""
    each = total // THREADS
    async with httpx.AsyncClient(trust_env=False) as http:

        async def run() -> None:
            for i in range(each):
                url, headers, body = calls[i % len(calls)]
                (await http.post(url, headers=headers, content=body)).raise_for_status()

        cpu, began = time.process_time(), time.monotonic()
        await asyncio.gather(*(run() for _ in range(THREADS)))
    done = each * THREADS
    return (time.process_time() - cpu) / done * 1000, done / (time.monotonic() - began)


def main() -> None:
    """Print both, twice."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, noop_target(Path(tmp)) as url:
        calls = _requests(url)
        for _ in range(2):
            cpu, rate = threads(calls, args.requests)
            print(f"8 threads, sync client: {cpu:.3f} ms CPU/request, {rate:.0f}/s")
            cpu, rate = asyncio.run(tasks(calls, args.requests))
            print(f"8 tasks, AsyncClient:   {cpu:.3f} ms CPU/request, {rate:.0f}/s")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
