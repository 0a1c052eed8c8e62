"""Checkpoints of the audit chain's head, kept outside the database and signed with a key.

The hash chain shows an edited entry, but not entries cut from its end, nor a chain rewritten
from some entry on: whoever can write the database can do either and the chain still links.
So after each commit that appends, the gateway writes the new head (its number and hash) to a
checkpoint log outside the database, one JSON line per checkpoint, with an HMAC-SHA256 under
`GATEWAY_AUDIT_KEY`. `verify` compares every checkpoint with the database: an entry that a
checkpoint records and the database no longer has, or has with another hash, was cut or
rewritten. Without the key nobody can write a checkpoint that verifies.

A process writes at most one line per `interval`: the newest head waits (and a timer writes it
when the interval ends, or the process's exit does), so a flood of commits costs a line a
second, not a line a commit. Each line is one `write` on the host's file opened for appending,
then fsynced, so the processes of a host share it, and a log agent can ship it as it grows.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gateway.audit.chain import Head, canonical_json, head, iso
from gateway.canonical import utc_now
from gateway.errors import ConfigurationError
from gateway.logs import get_logger
from gateway.settings import Settings
from gateway.store.engine import reading

log = get_logger(__name__)
DEMO_KEY_FILE = "audit.key"  # in the data directory, for the demo alone
MIN_KEY = 32
FIELDS = ("v", "seq", "hash", "written_at", "writer", "key_id")  # what the HMAC covers
_ATTACHED: weakref.WeakKeyDictionary[Engine, CheckpointLog] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One checkpoint whose HMAC verified: the head it records, when, by whom, and where."""

    seq: int
    hash: str
    written_at: str
    writer: str
    place: str  # file:line


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line of the checkpoint log that is not a checkpoint signed with this key."""

    place: str
    reason: str
    forged: bool  # well-formed, but its HMAC does not verify under this key
    partial: bool  # the file's last line, cut short (a crash or a full disk while writing)


def key_id(key: bytes) -> str:
    """A short name for a key (not the key): which key signed a checkpoint."""
    return hmac.new(key, b"gateway audit key id", hashlib.sha256).hexdigest()[:12]


def sign(key: bytes, body: dict[str, Any]) -> str:
    """The HMAC-SHA256 of a checkpoint's fields, in hex."""
    return hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


