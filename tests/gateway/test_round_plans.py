"""The worker's round reads deliveries by status on SQLite, whatever its statistics say.

SQLite keeps one average per index column (`sqlite_stat1`), so after ANALYZE on a queue that
was all `pending`, `in_flight` looks as common as `pending`. Its planner then walked the council
index, every delivery of each routed council, to count the few in flight (8 ms a round at
3 000 deliveries, growing with the queue). These tests read SQLite's plan for each of the
round's statements, the acknowledgement poll's and the scraped gauges', with no statistics and
with those that misled it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.dialects import sqlite

from gateway import alert_metrics, metrics, overview
from gateway.delivery import claims, outcomes, slots
from gateway.delivery.acks import awaiting_ack
from gateway.store import migrate
from gateway.store.engine import make_engine

# What ANALYZE wrote on the benchmark's seeded backlog: 3 000 deliveries, all pending, two councils.
MISLEADING = {
    "ix_deliveries_queued": "3000 1500",
    "ix_deliveries_lease": "3000 3000 3000",
    "ix_deliveries_claim": "3000 3000 3000 2",
    "ix_deliveries_due": "3000 3000 2",
    "ix_deliveries_council_created": "3000 1500 1",
    "ix_deliveries_created": "3000 2",
}


@pytest.fixture(params=["no statistics", "misleading statistics"])
def misled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database, with no statistics or with those that misled the planner.

    The gateway never runs ANALYZE, but an operator's `PRAGMA optimize` or ANALYZE may.
    """
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    migrate.upgrade(engine)
    if request.param == "misleading statistics":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))  # creates sqlite_stat1
            conn.execute(text("DELETE FROM sqlite_stat1 WHERE tbl = 'deliveries'"))
            rows = [{"i": index, "s": stat} for index, stat in MISLEADING.items()]
            rows.append({"i": None, "s": "3000"})  # the table's own row count
            conn.execute(
                text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('deliveries', :i, :s)"),
                rows,
            )
        engine.dispose()  # SQLite reads the statistics when it connects: connect again
    yield engine
    engine.dispose()


@pytest.fixture
def connection(misled: Engine) -> Iterator[Connection]:
    """A connection to that database."""
    with misled.connect() as conn:
        yield conn


