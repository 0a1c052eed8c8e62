"""`gateway serve`, `worker`, `simulators`, `db upgrade`, `demo`, `openapi`: running the gateway."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from gateway import addresses, routing
from gateway.audit import checkpoints
from gateway.cli.common import fail, load_settings, main, open_engine
from gateway.errors import ConfigurationError
from gateway.logs import configure

if TYPE_CHECKING:
    pass


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--allow-demo-on-network",
    is_flag=True,
    help="serve the demo routing and simulators on a non-loopback --host anyway",
)
def serve(host: str, port: int, allow_demo_on_network: bool) -> None:
    """Serve the API (and, with the demo routing, the simulators); migrates first."""
    from gateway.api.app import build_services, create_app
    from gateway.server import check_exposure, run, uvicorn_config

    settings = load_settings()
    if "public_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"public_url": f"http://{_local(host)}:{port}"})
    configure(settings.log_level)
    try:
        exposed = check_exposure(host, settings, allow_demo=allow_demo_on_network)
        services = build_services(settings)
    except ConfigurationError as exc:
        fail(str(exc), 2)
    if exposed:
        _warn(f"the demo routing and simulators are served on {host}, beyond this machine")
    run(uvicorn_config(create_app(services), host, port, settings))


def _warn(message: str) -> None:
    click.echo(f"gateway: WARNING: {message}; never with real data", err=True)


def _local(host: str) -> str:
    """How this process reaches its own server bound to `host` (for the demo's simulators)."""
    address = addresses.address_of(host)
    if address is not None and address.is_unspecified:  # every interface, loopback included
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{host}]" if ":" in host else host


@main.command()
@click.option("--once", is_flag=True, help="deliver what is due now, then exit")
def worker(once: bool) -> None:
    """Run a delivery worker without the API (run several on PostgreSQL to scale out)."""
    import signal
    import threading

    from gateway.api.app import build_worker

    settings = load_settings()
    configure(settings.log_level)
    engine = open_engine(settings)
    try:
        table = routing.load(settings.routing_file, simulators_url=settings.public_url)
    except ConfigurationError as exc:
        fail(str(exc), 2)
    delivery = build_worker(settings, engine, table)
    checkpoints.pin_attached(engine)  # an idle chain is checkpointed too
    if once:
        click.echo(f"{delivery.run_once()} attempt(s)")
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    delivery.start()
    stop.wait()
    delivery.stop()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=int)
def simulators(host: str, port: int) -> None:
    """Serve the simulator of every registered case system alone, under /sim/<system>."""
    from gateway.api.app import simulators_app
    from gateway.server import run, uvicorn_config

    if not addresses.is_loopback(host):
        _warn(f"the simulators (they accept any credentials) are served on {host}")
    run(uvicorn_config(simulators_app(), host, port, load_settings()))


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    settings = load_settings()
    open_engine(settings, audited=False)
    click.echo("database is at the newest migration")


@main.command("demo")
@click.option(
    "--url",
    help="the gateway to send to [default: GATEWAY_PUBLIC_URL, http://127.0.0.1:8080]; it "
    "must use the database these settings name (the demo makes its keys there)",
)
@click.option(
    "--wait",
    "wait_s",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="seconds to wait for the deliveries to settle",
)
def demo_command(url: str | None, wait_s: float) -> None:
    """Send the bundled example messages; show each council told, its system, role and status.

    Exit status 0 when every delivery is delivered, 1 otherwise (or when the gateway cannot be
    reached), 2 when the routing points any council the examples reach at a real system.
    """
    from gateway import demo

    settings = load_settings()
    try:
        table = routing.load(settings.routing_file, simulators_url=settings.public_url)
        demo.check_safe(table)
    except ConfigurationError as exc:
        fail(str(exc), 2)
    except demo.DemoRefused as exc:
        fail(f"refusing to run the demo: {exc}", 2)
    target = (url or settings.public_url).rstrip("/")
    engine = open_engine(settings)
    try:
        outcome = demo.run(
            engine,
            target,
            wait_s=wait_s,
            on_sent=lambda n: click.echo(
                f"sent {n} example messages to {target}; waiting up to {wait_s:g} s for the "
                "deliveries to settle",
                err=True,
            ),
        )
    except demo.DemoFailed as exc:
        fail(str(exc), 1)
    finally:
        engine.dispose()
    for line in demo.table(outcome.rows):
        click.echo(line)
    _demo_summary(outcome, target)


def _demo_summary(outcome: Any, target: str) -> None:
    """The counts by state, where to look next, and exit 1 unless every delivery arrived."""
    states = Counter(row["state"] for row in outcome.rows)
    counts = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    click.echo(f"{len(outcome.rows)} deliveries: {counts}")
    click.echo(f"see them at {target}/ui (sign in with an operator key)")
    if states["delivered"] == len(outcome.rows):
        return
    if not outcome.settled:
        fail(
            "not every delivery settled in time: is a delivery worker running (GATEWAY_WORKER=1 "
            "for `gateway serve`, or `gateway worker`)? Wait longer with --wait",
            1,
        )
    fail("not every delivery was delivered: see the delivery log for why", 1)


@main.command("openapi")
@click.option("--output", type=click.Path(path_type=Path), help="write here instead of stdout")
def openapi_command(output: Path | None) -> None:
    """Print the OpenAPI document of the running app (as openapi.yaml holds it)."""
    from gateway.api.openapi import document

    text = yaml.safe_dump(document(), sort_keys=False, allow_unicode=True)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
