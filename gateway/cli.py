"""The `gateway` command (operations.md): serve, keys, config, audit, database.

Exit status: 0 success, 1 runtime failure, 2 bad usage or invalid configuration (with a
message naming the file, the line and the problem).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import yaml
from pydantic import ValidationError

from gateway import addresses, audit, keys, routing
from gateway.audit import checkpoints
from gateway.errors import ConfigurationError
from gateway.logs import configure
from gateway.settings import Settings
from gateway.store import files, migrate
from gateway.store.engine import make_engine
from gateway.store.work import unit_of_work

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from gateway.delivery.unroutable import Resolution
    from gateway.exports.ssda903 import Export, Period


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"gateway: {message}", err=True)
    sys.exit(code)


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        _fail(f"setting GATEWAY_{field.upper()}: {first['msg']}", 2)


def _engine(settings: Settings, *, audited: bool = True):  # type: ignore[no-untyped-def]
    """The database, migrated; `audited`: its commits checkpoint the audit chain (needs the key)."""
    files.private_directory(settings.data_dir)
    try:
        log = checkpoints.from_settings(settings) if audited else None
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    if log is not None:
        checkpoints.attach(engine, log)
    return engine


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The missing-episode gateway."""


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

    settings = _settings()
    if "public_url" not in settings.model_fields_set:
        settings = settings.model_copy(update={"public_url": f"http://{_local(host)}:{port}"})
    configure(settings.log_level)
    try:
        exposed = check_exposure(host, settings, allow_demo=allow_demo_on_network)
        services = build_services(settings)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
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

    settings = _settings()
    configure(settings.log_level)
    engine = _engine(settings)
    try:
        table = routing.load(settings.routing_file, simulators_url=settings.public_url)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
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
    run(uvicorn_config(simulators_app(), host, port, _settings()))


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    settings = _settings()
    _engine(settings, audited=False)
    click.echo("database is at the newest migration")


@main.group("keys")
def keys_group() -> None:
    """Issue, revoke and list API keys."""


@keys_group.command("create")
@click.option("--role", type=click.Choice([r.value for r in keys.Role]), required=True)
@click.option("--force", "force_code", help="two-digit force code (police keys)")
@click.option("--council", help="three-digit DfE LA code (council keys)")
@click.option("--name", help="who the key is for")
def keys_create(role: str, force_code: str | None, council: str | None, name: str | None) -> None:
    """Issue a key; the key alone is printed on the last line."""
    try:
        keys.validate_binding(keys.Role(role), force_code, council)
    except ValueError as exc:
        _fail(str(exc), 2)
    engine = _engine(_settings())
    with unit_of_work(engine, audits=True) as connection:
        key = keys.create(connection, keys.Role(role), force=force_code, council=council, name=name)
    click.echo(f"issued a {role} key; it is shown once, store it now:")
    click.echo(key)


