"""The measurements of `bench.run`, each with its reference taken in the same run.

Times that matter are read back from the database (`received_at`, `created_at`,
`delivered_at`, all stamped by the gateway with one clock), so polling adds no error to them.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, func, select

from bench import seed
from bench.load import FIRST_LIVE, message
from bench.processes import Backend, Simulators, load, serving
from gateway import keys
from gateway.store.engine import make_engine, normalise_url
from gateway.store.schema import deliveries, messages
from gateway.store.work import unit_of_work

PROBES_FROM = 90_000_000  # message numbers of the high-risk probes (load runs stay below)
INGEST, NOOP, BARE = "/v1/inbound/merlin", "/bench/noop", "/bench/bare"
# The references (bench/server.py): FastAPI alone, and the gateway's stack with no ingest.
BARE_NAME, NOOP_NAME = "bare FastAPI no-op", "keyed no-op route"


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big and how long; `QUICK` is the smoke run's."""

    rounds: int = 3  # interleaved load runs per compared pair
    seconds: float = 10.0  # per load run
    backlog: int = 100_000  # pending deliveries (two per message)
    small_backlog: int = 2_000  # the drain's reference
    drain_seconds: float = 40.0
    ceiling_seconds: float = 8.0  # each of the plain client's runs against the no-op targets
    probes: int = 3
    stored_small: int = 10_000
    stored_large: int = 1_000_000


QUICK = Sizes(1, 4.0, 1_000, 200, 6.0, 2.0, 1, 200, 2_000)


@dataclass(frozen=True, slots=True)
class Figure:
    """One row of the table: a figure, its reference from the same run, and its target."""

    backend: str
    name: str
    unit: str
    value: float
    reference_name: str
    reference: float
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float:
        """Value over reference."""
        return self.value / self.reference


def police_key(url: str) -> str:
    """A police key for force 01 (the MERLIN example's force) in that database."""
    engine = make_engine(url)
    try:
        with unit_of_work(engine, audits=True) as connection:
            return keys.create(connection, keys.Role.POLICE, force="01", actor="bench")
    finally:
        engine.dispose()


