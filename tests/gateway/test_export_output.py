"""An export's file: created new, its owner's alone, never written through a link."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.exports import output
from gateway.exports.output import write_private


@pytest.fixture(params=[0o022, 0o277], ids=["umask-022", "umask-277"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """A usual umask, and one that would leave a new file unwritable by its owner."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path: Path) -> int:
    """The permission bits of the path itself (a link is not followed)."""
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_new_file_is_exactly_0600_whatever_the_umask(
    tmp_path: Path, umask: int, overwrite: bool
) -> None:
    """Both ways of writing give mode 0600 and the text, UTF-8, line endings kept."""
    target = tmp_path / "return.csv"
    write_private(target, "CHILD,DOB\r\nP1,04/03/2010\r\n", overwrite=overwrite)
    assert mode(target) == 0o600
    assert target.read_bytes() == b"CHILD,DOB\r\nP1,04/03/2010\r\n"


def test_something_already_there_is_refused_and_kept(tmp_path: Path) -> None:
    """A file, a link to a file and a link to nowhere each raise FileExistsError, untouched."""
    kept = tmp_path / "kept.txt"
    kept.write_text("kept\n", encoding="utf-8")
    link, dangling = tmp_path / "link.csv", tmp_path / "dangling.csv"
    link.symlink_to(kept)
    dangling.symlink_to(tmp_path / "nowhere.txt")
    for path in (kept, link, dangling):
        with pytest.raises(FileExistsError):
            write_private(path, "new\n")
    assert kept.read_text(encoding="utf-8") == "kept\n"
    assert link.is_symlink() and dangling.is_symlink()
    assert not (tmp_path / "nowhere.txt").exists()


def test_overwrite_replaces_a_link_not_its_target(tmp_path: Path) -> None:
    """The link becomes a file of its own; the file it pointed at is as it was."""
    target = tmp_path / "target.txt"
    target.write_text("target\n", encoding="utf-8")
    target.chmod(0o644)
    link = tmp_path / "return.csv"
    link.symlink_to(target)
    write_private(link, "return\n", overwrite=True)
    assert not link.is_symlink() and link.read_text(encoding="utf-8") == "return\n"
    assert target.read_text(encoding="utf-8") == "target\n" and mode(target) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["return.csv", "target.txt"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overwrite: bool
) -> None:
    """A full disk mid-write: OSError, nothing new left behind, a replaced file intact."""
    target = tmp_path / "return.csv"
    if overwrite:
        target.write_text("the last good return\n", encoding="utf-8")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_private(target, "new\n", overwrite=overwrite)
    if overwrite:
        assert target.read_text(encoding="utf-8") == "the last good return\n"
        assert [p.name for p in tmp_path.iterdir()] == ["return.csv"]
    else:
        assert list(tmp_path.iterdir()) == []
