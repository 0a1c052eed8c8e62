"""Writing an export that holds personal data: a new file, its owner's alone, never via a link.

A statutory return lists children's ids and dates of birth, so its file must not be left
readable by others nor be written somewhere the data officer did not name. Two ways, both
refusing to follow a symbolic link at the path (docs/decisions/0021):

- by default the file is created new (`O_CREAT | O_EXCL | O_NOFOLLOW`): an existing file, a
  link (even one pointing nowhere) or anything else at the path is `FileExistsError`, and
  nothing is written;
- with `overwrite`, the text goes to a new temporary file in the same folder, which is then
  renamed over the path: whatever was there (a file, or a link, never its target) is replaced
  in one step, and a failure leaves it as it was.

Either way the file's mode is exactly 0600, whatever the umask or the mode of a file replaced.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

MODE = 0o600
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_private(path: Path, text: str, *, overwrite: bool = False) -> None:
    """Write `text` (UTF-8) to a new file at `path` readable and writable by its owner only.

    Raises:
        FileExistsError: something is already at `path` and `overwrite` is False.
        OSError: the file could not be written (the folder is missing or read-only, the disk
            is full...); no partial file is left behind.
    """
    data = text.encode("utf-8")
    if overwrite:
        _replace(path, data)
        return
    fd = os.open(path, _NEW, MODE)
    try:
        _fill(fd, data)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def _replace(path: Path, data: bytes) -> None:
    """Write a temporary file beside `path`, then rename it over `path` (never following it)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    temporary = Path(name)
    try:
        _fill(fd, data)
        temporary.replace(path)  # rename(2): replaces a link at `path`, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _sync_folder(path.parent)


def _fill(fd: int, data: bytes) -> None:
    """Set the mode, write everything, flush it to disk, close (the descriptor is consumed)."""
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), MODE)  # exactly 0600, whatever the umask
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (best effort: some filesystems cannot open a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
