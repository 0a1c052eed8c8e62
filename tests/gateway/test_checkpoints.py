"""The checkpoint log: how often it is written, its files, its key, and what it survives."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.audit.chain import Head
from gateway.audit.checkpoints import (
    DEMO_KEY_FILE,
    BadLine,
    Checkpoint,
    CheckpointLog,
    audit_key,
    from_settings,
)
from gateway.errors import ConfigurationError
from gateway.settings import Settings
from tests.conftest import AUDIT_KEY


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _head(seq: int) -> Head:
    return Head(seq, f"{seq:064x}")


def _written(log: CheckpointLog) -> list[int]:
    return [c.seq for c in log.read() if isinstance(c, Checkpoint)]


def test_a_flood_of_commits_writes_one_line_an_interval(tmp_path: Path) -> None:
    """The first head is written at once; later ones wait, and the newest is written later."""
    clock = Clock()
    log = CheckpointLog(tmp_path, AUDIT_KEY, interval=60, clock=clock)
    for seq in range(1, 6):
        log.record(_head(seq))
    assert _written(log) == [1]
    clock.now += 60
    log.record(_head(6))
    assert _written(log) == [1, 6]
    log.record(_head(7))
    log.flush()  # what the timer, or the process's exit, does
    assert _written(log) == [1, 6, 7]


def test_a_waiting_checkpoint_is_written_when_the_interval_ends(tmp_path: Path) -> None:
    """Nobody commits again: the timer writes the waiting head."""
    log = CheckpointLog(tmp_path, AUDIT_KEY, interval=0.05)
    log.record(_head(1))
    log.record(_head(2))
    assert _written(log) == [1]
    timer = log._timer
    assert timer is not None
    timer.join(5)
    assert _written(log) == [1, 2]


def test_a_late_older_head_never_replaces_a_newer_one(tmp_path: Path) -> None:
    """Threads record in any order after their commits: the newest head is what is written."""
    clock = Clock()
    log = CheckpointLog(tmp_path, AUDIT_KEY, interval=60, clock=clock)
    log.record(_head(10))
    log.record(_head(12))
    log.record(_head(11))  # committed before 12, recorded after it
    log.flush()
    assert _written(log) == [10, 12] and log.committed == 12


def test_files_are_private_and_lines_whole(tmp_path: Path) -> None:
    """The directory is 0700, the file 0600, and each line is one signed checkpoint."""
    log = CheckpointLog(tmp_path / "checkpoints", AUDIT_KEY, interval=0)
    log.record(_head(1))
    assert stat.S_IMODE(log.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    line = json.loads(log.path.read_text())
    assert set(line) == {"v", "seq", "hash", "written_at", "writer", "key_id", "mac"}


def test_processes_sharing_the_file_never_interleave(tmp_path: Path) -> None:
    """Writers appending at once (as processes on one host do) each leave whole lines."""
    writers = [CheckpointLog(tmp_path, AUDIT_KEY, interval=0) for _ in range(4)]

    def write(log: CheckpointLog, base: int) -> None:
        for seq in range(base, base + 50):
            log.record(_head(seq))

    threads = [threading.Thread(target=write, args=(w, i * 100)) for i, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = list(writers[0].read())
    assert len(lines) == 200 and not [line for line in lines if isinstance(line, BadLine)]


def test_a_failed_write_keeps_the_checkpoint_for_the_next_try(tmp_path: Path) -> None:
    """The commit has happened: a write that fails is logged and tried again, never raised."""
    blocked = tmp_path / "checkpoints"
    blocked.write_text("a file where the directory should be")
    log = CheckpointLog(blocked, AUDIT_KEY, interval=0)
    with capture_logs() as logs:
        log.record(_head(1))
    assert logs[0]["event"] == "audit_checkpoint_failed"
    blocked.unlink()
    log.record(_head(2))
    assert _written(log) == [2]


def test_the_demo_generates_a_private_key_once(tmp_path: Path) -> None:
    """With the demo routing and no key, one is made in the data directory, mode 0600."""
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    key = audit_key(settings)
    path = settings.data_dir / DEMO_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(key) >= 32
    assert audit_key(settings) == key
    assert from_settings(settings).directory == settings.data_dir / "audit-checkpoints"


def test_outside_the_demo_a_key_is_required(tmp_path: Path) -> None:
    """Any other routing file needs GATEWAY_AUDIT_KEY: the demo's key is not generated."""
    routing = tmp_path / "routing.yaml"
    routing.write_text("councils: []\n")
    settings = Settings(data_dir=tmp_path, routing_file=routing, _env_file=None)
    with pytest.raises(ConfigurationError, match="GATEWAY_AUDIT_KEY is not set"):
        audit_key(settings)
    assert not (tmp_path / DEMO_KEY_FILE).exists()


def test_outside_the_demo_the_demo_key_and_short_keys_are_refused(tmp_path: Path) -> None:
    """A key left by a demo run beside the database, or a short one, is not accepted."""
    demo = audit_key(Settings(data_dir=tmp_path, _env_file=None)).decode()
    routing = tmp_path / "routing.yaml"
    routing.write_text("councils: []\n")
    for key, problem in ((demo, "demo key"), ("short", "shorter than 32")):
        settings = Settings(data_dir=tmp_path, routing_file=routing, audit_key=key, _env_file=None)
        with pytest.raises(ConfigurationError, match=problem):
            audit_key(settings)