class CheckpointLog:
    """The checkpoint log in one directory: written after commits, read by `verify`."""

    def __init__(
        self,
        directory: Path,
        key: bytes,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.key = key
        self.key_id = key_id(key)
        self.interval = interval
        self.clock = clock
        self.writer = f"{socket.gethostname()}:{os.getpid()}"
        self._lock = threading.Lock()
        self._pending: Head | None = None  # the newest head not written yet
        self._highest: Head | None = None  # the newest head this process has seen
        self._next_at = 0.0  # when (clock) the next line may be written
        self._timer: threading.Timer | None = None
        atexit.register(self.flush)

    @property
    def path(self) -> Path:
        """The file this host appends checkpoints to (one a host: no two hosts share a file)."""
        host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"
        return self.directory / f"checkpoints-{host}.jsonl"

    @property
    def committed(self) -> int:
        """The newest entry this process has seen committed (0: none yet)."""
        return self._highest.seq if self._highest else 0

    def record(self, new: Head) -> None:
        """After a commit that appended: checkpoint `new` now, or when the interval ends.

        Threads record in whatever order they get here, so an older head than the newest
        seen is just late (`chain.write` is where a chain that went back shows).
        """
        with self._lock:
            if self._highest is None or new.seq > self._highest.seq:
                self._highest = self._pending = new
            if self.clock() >= self._next_at:
                self._flush_locked()
            elif self._timer is None:
                self._timer = threading.Timer(self._next_at - self.clock(), self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write the waiting checkpoint, if any, now."""
        with self._lock:
            self._flush_locked()

    def pin(self, engine: Engine) -> None:
        """Checkpoint the chain's head as committed now (at start-up: an idle chain too)."""
        with reading(engine) as connection:
            found = head(connection)
        if found is not None:
            self.record(found)

    def _flush_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending is None:
            return
        try:
            self._write(self._pending)
        except OSError as exc:  # the commit stands; the next commit or flush tries again
            log.error("audit_checkpoint_failed", error=exc.strerror, directory=str(self.directory))
            return
        self._pending = None
        self._next_at = self.clock() + self.interval

    def _write(self, new: Head) -> None:
        body = {
            "v": 1,
            "seq": new.seq,
            "hash": new.hash,
            "written_at": iso(utc_now()),
            "writer": self.writer,
            "key_id": self.key_id,
        }
        signed = body | {"mac": sign(self.key, body)}
        line = (canonical_json(signed) + "\n").encode("utf-8")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line)  # one write on an O_APPEND file: lines never interleave
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> Iterator[Checkpoint | BadLine]:
        """Every checkpoint in the `*.jsonl` files of the directory, checked against the key."""
        for path in sorted(self.directory.glob("*.jsonl")):
            with path.open("rb") as lines:
                for number, raw in enumerate(lines, 1):
                    yield self._check(f"{path}:{number}", raw)

    def _check(self, place: str, raw: bytes) -> Checkpoint | BadLine:
        if not raw.endswith(b"\n"):  # only a file's last line can lack its newline
            return BadLine(place, "cut short", forged=False, partial=True)
        try:
            line = json.loads(raw)
            body = {name: line[name] for name in FIELDS}
            mac = line["mac"]
            seq, digest = int(body["seq"]), str(body["hash"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return BadLine(place, "not a checkpoint", forged=False, partial=False)
        if not isinstance(mac, str) or not hmac.compare_digest(mac, sign(self.key, body)):
            other = body["key_id"] != self.key_id
            reason = "signed with another key" if other else "its HMAC does not verify"
            return BadLine(place, reason, forged=True, partial=False)
        return Checkpoint(seq, digest, str(body["written_at"]), str(body["writer"]), place)


def attach(engine: Engine, checkpoints: CheckpointLog) -> None:
    """Checkpoint every audited commit on `engine` in `checkpoints`."""
    _ATTACHED[engine] = checkpoints


def attached(engine: Engine) -> CheckpointLog | None:
    """The checkpoint log of `engine`'s audited commits, if one is attached."""
    return _ATTACHED.get(engine)


def pin_attached(engine: Engine) -> None:
    """Checkpoint the chain's head now in `engine`'s log, if it has one (at start-up)."""
    found = attached(engine)
    if found is not None:
        found.pin(engine)


def from_settings(settings: Settings) -> CheckpointLog:
    """The checkpoint log the settings name, with their key.

    Raises:
        ConfigurationError: no usable key (see `audit_key`).
    """
    return CheckpointLog(
        settings.resolved_audit_checkpoint_dir,
        audit_key(settings),
        interval=settings.audit_checkpoint_interval_s,
    )


def audit_key(settings: Settings) -> bytes:
    """`GATEWAY_AUDIT_KEY`; with the demo routing and no key set, the data directory's own.

    Raises:
        ConfigurationError: outside the demo, the key is not set, too short, or the demo's.
    """
    demo = settings.data_dir / DEMO_KEY_FILE
    if settings.audit_key is None:
        if not settings.is_demo_routing:
            raise ConfigurationError(
                "GATEWAY_AUDIT_KEY is not set: the audit chain's checkpoints need a secret key "
                f"of at least {MIN_KEY} characters outside the demo (for example the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), kept where "
                "the database's administrators cannot read it"
            )
        return _demo_key(demo)
    key = settings.audit_key.get_secret_value()
    if len(key) < MIN_KEY:
        raise ConfigurationError(f"GATEWAY_AUDIT_KEY is shorter than {MIN_KEY} characters")
    if not settings.is_demo_routing and demo.is_file() and demo.read_text().strip() == key:
        raise ConfigurationError(
            f"GATEWAY_AUDIT_KEY is the demo key generated in {demo}, beside the database: "
            "set a key of your own outside the demo"
        )
    return key.encode("utf-8")


def _demo_key(path: Path) -> bytes:
    """The demo's key: generated once, mode 0600, beside the demo database."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may have created it and not written it yet
            key = path.read_text().strip()
            if key:
                return key.encode("utf-8")
            time.sleep(0.02)
        raise ConfigurationError("the demo audit key file is empty", file=str(path)) from None
    key = secrets.token_urlsafe(32)
    try:
        os.write(fd, f"{key}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return key.encode("utf-8")
