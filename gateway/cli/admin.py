"""`gateway keys`, `config check`, `audit verify` and `purge`: the operator's housekeeping."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gateway import audit, keys, routing
from gateway.audit import checkpoints
from gateway.cli.common import fail, load_settings, main, open_engine
from gateway.errors import ConfigurationError
from gateway.store.work import unit_of_work

if TYPE_CHECKING:
    pass


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
        fail(str(exc), 2)
    engine = open_engine(load_settings())
    with unit_of_work(engine, audits=True) as connection:
        key = keys.create(connection, keys.Role(role), force=force_code, council=council, name=name)
    click.echo(f"issued a {role} key; it is shown once, store it now:")
    click.echo(key)


@keys_group.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id."""
    engine = open_engine(load_settings())
    with unit_of_work(engine, audits=True) as connection:
        if not keys.revoke(connection, key_id):
            fail(f"no active key with id {key_id}", 1)
    click.echo(f"revoked {key_id}")


@keys_group.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    engine = open_engine(load_settings(), audited=False)
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
    settings = load_settings()
    path = file or settings.routing_file
    try:
        table = routing.load(path, simulators_url=settings.public_url)
    except ConfigurationError as exc:
        fail(str(exc), 2)
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
    settings = load_settings(audit_checkpoint_dir=directory)
    engine = open_engine(settings)
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


PURGE_ACTOR = "operator:cli"


@main.command("purge")
@click.option("--dry-run", is_flag=True, help="count what would be purged; change nothing")
def purge_command(dry_run: bool) -> None:
    """Purge raw messages and sent payloads older than GATEWAY_RETENTION_DAYS (audited)."""
    from gateway import retention
    from gateway.canonical import utc_now

    settings = load_settings()
    engine = open_engine(settings)
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