@keys_group.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id."""
    engine = _engine(_settings())
    with unit_of_work(engine, audits=True) as connection:
        if not keys.revoke(connection, key_id):
            _fail(f"no active key with id {key_id}", 1)
    click.echo(f"revoked {key_id}")


@keys_group.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    engine = _engine(_settings(), audited=False)
    with engine.connect() as connection:
        for info in keys.list_keys(connection):
            bound = info.force or info.council or "-"
            state = f"revoked {info.revoked_at:%Y-%m-%d}" if info.revoked_at else "active"
            click.echo(f"{info.key_id}\t{info.role}\t{bound}\t{state}\t{info.name or ''}")


@main.group()
def config() -> None:
    """Configuration commands."""


@config.command("check")
@click.argument("file", required=False, type=click.Path(path_type=Path))
def config_check(file: Path | None) -> None:
    """Validate a routing file (default: GATEWAY_ROUTING_FILE or the demo routing)."""
    settings = _settings()
    path = file or settings.routing_file
    try:
        table = routing.load(path, simulators_url=settings.public_url)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    click.echo(f"{path}: {len(table.councils)} council(s) onboarded, configuration is valid")


@main.group("audit")
def audit_group() -> None:
    """Audit log commands."""


@audit_group.command("verify")
@click.option(
    "--checkpoints",
    "directory",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="read the checkpoints from DIR (a copy) instead of GATEWAY_AUDIT_CHECKPOINT_DIR",
)
def audit_verify(directory: Path | None) -> None:
    """Verify the audit hash chain against its checkpoints; exit 1 if anything is wrong."""
    settings = _settings(audit_checkpoint_dir=directory)
    engine = _engine(settings)
    log = checkpoints.attached(engine)
    try:
        with engine.connect() as connection:
            report = audit.verify(connection, log)
    finally:
        engine.dispose()  # close pooled connections now (in-process callers, PostgreSQL)
    for line in audit.describe(report, str(log.directory) if log else None):
        click.echo(line)
    if not report.ok:
        sys.exit(1)


REPLAY_ACTOR = "operator:cli"
REPLAY_BATCH = 100  # deliveries per transaction: short locks, progress that survives a failure


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--since {value!r} is not an ISO 8601 time such as 2024-05-01T00:00:00Z", 2)
    if when.tzinfo is None:
        _fail(f"--since {value!r} has no UTC offset; add one, e.g. Z or +01:00", 2)
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
        _fail(f"--council {council!r} is not a three-digit DfE LA code", 2)
    reason = (reason or "").strip() or None
    if reason is None and not dry_run:
        _fail(
            "give --reason TEXT (why you replay: it is recorded in the audit log with each "
            "replay), or --dry-run to see what would be re-queued",
            2,
        )
    scope = bulk_replay.Scope(council=council, statuses=statuses, since=_since(since))
    settings = _settings()
    try:
        table = routing.load(settings.routing_file, simulators_url=settings.public_url)
        names = names_table.load_table()
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    if council is not None and table.route(council) is None:
        _fail(f"council {council} is not onboarded in {table.source}; onboard it first", 2)
    actor = f"{REPLAY_ACTOR}:{_os_user()}"
    resolutions: list[Resolution] = []

    def resolve_names(connection: Connection) -> None:
        resolutions.append(unroutables.resolve_names(connection, names, now=utc_now(), actor=actor))

    engine = _engine(settings)
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

    settings = _settings()
    try:
        table = routing.load(settings.routing_file, simulators_url=settings.public_url)
        demo.check_safe(table)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    except demo.DemoRefused as exc:
        _fail(f"refusing to run the demo: {exc}", 2)
    target = (url or settings.public_url).rstrip("/")
    engine = _engine(settings)
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
        _fail(str(exc), 1)
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
        _fail(
            "not every delivery settled in time: is a delivery worker running (GATEWAY_WORKER=1 "
            "for `gateway serve`, or `gateway worker`)? Wait longer with --wait",
            1,
        )
    _fail("not every delivery was delivered: see the delivery log for why", 1)


PURGE_ACTOR = "operator:cli"


@main.command("purge")
@click.option("--dry-run", is_flag=True, help="count what would be purged; change nothing")
def purge_command(dry_run: bool) -> None:
    """Purge raw messages and sent payloads older than GATEWAY_RETENTION_DAYS (audited)."""
    from gateway import retention
    from gateway.canonical import utc_now

    settings = _settings()
    engine = _engine(settings)
    try:
        done = retention.purge(engine, utc_now(), settings, actor=PURGE_ACTOR, dry_run=dry_run)
    finally:
        engine.dispose()
    verb = "would purge" if dry_run else "purged"
    click.echo(
        f"{verb} {done.messages} message body(ies) and {done.payloads} payload(s) received or "
        f"sent before {done.cutoff:%Y-%m-%dT%H:%M:%SZ} ({settings.retention_days} days), "
        f"in {done.batches} audited batch(es)"
    )


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


EXPORT_ACTOR = "operator:cli"


@main.group("export")
def export_group() -> None:
    """Statutory returns built from the episodes."""


@export_group.command("ssda903-missing")
@click.option("--council", required=True, help="three-digit DfE LA code of the responsible council")
@click.option(
    "--from",
    "first",
    metavar="YYYY-MM-DD",
    help="first day of the period [default: 1 April of the current reporting year]",
)
@click.option(
    "--to",
    "last",
    metavar="YYYY-MM-DD",
    help="last day of the period [default: the 31 March ending the reporting year of --from]",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the CSV to this new file (readable by its owner only) instead of stdout",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="replace --output if it exists (a link there is replaced, never followed)",
)
def export_ssda903_missing(
    council: str, first: str | None, last: str | None, output: Path | None, overwrite: bool
) -> None:
    """The SSDA903 "Missing" table (CSV) of the looked-after children a council is responsible for.

    Episodes that cannot be exported (no person id from the council's case system yet, for one)
    are listed on standard error with the reason, so they can be added by hand; so are those
    whose end is the child's next report. --output creates a new file: one already there (or a
    link) is refused unless --overwrite is given.
    """
    from gateway.exports import output as files
    from gateway.exports import ssda903, ssda903_store

    period = _export_period(first, last)
    settings = _settings()
    _check_onboarded(council, settings)
    if output is not None:
        _check_output(output, overwrite)
    engine = _engine(settings)
    try:
        # The disclosure is audited in the transaction that reads the rows, and committed only
        # once they are written: a failed write rolls the audit entry back with it.
        with unit_of_work(engine, audits=True) as connection:
            result = ssda903_store.export(connection, council, period, actor=EXPORT_ACTOR)
            text = ssda903.to_csv(result.rows)
            if output is None:
                click.echo(text, nl=False)
            else:
                files.write_private(output, text, overwrite=overwrite)
    except FileExistsError:
        _fail(_exists(output), 2)
    except OSError as exc:
        _fail(f"cannot write {output or 'standard output'}: {exc.strerror}; nothing exported", 1)
    finally:
        engine.dispose()
    _export_report(result, council, period)


def _exists(output: Path | None) -> str:
    return (
        f"--output {output} already exists (a file or a link): nothing exported; name a new "
        "file, or add --overwrite to replace it"
    )


def _check_output(output: Path, overwrite: bool) -> None:
    """Refuse, before anything is read or disclosed, an output the export may not write."""
    if not output.parent.is_dir():
        _fail(f"--output {output}: the folder {output.parent} does not exist", 2)
    if not overwrite and (output.is_symlink() or output.exists()):
        _fail(_exists(output), 2)


def _day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r} is not a date such as 2025-04-01", 2)


def _export_period(first: str | None, last: str | None) -> Period:
    """The period the options name; a day left out comes from the other's reporting year."""
    from gateway.exports.ssda903 import LONDON, Period

    start = _day("--from", first) if first else None
    end = _day("--to", last) if last else None
    if start is None:
        start = Period.reporting_year(end or datetime.now(LONDON).date()).first
    if end is None:
        end = Period.reporting_year(start).last
    if start > end:
        _fail(f"--from {start} is after --to {end}", 2)
    return Period(start, end)


