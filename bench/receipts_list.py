"""A page of `GET /v1/receipts` as a force's stored history grows (docs/decisions/0030).

Seeds a small and a large store of force 01's messages (bench.seed's clones of a real ingest,
delivered, spread evenly over a year), then times the app's own route in process, with a police
key, on each store:

- the newest page (50 messages);
- the messages since an hour before the newest ("since 08:00");
- `status=dead` over the last 30 days, which no message matches, so the database computes the
  status of every message in range: the worst case for the status filter.

Each figure is printed beside the same one on the small store, with their ratio; read the
ratios (the machine is shared). `--ingest` instead measures what the index the list reads
(`ix_messages_force_received`) costs ingest: two fresh stores, one without the index, ingesting
new reports alternately in the same run.

    .venv/bin/python -m bench.receipts_list [--backend sqlite|postgres] [--small N] [--large N]
    .venv/bin/python -m bench.receipts_list --ingest [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from bench import seed
from bench.ingest_cost import _gateway, _ms_per_call
from bench.load import message
from bench.processes import backend
from bench.scenarios import police_key
from gateway.api.app import build_services, create_app
from gateway.settings import Settings
from gateway.store.engine import make_engine

YEAR = timedelta(days=365)
ROUNDS = 7


def _time_page(client: TestClient, key: str, params: dict[str, Any]) -> float:
    """The median milliseconds of a page over ROUNDS requests, after one to warm up."""
    headers = {"Authorization": f"Bearer {key}"}
    samples = []
    for round_ in range(ROUNDS + 1):
        started = time.perf_counter()
        response = client.get("/v1/receipts", params=params, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.text
        if round_:
            samples.append(elapsed)
    return statistics.median(samples)


def measure(url: str, root: Path, newest: datetime) -> dict[str, float]:
    """Each page's median time on one seeded store."""
    key = police_key(url)
    engine = make_engine(url)
    settings = Settings(data_dir=root, worker=False, ingest_processes=0, _env_file=None)
    services = build_services(settings, engine=engine, upgrade=False)
    pages: dict[str, dict[str, Any]] = {
        "newest page": {"limit": 50},
        "since an hour ago": {"since": (newest - timedelta(hours=1)).isoformat()},
        "status=dead, last 30 days": {
            "status": "dead",
            "since": (newest - timedelta(days=30)).isoformat(),
        },
    }
    try:
        with TestClient(create_app(services)) as client:
            return {name: _time_page(client, key, params) for name, params in pages.items()}
    finally:
        engine.dispose()


def ingest_ab(name: str, rounds: int = 8, batch: int = 300) -> None:
    """Ingest per message with and without the receipts index, alternating, in one run."""
    numbers = iter(range(60_000_000, 70_000_000))

    def fresh(count: int) -> list[bytes]:
        return [message(next(numbers)) for _ in range(count)]

    timings: dict[str, list[float]] = {"with the index": [], "without": []}
    with (
        backend(name) as scratch,
        _gateway(scratch, "indexed", "FULL") as (indexed, _),
        _gateway(scratch, "plain", "FULL") as (plain, engine),
    ):
        with engine.begin() as connection:
            connection.execute(text("DROP INDEX ix_messages_force_received"))
        runs = {"with the index": indexed, "without": plain}
        for ingest in runs.values():
            for body in fresh(200):  # warm: schema compiled, statements cached
                ingest(body)
        for round_ in range(rounds):  # alternating which goes first
            for label in sorted(runs, reverse=bool(round_ % 2)):
                timings[label].append(_ms_per_call(runs[label], fresh(batch)))
    a, b = (statistics.median(timings[label]) for label in ("with the index", "without"))
    print(f"{name}: ingest {a:.3f} ms/msg with the index, {b:.3f} without: ratio {a / b:.3f}")


def main() -> None:
    """Seed both stores on the backend, time the pages, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--ingest", action="store_true", help="the index's cost to ingest")
    args = parser.parse_args()
    if args.ingest:
        ingest_ab(args.backend)
        return
    template = seed.capture()
    newest = datetime.now(UTC)
    results = {}
    with backend(args.backend) as scratch:
        for stored in (args.small, args.large):
            url = scratch.url(f"receipts{stored}")
            seed.seed(url, template, range(stored), edit=seed.as_history, newest=newest,
                      spacing=YEAR / stored)  # fmt: skip
            results[stored] = measure(url, scratch.root, newest)
    print(f"| backend | page | {args.large:,} stored | {args.small:,} stored | ratio |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, large in results[args.large].items():
        small = results[args.small][name]
        row = f"{large:.1f} ms | {small:.1f} ms | {large / small:.2f}"
        print(f"| {args.backend} | {name} | {row} |")


if __name__ == "__main__":
    main()
