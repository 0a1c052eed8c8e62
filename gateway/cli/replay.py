"""`gateway replay`: re-queue dead or delivered deliveries, and held events, after a fix."""

from __future__ import annotations

import re
import sys
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from gateway import routing
from gateway.cli.common import fail, load_settings, main, open_engine
from gateway.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from gateway.delivery.unroutable import Resolution


REPLAY_ACTOR = "operator:cli"
REPLAY_BATCH = 100  # deliveries per transaction: short locks, progress that survives a failure


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r} is not an ISO 8601 time such as 2024-05-01T00:00:00Z", 2)
    if when.tzinfo is None:
        fail(f"--since {value!r} has no UTC offset; add one, e.g. Z or +01:00", 2)
    return when


@main.command("replay")
@click.option("--council", help="only this council (three-digit DfE LA code)")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["dead", "delivered"]),
    default=("dead",),
    show_default=True,
    help="re-queue deliveries in this status (repeat the option for both)",
)
@click.option(
    "--since", help="only what was created at or after this time (ISO 8601 with a UTC offset)"
)
@click.option("--dry-run", is_flag=True, help="print what would be re-queued; change nothing")
@click.option("--reason", help="why (required without --dry-run; recorded in the audit log)")
def replay_command(
    council: str | None,
    statuses: tuple[str, ...],
    since: str | None,
    dry_run: bool,
    reason: str | None,
) -> None:
    """Re-queue dead (or delivered) deliveries; queue unroutable events for onboarded councils.

    Council names that matched no council are read again first, with the names table as it is
    now (mappings/councils.yaml), so a variant just added resolves what waited for it.
    """
    from adapters.compact import councils as names_table
    from gateway.canonical import utc_now
    from gateway.delivery import bulk_replay
    from gateway.delivery import unroutable as unroutables
    from gateway.delivery.deadlines import Deadlines

    if council is not None and not re.fullmatch(r"[0-9]{3}", council):
        fail(f"--council {council!r} is not a three-digit DfE LA code", 2)
    reason = (reason or "").strip() or None
    if reason is None and not dry_run:
        fail(
            "give --reason TEXT (why you replay: it is recorded in the audit log with each "
            "replay), or --dry-run to see what would be re-queued",
            2,
        )
    scope = bulk_replay.Scope(council=council, statuses=statuses, since=_since(since))
    settings = load_settings()
    try:
        table = routing.load(settings.routing_file, simulators_url=settings.public_url)
        names = names_table.load_table()
    except ConfigurationError as exc:
        fail(str(exc), 2)
    if council is not None and table.route(council) is None:
        fail(f"council {council} is not onboarded in {table.source}; onboard it first", 2)
    actor = f"{REPLAY_ACTOR}:{_os_user()}"
    resolutions: list[Resolution] = []

    def resolve_names(connection: Connection) -> None:
        resolutions.append(unroutables.resolve_names(connection, names, now=utc_now(), actor=actor))

    engine = open_engine(settings)
    try:
        plan = bulk_replay.preview(engine, table, scope, before=resolve_names)
        if dry_run:
            _print_plan(plan, table, resolutions[-1])
            return
        assert reason is not None  # checked above
        with click.progressbar(length=plan.total, label="re-queuing", file=sys.stderr) as bar:
            counts = bulk_replay.run(
                engine,
                table,
                scope,
                actor=actor,
                via="cli",
                reason=reason,
                deadlines=Deadlines.from_settings(settings),
                batch=REPLAY_BATCH,
                progress=bar.update,
                before=resolve_names,
            )
    finally:
        engine.dispose()
    requeued = counts["dead"] + counts["delivered"]
    click.echo(
        f"resolved {resolutions[-1].resolved} waiting council name(s); "
        f"{resolutions[-1].unresolved} still match no council"
    )
    click.echo(
        f"re-queued {requeued} delivery(ies) ({counts['dead']} dead, "
        f"{counts['delivered']} delivered); queued {counts['unroutable']} unroutable "
        f"event(s) for onboarded councils; skipped {counts['skipped']} that changed meanwhile"
    )


def _os_user() -> str:
    """Who runs the command, as the operating system names them (for the audit entry)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (some containers)
        return "unknown"


def _print_plan(plan: Any, table: routing.RoutingTable, names: Resolution) -> None:
    """The dry run: what a replay would queue, by council, with every id; nothing changed."""
    statuses = Counter(status for ids in plan.deliveries.values() for _, status in ids)
    click.echo(
        f"would re-queue {plan.delivery_count} delivery(ies) ({statuses['dead']} dead, "
        f"{statuses['delivered']} delivered) and queue {plan.event_count} unroutable "
        "event(s) for onboarded councils"
    )
    click.echo(
        f"would resolve {names.resolved} waiting council name(s); "
        f"{names.unresolved} would still match no council"
    )
    for council in plan.councils():
        route = table.route(council)
        click.echo(f"council {council} ({route.name if route else 'not onboarded'}):")
        for delivery_id, status in plan.deliveries.get(council, []):
            click.echo(f"  {status} delivery {delivery_id}")
        for event_id in plan.events.get(council, []):
            click.echo(f"  unroutable event {event_id}")
    for group in plan.still_waiting:
        what = (
            f"council name {group.key!r} matches no council"
            if group.kind == "unresolved_name"
            else f"not onboarded: council {group.key} ({group.name or 'unknown'})"
        )
        click.echo(f"still waiting, {what}: {group.events} event(s)")
    click.echo("dry run: nothing was changed")
