"""What every `gateway` command shares: the command group, settings, the database, failing."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click
from pydantic import ValidationError

from gateway.audit import checkpoints
from gateway.errors import ConfigurationError
from gateway.settings import Settings
from gateway.store import files, migrate
from gateway.store.engine import make_engine

if TYPE_CHECKING:
    pass


def fail(message: str, code: int) -> NoReturn:
    """Say what is wrong on stderr and exit with `code` (1 runtime, 2 usage or configuration)."""
    click.echo(f"gateway: {message}", err=True)
    sys.exit(code)


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment, with `overrides`; a bad setting exits 2."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        fail(f"setting GATEWAY_{field.upper()}: {first['msg']}", 2)


def open_engine(settings: Settings, *, audited: bool = True):  # type: ignore[no-untyped-def]
    """The database, migrated; `audited`: its commits checkpoint the audit chain (needs the key)."""
    files.private_directory(settings.data_dir)
    try:
        log = checkpoints.from_settings(settings) if audited else None
    except ConfigurationError as exc:
        fail(str(exc), 2)
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    if log is not None:
        checkpoints.attach(engine, log)
    return engine


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The missing-episode gateway."""
