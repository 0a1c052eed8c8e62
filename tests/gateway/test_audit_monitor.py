"""The audit chain walked on a timer, its result in /metrics (gateway/audit_monitor.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine, update

from gateway import keys
from gateway.audit_monitor import AuditMonitor
from gateway.store.schema import audit_log
from gateway.store.work import unit_of_work
from tests.gateway.audit import as_owner


def monitor(engine: Engine, **timing: float) -> AuditMonitor:
    """A monitor on the test database, never started unless the test starts it."""
    return AuditMonitor(
        engine,
        interval=timedelta(seconds=timing.get("interval", 3600)),
        first=timedelta(seconds=timing.get("first", 0)),
        clock=lambda: 1_700_000_000.0,
    )


def samples(watcher: AuditMonitor) -> dict[str, float]:
    """The collector's samples by name."""
    return {s.name: s.value for family in watcher.collect() for s in family.samples}


def add_entries(engine: Engine, count: int) -> None:
    """Audited changes: issuing keys."""
    with unit_of_work(engine, audits=True) as connection:
        for _ in range(count):
            keys.create(connection, keys.Role.OPERATOR)


def test_before_any_walk_only_the_error_count_is_exposed(engine: Engine) -> None:
    """No result is invented: ok, entries and the timestamp appear once a walk finished."""
    assert samples(monitor(engine)) == {"gateway_audit_chain_verify_errors": 0}


def test_a_walk_of_a_sound_chain_reports_ok_entries_and_time(engine: Engine) -> None:
    """Three entries verify: ok 1, entries 3, no broken entry, the walk's end time."""
    add_entries(engine, 3)
    watcher = monitor(engine)
    walk = watcher.run_once()
    assert walk is not None and walk.ok
    assert samples(watcher) == {
        "gateway_audit_chain_ok": 1,
        "gateway_audit_chain_entries": 3,
        "gateway_audit_chain_broken_entry": 0,
        "gateway_audit_chain_last_run_timestamp_seconds": 1_700_000_000.0,
        "gateway_audit_chain_verify_errors": 0,
    }


def test_a_changed_entry_turns_ok_to_0_and_names_it(engine: Engine) -> None:
    """Entry 2's text edited: ok 0, broken entry 2, every entry read."""
    add_entries(engine, 3)
    with as_owner(engine) as connection:  # the triggers refuse the gateway's own role
        connection.execute(
            update(audit_log).where(audit_log.c.seq == 2).values(entry=audit_log.c.entry + " ")
        )
    watcher = monitor(engine)
    walk = watcher.run_once()
    assert walk is not None and not walk.ok
    figures = samples(watcher)
    assert figures["gateway_audit_chain_ok"] == 0
    assert figures["gateway_audit_chain_broken_entry"] == 2
    assert figures["gateway_audit_chain_entries"] == 3


def test_a_database_failure_counts_an_error_and_keeps_the_last_result(engine: Engine) -> None:
    """A walk that cannot read counts as an error; the previous walk's result stays."""
    add_entries(engine, 1)
    watcher = monitor(engine)
    watcher.run_once()
    watcher.engine = create_engine("sqlite:////nonexistent/folder/gateway.db")
    assert watcher.run_once() is None
    figures = samples(watcher)
    assert figures["gateway_audit_chain_verify_errors"] == 1
    assert figures["gateway_audit_chain_ok"] == 1


@pytest.mark.parametrize("interval", [0.05])
def test_the_thread_walks_first_then_every_interval_until_stopped(
    engine: Engine, interval: float
) -> None:
    """Started with no first delay it walks at once and again; stop ends it; 0 never starts."""
    add_entries(engine, 1)
    walks: list[float] = []
    watcher = monitor(engine, interval=interval, first=0)
    original = watcher.run_once

    def counted() -> object:
        walks.append(time.monotonic())
        return original()

    watcher.run_once = counted  # type: ignore[method-assign]
    watcher.start()
    deadline = time.monotonic() + 10
    while len(walks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop()
    assert len(walks) >= 2
    stopped = len(walks)
    time.sleep(interval * 3)
    assert len(walks) == stopped
    off = monitor(engine, interval=0)
    off.start()
    assert off._thread is None