def _check_onboarded(council: str, settings: Settings) -> None:
    if not re.fullmatch(r"[0-9]{3}", council):
        _fail(f"--council {council!r} is not a three-digit DfE LA code", 2)
    try:
        table = routing.load(settings.routing_file, simulators_url=settings.public_url)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    if table.route(council) is None:
        _fail(f"council {council} is not onboarded in {table.source}: it has no case records", 2)


def _export_report(result: Export, council: str, period: Period) -> None:
    """What a data officer must know beyond the rows, on standard error."""
    for item in result.left_out:
        click.echo(f"gateway: left out episode {item.episode_id}: {item.reason}", err=True)
    for row in result.merged:
        ids = ", ".join(row.episode_ids)
        click.echo(
            f"gateway: merged episodes {ids} into one period (overlapping reports of one absence)",
            err=True,
        )
    for row in result.ended_by_next:
        click.echo(
            f"gateway: episode {row.ended_by_next} ended by the next report: no found message, "
            f"so MIS_END {row.cells()[4]} is when the child's next report says the child was "
            "last seen; check it",
            err=True,
        )
    click.echo(
        f"gateway: {len(result.rows)} row(s) for council {council}, {period.first} to "
        f"{period.last}; {len(result.left_out)} episode(s) left out; "
        f"{len(result.ended_by_next)} ended by the next report",
        err=True,
    )
