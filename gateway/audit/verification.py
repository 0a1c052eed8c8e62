"""Verifying the audit chain: every entry against its text, and the head against the checkpoints.

`verify` reads the checkpoints first and the chain second: a checkpoint is written only after
its entries have committed, so whatever the checkpoints name, a walk begun afterwards must
find. It reports problems, each with what broke, where, and what to do, for `gateway audit
verify` and `GET /v1/audit/verify`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from gateway.audit.chain import GENESIS, Head, digest
from gateway.audit.checkpoints import BadLine, Checkpoint, CheckpointLog
from gateway.errors import AuditChainBroken
from gateway.store.schema import audit_log

FIELDS = frozenset({"seq", "at", "actor", "action", "subject", "details", "prev_hash"})
INCIDENT = (
    "treat it as a security incident: leave the audit_log table and the checkpoint files as "
    "they are (do not repair or re-chain them), copy both somewhere safe, and tell the "
    "gateway's security contact and data protection officer; the gateway can keep running"
)
_CHUNK = 500  # checkpoints compared with the database per query


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that does not verify.

    Attributes:
        code: a stable kebab-case name for the kind of problem.
        entry: the first entry concerned, when there is one.
        detail: what is wrong and where.
        action: what the person on call should do.
    """

    code: str
    entry: int | None
    detail: str
    action: str = INCIDENT


@dataclass(slots=True)
class Report:
    """What `verify` found: the chain read, the newest checkpoint, and every problem."""

    entries: int = 0
    head: Head | None = None
    checkpoint: Checkpoint | None = None  # the newest whose HMAC verified
    checkpoints: int = 0  # how many verified
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not a failure

    @property
    def ok(self) -> bool:
        """Whether everything verified."""
        return not self.problems


def verify(connection: Connection, checkpoints: CheckpointLog | None) -> Report:
    """Check the checkpoints against the database, then walk the whole chain.

    `checkpoints` None: the chain alone (it cannot then show entries cut from its end).
    """
    report = Report()
    found = _Found()
    if checkpoints is not None:
        _check_checkpoints(connection, checkpoints, report, found)
    try:
        report.entries, report.head = _walk(connection)
    except AuditChainBroken as broken:
        report.entries = count(connection)
        report.problems.append(Problem(broken.code, broken.entry, broken.reason))
    if checkpoints is not None:
        _judge(report, found, checkpoints)
    return report


def count(connection: Connection) -> int:
    """How many entries the chain holds."""
    return int(connection.execute(select(func.count()).select_from(audit_log)).scalar_one())


def _rows(connection: Connection, batch: int = 5000) -> Iterator[Any]:
    after = 0
    while True:
        rows = connection.execute(
            select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def _walk(connection: Connection) -> tuple[int, Head | None]:
    """Every entry in order; (how many, the head).

    Raises:
        AuditChainBroken: at the first entry that does not verify.
    """
    prev_hash, expected, last = GENESIS, 1, None
    for row in _rows(connection):
        if row.seq != expected:
            missing = f"{expected}" if row.seq == expected + 1 else f"{expected}-{row.seq - 1}"
            raise AuditChainBroken(
                expected, f"entries {missing} are missing (deleted)", code="entries-missing"
            )
        if digest(row.entry) != row.hash:
            raise AuditChainBroken(
                row.seq, "its text does not match its hash (edited)", code="entry-edited"
            )
        _check_columns(row, prev_hash)
        prev_hash, expected, last = row.hash, expected + 1, Head(row.seq, row.hash)
    return expected - 1, last


def _check_columns(row: Any, prev_hash: str) -> None:
    """Every column an entry stands for must say what its hashed text says."""
    try:
        body = json.loads(row.entry)
        keys = set(body)
    except (ValueError, TypeError):
        raise AuditChainBroken(row.seq, "its text is not JSON", code="entry-edited") from None
    if keys != FIELDS or not isinstance(body["details"], dict):
        raise AuditChainBroken(
            row.seq, "its text does not have an entry's fields", code="entry-edited"
        )
    if body["prev_hash"] != prev_hash:
        raise AuditChainBroken(
            row.seq,
            "it does not link to the entry before it (an entry was deleted, inserted or "
            "replaced before it)",
            code="link-broken",
        )
    columns = {
        "seq": (row.seq, body["seq"]),
        "at": (row.at, _time(body["at"])),
        "actor": (row.actor, body["actor"]),
        "action": (row.action, body["action"]),
        "subject": (row.subject, body["subject"]),
        "prev_hash": (row.prev_hash, body["prev_hash"]),
    }
    changed = [name for name, (stored, hashed) in columns.items() if stored != hashed]
    if changed:
        raise AuditChainBroken(
            row.seq,
            f"its {', '.join(changed)} column differs from its hashed text (edited)",
            code="column-edited",
        )


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


@dataclass(slots=True)
class _Found:
    """Checkpoints whose entry the database no longer has, or has with another hash."""

    missing: list[Checkpoint] = field(default_factory=list)
    changed: list[Checkpoint] = field(default_factory=list)


def _check_checkpoints(
    connection: Connection, checkpoints: CheckpointLog, report: Report, found: _Found
) -> None:
    """Every checkpoint's MAC, and its entry in the database (a chunk of them per query)."""
    chunk: list[Checkpoint] = []
    for line in checkpoints.read():
        if isinstance(line, BadLine):
            _bad_line(line, report)
            continue
        report.checkpoints += 1
        if report.checkpoint is None or line.seq > report.checkpoint.seq:
            report.checkpoint = line
        chunk.append(line)
        if len(chunk) == _CHUNK:
            _match(connection, chunk, found)
    _match(connection, chunk, found)


def _match(connection: Connection, chunk: list[Checkpoint], found: _Found) -> None:
    if not chunk:
        return
    rows = connection.execute(
        select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.seq.in_({c.seq for c in chunk}))
    )
    stored = {row.seq: row.hash for row in rows}
    for checkpoint in chunk:
        hashed = stored.get(checkpoint.seq)
        if hashed is None:
            found.missing.append(checkpoint)
        elif hashed != checkpoint.hash:
            found.changed.append(checkpoint)
    chunk.clear()


