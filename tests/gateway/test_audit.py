"""The hash-chained audit log: appends, verification, checkpoints and tamper detection.

Each tamper test acts as the database's owner would: with the append-only triggers out of the
way (dropped on SQLite, bypassed with `session_replication_role` on PostgreSQL).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import DBAPIError
from structlog.testing import capture_logs

from gateway import audit
from gateway.audit import checkpoints
from gateway.audit.chain import GENESIS, canonical_json, digest
from gateway.audit.checkpoints import CheckpointLog, sign
from gateway.store.schema import audit_log
from gateway.store.work import unit_of_work
from tests.conftest import AUDIT_KEY
from tests.gateway.audit import as_owner

DAY = timedelta(days=1)


@pytest.fixture
def log(engine: Engine, tmp_path: Path) -> CheckpointLog:
    """A checkpoint log written after every commit (no interval), attached to the engine."""
    found = CheckpointLog(tmp_path / "checkpoints", AUDIT_KEY, interval=0)
    checkpoints.attach(engine, found)
    return found


def _fill(engine: Engine, n: int, *, per_unit: int = 1) -> None:
    """`n` entries, `per_unit` to a unit of work (a checkpoint after each)."""
    for start in range(0, n, per_unit):
        with unit_of_work(engine, audits=True) as connection:
            for i in range(start, min(n, start + per_unit)):
                audit.append(
                    connection,
                    actor="operator:test",
                    action=audit.Action.RECEIVED,
                    subject=f"m{i}",
                    details={"i": i},
                )


def _verify(engine: Engine, log: CheckpointLog | None) -> audit.Report:
    with engine.connect() as connection:
        return audit.verify(connection, log)


def _codes(report: audit.Report) -> set[str]:
    return {problem.code for problem in report.problems}


def _rechain(connection: Connection, after: int) -> None:
    """Rewrite every entry after `after` so that the chain links again (what an editor would)."""
    rows = connection.execute(select(audit_log).order_by(audit_log.c.seq)).all()
    connection.execute(audit_log.delete())
    prev = GENESIS
    for seq, row in enumerate(rows, 1):
        body = json.loads(row.entry) | {"seq": seq, "prev_hash": prev}
        entry = canonical_json(body) if seq > after else row.entry
        values = dict(row._mapping) | {"seq": seq, "entry": entry, "prev_hash": prev}
        values["hash"] = prev = digest(entry)
        connection.execute(audit_log.insert().values(values))


def test_chain_of_appends_verifies_with_its_checkpoint(engine: Engine, log: CheckpointLog) -> None:
    """A chain of appends verifies, and its newest checkpoint records its head."""
    _fill(engine, 25, per_unit=5)
    report = _verify(engine, log)
    assert report.ok, report.problems
    assert report.entries == 25 and report.checkpoints == 5
    assert report.head is not None and report.checkpoint is not None
    assert (report.checkpoint.seq, report.checkpoint.hash) == (25, report.head.hash)


def test_empty_chain_verifies(engine: Engine, log: CheckpointLog) -> None:
    """An empty log is a valid chain of zero entries, with nothing to checkpoint."""
    report = _verify(engine, log)
    assert report.ok and report.entries == 0 and report.head is None


def test_a_unit_that_rolls_back_leaves_no_entry_and_no_checkpoint(
    engine: Engine, log: CheckpointLog
) -> None:
    """Entries join their unit of work: an error rolls them back, and nothing is checkpointed."""
    with pytest.raises(ValueError), unit_of_work(engine, audits=True) as connection:
        audit.append(connection, actor="t", action=audit.Action.RECEIVED)
        raise ValueError("the change the entry records failed")
    with engine.connect() as connection:
        assert audit.count(connection) == 0
    assert not log.path.exists()


def test_append_outside_an_audited_unit_is_refused(engine: Engine) -> None:
    """An entry needs a unit of work that says it audits: no implicit listener picks it up."""
    with engine.begin() as connection, pytest.raises(RuntimeError, match="unit_of_work"):
        audit.append(connection, actor="t", action=audit.Action.RECEIVED)
    with unit_of_work(engine) as connection, pytest.raises(RuntimeError, match="audits=True"):
        audit.append(connection, actor="t", action=audit.Action.RECEIVED)


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("entry", audit_log.c.entry + " ", "entry-edited"),
        ("hash", "f" * 64, "entry-edited"),
        ("prev_hash", "e" * 64, "column-edited"),
        ("actor", "someone-else", "column-edited"),
        ("action", "consulted", "column-edited"),
        ("subject", "another-message", "column-edited"),
        ("at", audit_log.c.at, "column-edited"),  # moved a day below
    ],
)
def test_an_edited_column_is_found_at_its_entry(
    engine: Engine, log: CheckpointLog, column: str, value: object, code: str
) -> None:
    """Every column an entry stands for is checked against its hashed text."""
    _fill(engine, 5)
    if column == "at":
        with engine.connect() as connection:
            at = connection.execute(select(audit_log.c.at).where(audit_log.c.seq == 3)).scalar()
        value = at - DAY
    with as_owner(engine) as connection:
        connection.execute(update(audit_log).where(audit_log.c.seq == 3).values({column: value}))
    first = _verify(engine, log).problems[0]  # an edited hash also differs from its checkpoint
    assert (first.code, first.entry) == (code, 3)
    assert column in first.detail or code == "entry-edited"


def test_a_deleted_middle_entry_is_a_gap(engine: Engine, log: CheckpointLog) -> None:
    """Deleting an entry from the middle leaves a gap the walk names."""
    _fill(engine, 5)
    with as_owner(engine) as connection:
        connection.execute(audit_log.delete().where(audit_log.c.seq == 3))
    report = _verify(engine, log)
    assert ("entries-missing", 3) in {(p.code, p.entry) for p in report.problems}


def test_cutting_the_newest_entries_is_found_by_the_checkpoint(
    engine: Engine, log: CheckpointLog
) -> None:
    """Deleting the last rows leaves a chain that links, but shorter than its checkpoint."""
    _fill(engine, 6)
    with as_owner(engine) as connection:
        connection.execute(audit_log.delete().where(audit_log.c.seq > 4))
    report = _verify(engine, log)
    assert not report.ok
    truncated = next(p for p in report.problems if p.code == "chain-truncated")
    assert truncated.entry == 5 and "entries 5-6" in truncated.detail
    assert "security incident" in truncated.action
    assert _verify(engine, None).ok  # the chain alone cannot show it


def test_a_rechained_middle_deletion_is_found_by_the_checkpoints(
    engine: Engine, log: CheckpointLog
) -> None:
    """An entry deleted and the rest renumbered and re-hashed: the chain links, the head moved."""
    _fill(engine, 6)
    with as_owner(engine) as connection:
        connection.execute(audit_log.delete().where(audit_log.c.seq == 3))
        _rechain(connection, after=2)
    assert _verify(engine, None).ok  # internally consistent
    report = _verify(engine, log)
    assert {"chain-truncated", "checkpointed-entry-changed"} <= _codes(report)
    changed = next(p for p in report.problems if p.code == "checkpointed-entry-changed")
    assert changed.entry == 3


def test_the_gateway_carrying_on_after_a_cut_is_still_found(
    engine: Engine, log: CheckpointLog
) -> None:
    """Rows cut, then new entries past the old head: the old checkpoints no longer match."""
    _fill(engine, 6)
    with as_owner(engine) as connection:
        connection.execute(audit_log.delete().where(audit_log.c.seq > 3))
    _fill(engine, 5)  # entries 4-8 again, with other hashes
    report = _verify(engine, log)
    assert _codes(report) == {"checkpointed-entry-changed"}
    assert report.problems[0].entry == 4


def test_a_cut_is_logged_at_the_next_commit_of_a_process_that_saw_more(
    engine: Engine, log: CheckpointLog
) -> None:
    """A process that committed entry 4 and then finds the head at 2 says so at once."""
    _fill(engine, 4)
    with as_owner(engine) as connection:
        connection.execute(audit_log.delete().where(audit_log.c.seq > 2))
    with capture_logs() as logs:
        _fill(engine, 1)
    assert [(e["event"], e["head"], e["seen"]) for e in logs] == [("audit_chain_went_back", 2, 4)]


def test_threads_committing_at_once_raise_no_false_alarm(
    engine: Engine, log: CheckpointLog
) -> None:
    """Commits recorded out of order by their threads are not a chain going back."""
    with capture_logs() as logs:
        threads = [threading.Thread(target=_fill, args=(engine, 15)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [e for e in logs if e["event"] == "audit_chain_went_back"] == []
    report = _verify(engine, log)
    assert report.ok and report.entries == 90


def test_a_forged_checkpoint_is_refused(engine: Engine, log: CheckpointLog) -> None:
    """A checkpoint written without the key, or with another key, does not verify."""
    _fill(engine, 3)
    body = {"v": 1, "seq": 3, "hash": "a" * 64, "written_at": "2026-01-01T00:00:00Z"}
    body |= {"writer": "intruder:1", "key_id": log.key_id}
    forged = body | {"mac": "0" * 64}
    other = body | {"key_id": "another", "mac": sign(b"another key, also 32 bytes long!", body)}
    with log.path.open("a") as lines:
        lines.write(json.dumps(forged) + "\n" + json.dumps(other) + "\n")
    report = _verify(engine, log)
    forgeries = [p for p in report.problems if p.code == "checkpoint-forged"]
    assert len(forgeries) == 2 and report.checkpoints == 3
    assert "HMAC does not verify" in forgeries[0].detail
    assert "another key" in forgeries[1].detail and "GATEWAY_AUDIT_KEY" in forgeries[1].action


def test_a_chain_without_checkpoints_does_not_verify(engine: Engine, tmp_path: Path) -> None:
    """Entries and no checkpoint: a cut end could not show, so that is a problem too."""
    _fill(engine, 2)
    report = _verify(engine, CheckpointLog(tmp_path / "elsewhere", AUDIT_KEY))
    assert _codes(report) == {"no-checkpoint"}
    assert "GATEWAY_AUDIT_CHECKPOINT_DIR" in report.problems[0].action


def test_a_checkpoint_cut_short_by_a_crash_is_a_note(engine: Engine, log: CheckpointLog) -> None:
    """A last line without its newline (a crash mid-write) is reported, not failed."""
    _fill(engine, 2)
    with log.path.open("a") as lines:
        lines.write('{"v":1,"seq":3,"ha')
    report = _verify(engine, log)
    assert report.ok and any("cut short" in note for note in report.notes)


def test_garbage_in_the_checkpoint_log_is_a_problem(engine: Engine, log: CheckpointLog) -> None:
    """A line that is not a checkpoint means something else writes to the directory."""
    _fill(engine, 2)
    with log.path.open("a") as lines:
        lines.write("not json\n")
    assert _codes(_verify(engine, log)) == {"checkpoint-unreadable"}


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"])
def test_the_gateways_role_cannot_change_or_delete_entries(
    engine: Engine, log: CheckpointLog, statement: str
) -> None:
    """Triggers refuse UPDATE and DELETE on the audit log, on both backends."""
    _fill(engine, 2)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    assert _verify(engine, log).ok


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_the_gateways_role_cannot_truncate_the_log(engine: Engine, log: CheckpointLog) -> None:
    """On PostgreSQL TRUNCATE is refused too (SQLite has none: its DELETE fires the trigger)."""
    _fill(engine, 2)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_log"))
    assert _verify(engine, log).ok


def test_entries_are_canonical_json(engine: Engine) -> None:
    """Stored entry text is canonical JSON (sorted, compact), so hashes survive code changes."""
    _fill(engine, 1)
    with engine.connect() as connection:
        row = connection.execute(audit_log.select()).one()
    assert row.entry.startswith('{"action":"received","actor":"operator:test"')
    assert ", " not in row.entry


def test_the_api_names_each_problem_and_what_to_do(
    engine: Engine, client: TestClient, operator: dict[str, str]
) -> None:
    """`GET /v1/audit/verify`: ok with the newest checkpoint, then each problem once cut."""
    _fill(engine, 3)
    attached = checkpoints.attached(engine)
    assert attached is not None
    attached.flush()
    answer = client.get("/v1/audit/verify", headers=operator).json()
    assert answer["ok"] is True and answer["problems"] == []
    assert answer["checkpoint"]["entry"] == answer["entries"]
    with as_owner(engine) as connection:
        connection.execute(audit_log.delete().where(audit_log.c.seq > 2))
    answer = client.get("/v1/audit/verify", headers=operator).json()
    assert (answer["ok"], answer["entries"], answer["broken_entry"]) == (False, 2, 3)
    [problem] = answer["problems"]
    assert problem["problem"] == "chain-truncated" and problem["detail"] == answer["reason"]
    assert "security incident" in problem["action"]