@contextmanager
def reader(url: str) -> Iterator[Engine]:
    """A plain engine for reading: the gateway's SQLite engine begins every transaction with
    BEGIN IMMEDIATE, which would take the write lock from the server under test."""
    engine = create_engine(normalise_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


def _median(runs: list[dict[str, Any]], field: str) -> float:
    return statistics.median(float(r[field]) for r in runs)


def ingest_vs_references(
    backend: Backend, sims: Simulators, sizes: Sizes, generator: str
) -> list[Figure]:
    """Ingest, the keyed no-op and the bare app, 16 clients each in turn, interleaved rounds."""
    url = backend.url("ingest")
    key = police_key(url)
    runs: dict[str, list[dict[str, Any]]] = {BARE: [], NOOP: [], INGEST: []}
    following = FIRST_LIVE
    with (
        serving(backend.root / "bare", url, sims, worker=False, bare=True) as bare,
        serving(backend.root / "ingest", url, sims, worker=False) as gateway,
    ):
        for _ in range(sizes.rounds):
            for path, done in runs.items():
                server = bare if path == BARE else gateway
                assert server.process is not None  # started by `serving`
                before = _cpu_seconds(server.process.pid)
                summary = load(server, path, key, seconds=sizes.seconds, first=following,
                               generator=generator)  # fmt: skip
                used = _cpu_seconds(server.process.pid) - before
                summary["cpu_ms"] = used / summary["requests"] * 1000
                done.append(summary)
                following = summary["next"]
    return _reference_figures(backend.name, runs)


def _reference_figures(name: str, runs: dict[str, list[dict[str, Any]]]) -> list[Figure]:
    """Ingest and the keyed no-op beside the bare app (targets), then ingest beside the no-op."""
    ingest, noop, bare = runs[INGEST], runs[NOOP], runs[BARE]
    rate, keyed, plain = (_median(r, "rps") for r in (ingest, noop, bare))
    return [
        Figure(name, "keyed no-op throughput, 16 clients", "req/s", keyed, BARE_NAME, plain,
               "≥ 0.5 x bare", keyed >= 0.5 * plain),
        Figure(name, "ingest throughput, 16 clients", "msg/s", rate, BARE_NAME, plain,
               "≥ 0.15 x bare", rate >= 0.15 * plain),
        Figure(name, "ingest throughput, 16 clients", "msg/s", rate, NOOP_NAME, keyed),
        Figure(name, "ingest p50 latency", "ms", _median(ingest, "p50_ms"), NOOP_NAME,
               _median(noop, "p50_ms")),
        Figure(name, "ingest p99 latency", "ms", _median(ingest, "p99_ms"), NOOP_NAME,
               _median(noop, "p99_ms")),
        Figure(name, "gateway CPU per request", "ms", _median(ingest, "cpu_ms"), NOOP_NAME,
               _median(noop, "cpu_ms")),
        Figure(name, "keyed no-op CPU per request", "ms", _median(noop, "cpu_ms"), BARE_NAME,
               _median(bare, "cpu_ms")),
    ]  # fmt: skip


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used by process `pid` and its children: the ingest processes.

    From Linux's /proc/PID/stat (fields 14-15) and /proc/PID/task/*/children. Ingest runs
    its Python work in those processes, beside the server's, so this is the CPU a message
    costs the gateway, where the throughput ratio says how much of one core's worth of
    serving it takes.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = {
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    }
    return own + sum(_cpu_seconds(child) for child in children)


def end_to_end(
    backend: Backend, sims: Simulators, sizes: Sizes, ingest: list[Figure], generator: str
) -> list[Figure]:
    """16 clients ingest with the worker on; every delivery timed from commit to delivered."""
    url = backend.url("e2e")
    key = police_key(url)
    alone = {f.name: f.value for f in ingest if f.reference_name == NOOP_NAME}
    with serving(backend.root / "e2e", url, sims, worker=True) as server:
        load(server, INGEST, key, seconds=sizes.seconds, first=FIRST_LIVE, generator=generator)
        with reader(url) as engine:
            _wait_settled(engine, timeout=300)
            with engine.connect() as connection:
                count, start = connection.execute(
                    select(func.count(), func.min(messages.c.received_at))
                ).one()
                rows = connection.execute(
                    select(deliveries.c.created_at, deliveries.c.delivered_at)
                ).all()
    end = max(r.delivered_at for r in rows)
    waits = sorted((r.delivered_at - r.created_at).total_seconds() * 1000 for r in rows)
    p99 = statistics.quantiles(waits, n=100, method="inclusive")[98]
    rate = count / (end - start).total_seconds()
    return [
        Figure(backend.name, "end-to-end throughput (202 → delivered)", "msg/s", rate,
               "ingest alone", alone["ingest throughput, 16 clients"]),
        Figure(backend.name, "end-to-end p99 latency", "ms", p99, "ingest p99",
               alone["ingest p99 latency"]),
    ]  # fmt: skip


def _wait_settled(engine: Engine, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            left = connection.execute(
                select(func.count()).where(deliveries.c.status != "delivered")
            ).scalar_one()
        if left == 0:
            return
        time.sleep(0.25)
    raise RuntimeError(f"{left} deliveries still not delivered after {timeout} s")


def _drain_rate(engine: Engine, since: datetime) -> tuple[float, int]:
    """Backlog deliveries (not the probes) delivered per second since `since`, and how many."""
    with engine.connect() as connection:
        count, first, last = connection.execute(
            select(
                func.count(),
                func.min(deliveries.c.delivered_at),
                func.max(deliveries.c.delivered_at),
            ).where(deliveries.c.delivered_at >= since, deliveries.c.priority > 0)
        ).one()
    return (count - 1) / max((last - first).total_seconds(), 1e-9), int(count)


def _probe(server_url: str, key: str, engine: Engine, number: int) -> float:
    """Post a new high-risk report; seconds from sending until both councils have it."""
    sent = datetime.now(UTC)
    answer = httpx.post(
        f"{server_url}{INGEST}",
        content=message(number, risk="HIGH"),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/xml"},
        timeout=60,
    )
    answer.raise_for_status()
    ids = [d["delivery_id"] for d in answer.json()["deliveries"]]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            times = (
                connection.execute(
                    select(deliveries.c.delivered_at).where(deliveries.c.id.in_(ids))
                )
                .scalars()
                .all()
            )
        if times and all(times):
            return float((max(times) - sent).total_seconds())
        time.sleep(0.02)
    raise RuntimeError("a high-risk probe was not delivered within 120 s")


def drain_and_priority(backend: Backend, sims: Simulators, sizes: Sizes) -> list[Figure]:
    """Drain a small backlog, then a large one; probe high-risk delivery during each."""
    url = backend.url("drain")
    key = police_key(url)
    template = seed.capture()
    probes = iter(range(PROBES_FROM, PROBES_FROM + 1000))
    now = datetime.now(UTC)
    results = []
    done = 0
    for size in (sizes.small_backlog, sizes.backlog):
        messages_needed = size // 2  # the template tells two councils
        seed.seed(url, template, range(done, done + messages_needed), edit=seed.as_backlog,
                  newest=now, spacing=timedelta(seconds=600) / messages_needed)  # fmt: skip
        done += messages_needed
        small = size < sizes.backlog
        results.append(_drain(backend, sims, sizes, url=url, key=key, probes=probes, small=small))
    (ref_rate, ref_probe), (rate, probe) = results
    return [
        Figure(backend.name, f"backlog drain, {sizes.backlog:,} pending", "deliveries/s", rate,
               f"{sizes.small_backlog:,} pending", ref_rate),
        Figure(backend.name, "high-risk report delivered, during that drain", "s", probe,
               "same, queue empty", ref_probe, "≤ 2 s", probe <= 2.0),
    ]  # fmt: skip


def _drain(
    backend: Backend,
    sims: Simulators,
    sizes: Sizes,
    *,
    url: str,
    key: str,
    probes: Iterator[int],
    small: bool,
) -> tuple[float, float]:
    """Start the worker on the seeded backlog; (drain rate, slowest probe)."""
    started = datetime.now(UTC)  # the worker starts with the server, before /healthz answers
    with serving(backend.root / "drain", url, sims, worker=True) as server, reader(url) as engine:
        if small:  # drain it all, then probe an idle gateway
            _wait_settled(engine, timeout=600)
            rate, _ = _drain_rate(engine, started)
            latency = max(
                _probe(server.url, key, engine, next(probes)) for _ in range(sizes.probes)
            )
            return rate, latency
        end = time.monotonic() + sizes.drain_seconds
        time.sleep(sizes.drain_seconds / 4)  # well into the drain
        latencies = []
        for _ in range(sizes.probes):
            latencies.append(_probe(server.url, key, engine, next(probes)))
            time.sleep(1)
        time.sleep(max(0.0, end - time.monotonic()))
        rate, _ = _drain_rate(engine, started)
        return rate, max(latencies)


@dataclass
class _Store:
    """One pre-seeded database of the growth measurement."""

    url: str
    key: str
    following: int = FIRST_LIVE
    ms: list[float] = field(default_factory=list)


def growth(backend: Backend, sims: Simulators, sizes: Sizes) -> list[Figure]:
    """Ingest cost with few and with many messages stored, alternating between the two."""
    template = seed.capture()
    stores = []
    for stored in (sizes.stored_small, sizes.stored_large):
        url = backend.url(f"stored{stored}")
        seed.seed(url, template, range(stored), edit=seed.as_history, newest=datetime.now(UTC),
                  spacing=timedelta(seconds=30))  # fmt: skip
        stores.append(_Store(url, police_key(url)))
    for _ in range(sizes.rounds):
        for store in stores:  # alternating, so a change in machine load hits both alike
            with serving(backend.root / "growth", store.url, sims, worker=False) as server:
                run = load(server, INGEST, store.key, seconds=sizes.seconds, first=store.following)
            store.following = run["next"]
            store.ms.append(1000 / run["rps"])  # server time per message at 16 clients
    small, large = (statistics.median(s.ms) for s in stores)
    return [
        Figure(backend.name, f"ingest cost per message, {sizes.stored_large:,} stored", "ms",
               large, f"{sizes.stored_small:,} stored", small, "≤ 1.2 x", large <= 1.2 * small),
    ]  # fmt: skip