def _plan(connection: Connection, statement: Any, params: dict[str, Any]) -> list[str]:
    compiled = statement.compile(
        dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True}
    )
    values = compiled.construct_params(params)
    processors = compiled._bind_processors  # how Core binds each value (the JSON list)
    args = [
        processors[name](values[name]) if name in processors else values[name]
        for name in compiled.positiontup or ()
    ]
    args = [a.replace(tzinfo=None).isoformat(" ") if isinstance(a, datetime) else a for a in args]
    raw = connection.connection.dbapi_connection
    assert raw is not None
    return [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {compiled}", args)]


def _reads_deliveries(plan: list[str]) -> list[str]:
    return [step for step in plan if " deliveries" in step and "earlier" not in step]


def _one_status(step: str) -> bool:
    """The step reads one status's rows: a search by status, or the `sent` rows' own index."""
    return step.startswith("SEARCH deliveries USING INDEX") or step == SENT_ROWS


SENT_ROWS = "SCAN deliveries USING INDEX ix_deliveries_sent"


def test_the_busy_counts_read_the_status_indexes(connection: Connection) -> None:
    """In flight through the lease index, high-risk due through the claim index."""
    now = datetime.now(UTC)
    params = {"councils": ["304", "830"], "now": now}
    plan = _reads_deliveries(_plan(connection, slots._BUSY.statement, params))
    assert plan == [
        "SEARCH deliveries USING INDEX ix_deliveries_lease (status=? AND lease_until>?)",
        "SEARCH deliveries USING INDEX ix_deliveries_claim (status=? AND priority=? AND "
        "next_attempt_at<?)",
    ]


def test_the_councils_with_work_are_found_by_probes_not_by_reading_their_deliveries(
    misled: Engine,
) -> None:
    """One probe of the queued rows' index per routed council; expired leases by lease.

    With statistics from a backlog on three councils of 153 (as ANALYZE wrote them), the
    council index looked 17 times more selective than the queued rows' own (`indexed_by`).
    """
    with misled.begin() as conn:
        if conn.scalar(text("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'")):
            conn.execute(
                text("UPDATE sqlite_stat1 SET stat = :s WHERE idx = :i"),
                [
                    {"i": "ix_deliveries_queued", "s": "100000 33334"},
                    {"i": "ix_deliveries_council_created", "s": "300000 1961 1961"},
                ],
            )
    misled.dispose()
    params = {"councils": [f"{code:03d}" for code in range(100, 253)], "now": datetime.now(UTC)}
    with misled.connect() as connection:
        plan = _reads_deliveries(_plan(connection, slots._WORKING.statement, params))
    assert plan == [
        "SEARCH deliveries USING INDEX ix_deliveries_queued (council=?)",
        "SEARCH deliveries USING INDEX ix_deliveries_lease (status=? AND lease_until<?)",
    ]


def test_every_range_of_the_claim_reads_a_status_index(connection: Connection) -> None:
    """Expired leases through the lease index; each (status, priority) through its range."""
    now = datetime.now(UTC)
    params = {"councils": ["304", "830"], "now": now, "want": 32}
    plan = _reads_deliveries(_plan(connection, claims._RANGES.statement, params))
    expired, *due = plan
    assert expired == (
        "SEARCH deliveries USING INDEX ix_deliveries_lease (status=? AND lease_until<?)"
    )
    assert len(due) == 8  # two statuses, four priorities
    assert all("USING INDEX ix_deliveries_claim (status=? AND priority=?" in step for step in due)


def test_lists_of_ids_are_read_by_key(connection: Connection) -> None:
    """`in_list` leaves the list free to drive a key lookup (no `(… IN …) = 1` on SQLite)."""
    deliveries_now = _plan(connection, outcomes._CURRENT.statement, {"ids": ["d1", "d2"]})
    assert _reads_deliveries(deliveries_now) == [
        "SEARCH deliveries USING INDEX sqlite_autoindex_deliveries_1 (id=?)"
    ]
    their_events = _plan(connection, claims._EVENTS.statement, {"ids": ["e1"]})
    assert any(step.startswith("SEARCH events USING INDEX") for step in their_events)


def test_the_acknowledgement_poll_reads_only_sent_deliveries(misled: Engine) -> None:
    """The councils awaiting an acknowledgement: the `sent` rows, by status."""
    run: list[str] = []
    event.listen(misled, "before_cursor_execute", lambda *a: run.append(a[2]))
    assert awaiting_ack(misled) == []
    (sql,) = [statement for statement in run if "deliveries" in statement]
    with misled.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        plan = [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}")]
    (step,) = _reads_deliveries(plan)
    assert _one_status(step), step


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(lambda now: alert_metrics._by_state(now, now), id="alert gauges"),
        pytest.param(overview.standing, id="council overview"),
        pytest.param(overview.history_rows, id="overview chart"),
    ],
)
def test_the_unsettled_counts_read_each_status_by_index(
    connection: Connection, statement: Callable[[datetime], Any]
) -> None:
    """Grouped counts of unsettled deliveries read each status's rows, not every one kept.

    The chart's settled deliveries are read by creation time, back to its look-back.
    """
    now = datetime.now(UTC)
    plan = _reads_deliveries(_plan(connection, statement(now), {}))
    assert plan
    assert all(_one_status(step) for step in plan), plan


def test_the_queue_gauges_read_each_status_by_index(misled: Engine) -> None:
    """A scrape of the queue gauges reads each unsettled status's rows, not every one kept."""
    run: list[tuple[str, Any]] = []
    event.listen(misled, "before_cursor_execute", lambda *a: run.append((a[2], a[3])))
    list(metrics.QueueCollector(misled).collect())
    (sql, params) = next(found for found in run if "FROM deliveries" in found[0])
    with misled.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        plan = _reads_deliveries(
            [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        )
    assert plan
    assert all(_one_status(step) for step in plan), plan
