"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from adapters import registry
from gateway import metrics, retention, routing, ui
from gateway.alert_metrics import AlertCollector
from gateway.api import deliveries, episodes, inbound, operations, problems, receipts
from gateway.api.auth_failures import AuthFailures
from gateway.api.body_limit import BodyLimit
from gateway.api.deps import Services
from gateway.api.key_cache import KeyCache
from gateway.audit import checkpoints
from gateway.audit_monitor import AuditMonitor
from gateway.delivery.breaker import BreakerPolicy
from gateway.delivery.deadlines import Deadlines
from gateway.delivery.retry import RetryPolicy
from gateway.delivery.slots import CouncilBreakers
from gateway.delivery.worker import Worker, WorkerConfig
from gateway.ingest.batching import Ingestor
from gateway.ingest.processes import Lanes
from gateway.policy.timer import PolicyTimer
from gateway.routing import RoutingTable
from gateway.settings import Settings
from gateway.store import files, migrate
from gateway.store.engine import make_engine

API_VERSION = "1.0.0"
DESCRIPTION = (
    "The missing-episode gateway between police missing-person systems (MERLIN, COMPACT) and "
    "children's social care case systems (Mosaic, FWi, Liquidlogic Protocol). Every call except "
    "/healthz, /readyz and /metrics carries `Authorization: Bearer <key>`. Errors are RFC 9457 "
    "problem JSON."
)


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    routing_table: RoutingTable | None = None,
    upgrade: bool = True,
) -> Services:
    """Engine, routing and ingestor for `settings` (migrating the database unless told not to).

    The HTTP routes ingest in `settings.resolved_ingest_processes` processes beside the server
    (started with the app), or in a lane in this process if that is 0 or an `engine` is given:
    a process connects by the settings' database URL alone.
    """
    processes = settings.resolved_ingest_processes if engine is None else 0
    # The audit walk reads on a connection of its own (SQLite's pool holds one), unless the
    # caller gave the engine.
    monitor_engine = engine
    if engine is None:
        files.private_directory(settings.data_dir)
        engine = make_engine(settings.resolved_database_url)
        monitor_engine = make_engine(settings.resolved_database_url)
    checkpoints.attach(engine, checkpoints.from_settings(settings))
    if upgrade:
        migrate.upgrade(engine)
    registry.compile_inbound_schemas()  # before serving
    table = routing_table or routing.load(settings.routing_file, simulators_url=settings.public_url)
    deadlines = Deadlines.from_settings(settings)
    monitor = AuditMonitor(
        monitor_engine or engine,
        interval=timedelta(seconds=settings.audit_verify_interval_s),
        first=timedelta(seconds=settings.audit_verify_first_s),
        checkpoints=checkpoints.attached(engine),
    )
    ingestor = Ingestor(engine, table, deadlines=deadlines)
    return Services(
        settings=settings,
        engine=engine,
        routing=table,
        ingestor=ingestor,
        ingest=(
            Lanes.in_processes(settings, table, deadlines, processes)
            if processes
            else Lanes.in_this_process(settings, ingestor)
        ),
        metrics=_metrics(settings, engine, table, monitor),
        worker=build_worker(settings, engine, table) if settings.worker else None,
        audit_monitor=monitor,
    )


def _metrics(
    settings: Settings, engine: Engine, table: RoutingTable, monitor: AuditMonitor
) -> CollectorRegistry:
    """The process's metrics, the queue's, and what the alert rules page on."""
    found = metrics.registry(engine)
    ack_after = timedelta(seconds=settings.ack_overdue_s)
    found.register(AlertCollector(engine, table, ack_after=ack_after))
    found.register(monitor)
    return found


def build_worker(settings: Settings, engine: Engine, table: RoutingTable) -> Worker:
    """A delivery worker from the settings, with the policy timer and the purge (not started)."""
    config = WorkerConfig(
        concurrency=settings.worker_concurrency,
        poll=timedelta(seconds=settings.worker_poll_s),
        ack_poll=timedelta(seconds=settings.ack_poll_s),
        policy=RetryPolicy(
            base=timedelta(seconds=settings.retry_base_s),
            cap=timedelta(seconds=settings.retry_cap_s),
            max_attempts=settings.max_attempts,
            max_age=timedelta(seconds=settings.max_age_s),
            high_risk_cap=timedelta(seconds=settings.retry_high_risk_cap_s),
        ),
    )
    breakers = CouncilBreakers(
        BreakerPolicy(
            window=timedelta(seconds=settings.breaker_window_s),
            min_calls=settings.breaker_min_calls,
            failure_rate=settings.breaker_failure_rate,
            open_for=timedelta(seconds=settings.breaker_open_s),
            open_max=timedelta(seconds=max(settings.breaker_open_s, settings.breaker_open_max_s)),
            probes=settings.breaker_probes,
            high_risk_pause=timedelta(seconds=settings.breaker_high_risk_pause_s),
        )
    )
    worker = Worker(engine, table, config, breakers=breakers)
    worker.housekeeping = retention.Scheduler(engine, settings, actor=worker.actor)
    worker.policy_timer = PolicyTimer(
        engine,
        table,
        deadlines=Deadlines.from_settings(settings),
        interval=timedelta(seconds=settings.policy_poll_s),
        actor=worker.actor,
    )
    return worker


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the ingest lanes and the in-process delivery worker while the app serves."""
    services: Services | None = app.state.services
    lanes = services.ingest if services is not None else None
    worker = services.worker if services is not None else None
    if services is not None:  # an idle chain is checkpointed too
        await run_in_threadpool(checkpoints.pin_attached, services.engine)
    monitor = services.audit_monitor if services is not None else None
    if lanes is not None:
        await run_in_threadpool(lanes.start)
    try:
        if worker is not None:
            worker.start()
        if monitor is not None:
            monitor.start()
        try:
            yield
        finally:
            if monitor is not None:
                await run_in_threadpool(monitor.stop)
            if worker is not None:
                worker.stop()
    finally:
        if lanes is not None:
            await run_in_threadpool(lanes.close)


def create_app(services: Services | None) -> FastAPI:
    """The API application over already-built services (None: only to describe the API)."""
    app = FastAPI(
        title="Missing-episode gateway",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    app.state.services = services
    if services is not None:
        _protect(app, services)
    problems.install(app)
    app.include_router(inbound.router())
    for module in (receipts, episodes, deliveries, operations):
        app.include_router(module.router)
    ui.install(app, services.settings if services is not None else None)  # /ui, not in OpenAPI
    if services is not None and services.settings.serve_simulators:
        mount_simulators(app)
    return app


def _protect(app: FastAPI, services: Services) -> None:
    """Bound every request body; check keys from memory, count failed authentications."""
    settings = services.settings
    app.add_middleware(
        BodyLimit, max_body_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    app.state.auth_failures = AuthFailures(
        settings.auth_failure_limit, settings.auth_failure_window_s
    )
    app.state.key_cache = KeyCache(services.engine, settings.key_cache_s)


def mount_simulators(app: FastAPI) -> None:
    """Serve each bundled case-system simulator under `/sim/<system>` (the demo's targets)."""
    for adapter in registry.OUTBOUND.values():
        app.mount(f"/sim/{adapter.name}", adapter.create_simulator())


def simulators_app() -> FastAPI:
    """The simulators alone (`gateway simulators`), for demos and tests across processes."""
    app = FastAPI(title="Case-system simulators", docs_url=None, redoc_url=None)
    mount_simulators(app)
    return app
