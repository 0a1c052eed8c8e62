"""The data directory and the SQLite files: readable and writable by the gateway's user alone.

The database holds children's names, addresses and police reports. Under the usual umask
(022) a new directory is 0755 and a new file 0644, readable by every account on the host, so
the data directory is created 0700 and the database file 0600 before SQLite opens it (SQLite
gives its WAL, shared-memory and journal files the database file's mode). A directory or file
found more open than that, as one made by an older gateway, is tightened with a warning.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from gateway.logs import get_logger

log = get_logger(__name__)
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = 0o077  # any permission for the group or for others
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_directory(path: Path) -> None:
    """Create `path` 0700 (parents as usual), or tighten it and the files directly in it."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    _tighten(path, DIRECTORY_MODE)
    for child in path.iterdir():
        if child.is_file() and not child.is_symlink():
            _tighten(child, FILE_MODE)


def private_sqlite(url: str) -> None:
    """For a SQLite file URL: create the database file 0600, or tighten it and its companions."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:  # O_EXCL: never through a file (or link) someone else put there meanwhile
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    except FileNotFoundError:  # no such directory: SQLite says so when it connects
        return
    for name in ("", *SQLITE_COMPANIONS):
        companion = path.with_name(path.name + name)
        if companion.is_file():
            _tighten(companion, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & _OTHERS:
        path.chmod(mode)
        log.warning(
            "data_permissions_tightened", path=str(path), was=f"{current:o}", now=f"{mode:o}"
        )
