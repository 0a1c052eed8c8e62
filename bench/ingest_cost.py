"""Where one ingest's time goes: in process, one thread, each stage beside the whole in one run.

Usage: `.venv/bin/python -m bench.ingest_cost [--messages N] [--backend sqlite|postgres]`.

It ingests new MERLIN reports (each a new child, as `bench.run` does) through `Ingestor.ingest`
with no HTTP in front, and prints per message: the whole ingest; parsing and mapping alone;
the same ingest without the commit's fsync (SQLite `synchronous=OFF`: what durability costs);
and how many SQL statements one message runs. `bench.run`'s no-op route is the HTTP stack's
cost; this is the rest, the part the "ingest at least half the no-op rate" target is about.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, event

from adapters import registry
from bench.load import message
from bench.processes import Backend, backend
from gateway import keys
from gateway.api.app import build_services
from gateway.logs import configure
from gateway.settings import Settings
from gateway.store.work import unit_of_work

ADAPTER = registry.INBOUND["merlin"]


@contextlib.contextmanager
def _gateway(
    scratch: Backend, label: str, synchronous: str
) -> Iterator[tuple[Callable[[bytes], Any], Engine]]:
    """An ingest function and its engine over a fresh, migrated scratch database."""
    settings = Settings(data_dir=scratch.root / label, worker=False, _env_file=None)
    settings = settings.model_copy(update={"database_url": scratch.url(label)})
    services = build_services(settings)
    if services.engine.dialect.name == "sqlite":
        event.listen(
            services.engine,
            "connect",
            lambda dbapi, _record: dbapi.execute(f"PRAGMA synchronous={synchronous}"),
        )
        services.engine.dispose()  # reconnect with the pragma
    with unit_of_work(services.engine, audits=True) as connection:
        key = keys.create(connection, keys.Role.POLICE, force="01", actor="bench")
        principal = keys.authenticate(connection, key)
    assert principal is not None
    try:
        yield (lambda body: services.ingestor.ingest(ADAPTER, body, principal)), services.engine
    finally:
        services.engine.dispose()


def _ms_per_call(func: Callable[[bytes], Any], bodies: list[bytes]) -> float:
    """Median milliseconds per call over batches of 100 bodies."""
    batches = []
    for start in range(0, len(bodies), 100):
        chunk = bodies[start : start + 100]
        began = time.perf_counter()
        for body in chunk:
            func(body)
        batches.append((time.perf_counter() - began) / len(chunk) * 1000)
    return statistics.median(batches)


def _statements(engine: Engine, func: Callable[[bytes], Any], body: bytes) -> int | None:
    """SQL statements one ingest runs, COMMIT apart, as SQLite traces them (None elsewhere).

    SQLite's trace callback, not SQLAlchemy's cursor events: the hot path's prepared
    statements (gateway/store/prepared.py) do not fire those.
    """
    if engine.dialect.name != "sqlite":
        return None
    traced: list[str] = []
    with engine.connect() as connection:  # the engine's one pooled SQLite connection
        dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    dbapi_connection.set_trace_callback(traced.append)
    try:
        func(body)
    finally:
        dbapi_connection.set_trace_callback(None)
    return sum(1 for sql in traced if sql.strip().upper() != "COMMIT")


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="per measured stage")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    configure("warning")
    numbers = iter(range(40_000_000, 50_000_000))

    def fresh(n: int) -> list[bytes]:
        return [message(next(numbers)) for _ in range(n)]

    rows: dict[str, float] = {}
    with backend(args.backend) as scratch:
        for synchronous in ("FULL", "OFF"):
            with _gateway(scratch, synchronous.lower(), synchronous) as (ingest, _engine):
                for body in fresh(200):  # warm: schema compiled, statements cached
                    ingest(body)
                name = "ingest" if synchronous == "FULL" else "ingest, no fsync (SQLite)"
                rows[name] = _ms_per_call(ingest, fresh(args.messages))
            if args.backend != "sqlite":
                break  # the pragma is SQLite's
        rows["parse + map alone"] = _ms_per_call(
            lambda body: ADAPTER.to_events(ADAPTER.parse(body)), fresh(args.messages)
        )
        with _gateway(scratch, "count", "FULL") as (ingest, engine):
            ingest(fresh(1)[0])
            statements = _statements(engine, ingest, fresh(1)[0])
    whole = rows["ingest"]
    print(f"{'stage':<34}{'ms/msg':>10}{'share of ingest':>18}")
    for name, ms in rows.items():
        print(f"{name:<34}{ms:>10.3f}{ms / whole:>18.2f}")
    counted = "n/a (counted on SQLite)" if statements is None else statements
    print(f"SQL statements per message: {counted}, cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
