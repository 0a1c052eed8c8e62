"""`gateway export`: the DfE SSDA903 missing-episode return, per council and period."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gateway import routing
from gateway.cli.common import fail, load_settings, main, open_engine
from gateway.errors import ConfigurationError
from gateway.settings import Settings
from gateway.store.work import unit_of_work

if TYPE_CHECKING:
    from gateway.exports.ssda903 import Export, Period


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
    settings = load_settings()
    _check_onboarded(council, settings)
    if output is not None:
        _check_output(output, overwrite)
    engine = open_engine(settings)
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
        fail(_exists(output), 2)
    except OSError as exc:
        fail(f"cannot write {output or 'standard output'}: {exc.strerror}; nothing exported", 1)
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
        fail(f"--output {output}: the folder {output.parent} does not exist", 2)
    if not overwrite and (output.is_symlink() or output.exists()):
        fail(_exists(output), 2)


def _day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date such as 2025-04-01", 2)


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
        fail(f"--from {start} is after --to {end}", 2)
    return Period(start, end)


def _check_onboarded(council: str, settings: Settings) -> None:
    if not re.fullmatch(r"[0-9]{3}", council):
        fail(f"--council {council!r} is not a three-digit DfE LA code", 2)
    try:
        table = routing.load(settings.routing_file, simulators_url=settings.public_url)
    except ConfigurationError as exc:
        fail(str(exc), 2)
    if table.route(council) is None:
        fail(f"council {council} is not onboarded in {table.source}: it has no case records", 2)


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
