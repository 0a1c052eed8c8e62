"""The data directory is 0700 and every file the gateway keeps in it 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from structlog.testing import capture_logs

from gateway.api.app import build_services
from gateway.cli import main
from gateway.settings import Settings


def mode(path: Path) -> int:
    """The permission bits of a path."""
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """Run each test under the usual umask, which makes files world-readable by default."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_data_dir_and_its_sqlite_files_are_private(tmp_path: Path) -> None:
    """The directory is made 0700; the database, its WAL and shared-memory files 0600."""
    data = tmp_path / "data"
    settings = Settings(data_dir=data, worker=False, ingest_processes=0, _env_file=None)
    services = build_services(settings)
    try:
        with services.engine.begin() as connection:  # a write: SQLite opens the WAL
            connection.execute(text("CREATE TABLE scratch (n INTEGER)"))
        with services.engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM scratch"))
            names = {p.name: mode(p) for p in data.iterdir()}
    finally:
        services.engine.dispose()
    assert mode(data) == 0o700
    assert names == {
        "gateway.db": 0o600,
        "gateway.db-wal": 0o600,
        "gateway.db-shm": 0o600,
        "audit.key": 0o600,  # the demo's audit checkpoint key
    }


def test_an_existing_open_data_dir_and_database_are_tightened_with_a_warning(
    tmp_path: Path,
) -> None:
    """A directory and files left readable by others (an older gateway's) are closed up."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    for name in ("gateway.db", "gateway.db-wal", "notes.txt"):
        (data / name).write_bytes(b"")
        (data / name).chmod(0o644)
    settings = Settings(data_dir=data, worker=False, ingest_processes=0, _env_file=None)
    with capture_logs() as logs:
        build_services(settings).engine.dispose()
    assert mode(data) == 0o700
    assert all(mode(p) == 0o600 for p in data.iterdir())  # SQLite removed the empty WAL
    tightened = {
        Path(e["path"]).name: e["was"]
        for e in logs
        if e["event"] == "data_permissions_tightened" and e["log_level"] == "warning"
    }
    expected = {"data": "755", "gateway.db": "644", "gateway.db-wal": "644", "notes.txt": "644"}
    assert tightened == expected


def test_commands_make_the_data_dir_private_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gateway keys create` on a fresh data directory leaves it 0700 and the database 0600."""
    data = tmp_path / "fresh"
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data))
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["keys", "create", "--role", "operator"])
    assert result.exit_code == 0, result.output
    assert mode(data) == 0o700 and mode(data / "gateway.db") == 0o600