def _bad_line(line: BadLine, report: Report) -> None:
    if line.partial:
        report.notes.append(f"{line.place}: a checkpoint cut short (a crash while writing?)")
    elif line.forged:
        report.problems.append(
            Problem(
                "checkpoint-forged",
                None,
                f"{line.place}: a checkpoint {line.reason}",
                "check first that GATEWAY_AUDIT_KEY is the key the gateway writes with (an "
                "old file after a key change reads as signed with another key); if it is, "
                + INCIDENT,
            )
        )
    else:
        report.problems.append(
            Problem(
                "checkpoint-unreadable",
                None,
                f"{line.place}: {line.reason}",
                "something other than the gateway wrote to the checkpoint directory; " + INCIDENT,
            )
        )


def _judge(report: Report, found: _Found, checkpoints: CheckpointLog) -> None:
    """The problems the checkpoints show, once the chain's head is known."""
    head = report.head.seq if report.head else 0
    cut = [c for c in found.missing if c.seq > head]
    deleted = [c for c in found.missing if c.seq <= head]
    if cut:
        newest = max(cut, key=lambda c: c.seq)
        ends = f"ends at entry {head}" if head else "is empty"
        report.problems.append(
            Problem(
                "chain-truncated",
                head + 1,
                f"the database's chain {ends}, but a checkpoint records entry {newest.seq} "
                f"(written {newest.written_at}, {newest.place}): entries {head + 1}-"
                f"{newest.seq} or more were cut from the end",
            )
        )
    for code, which, what in (
        ("checkpointed-entry-missing", deleted, "that the database no longer has: deleted"),
        ("checkpointed-entry-changed", found.changed, "with another hash than the database "
         "has: the chain was rewritten from that entry or before"),
    ):  # fmt: skip
        if which:
            first = min(which, key=lambda c: c.seq)
            report.problems.append(
                Problem(
                    code,
                    first.seq,
                    f"{len(which)} checkpoint(s) record entries {what}; the first is entry "
                    f"{first.seq} (checkpoint written {first.written_at}, {first.place})",
                )
            )
    _coverage(report, checkpoints)


def _coverage(report: Report, checkpoints: CheckpointLog) -> None:
    newest, head = report.checkpoint, report.head
    if newest is None and report.entries:
        report.problems.append(
            Problem(
                "no-checkpoint",
                None,
                f"no checkpoint in {checkpoints.directory}, so entries cut from the end of "
                "the chain would not show",
                "check that GATEWAY_AUDIT_CHECKPOINT_DIR is the directory every gateway "
                "process writes to (or pass --checkpoints DIR); starting the gateway "
                "writes one. If checkpoints were there before, " + INCIDENT,
            )
        )
    elif newest is not None and head is not None and head.seq > newest.seq:
        report.notes.append(
            f"entries {newest.seq + 1}-{head.seq} are newer than the newest checkpoint "
            f"(written {newest.written_at}); each process checkpoints within "
            f"{checkpoints.interval:g} s of a commit"
        )


def describe(report: Report, where: str | None) -> list[str]:
    """The report for a person on call: the verdict first, then what broke and what to do."""
    lines: list[str] = []
    head = report.head.hash if report.head else GENESIS
    if report.ok:
        lines.append(f"audit chain verifies: {report.entries} entries, head {head}")
    else:
        lines.append(
            f"AUDIT CHAIN BROKEN: {len(report.problems)} problem(s) in {report.entries} entries"
        )
        for number, problem in enumerate(report.problems, 1):
            at = f" (entry {problem.entry})" if problem.entry is not None else ""
            lines.append(f"{number}. {problem.code}{at}: {problem.detail}")
    if where is None:
        lines.append("checkpoints: not checked (entries cut from the end would not show)")
    elif report.checkpoint is not None:
        newest = report.checkpoint
        lines.append(
            f"checkpoints: {report.checkpoints} in {where}; the newest records entry "
            f"{newest.seq}, written {newest.written_at} by {newest.writer}"
        )
    else:
        lines.append(f"checkpoints: none in {where}")
    lines += [f"note: {note}" for note in report.notes]
    actions = list(dict.fromkeys(problem.action for problem in report.problems))
    lines += [f"what to do: {action}" for action in actions]
    return lines
