"""The overview's figures (gateway/overview.py) and charts (gateway/ui/chart.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gateway import overview, routing
from gateway.settings import DEMO_ROUTING
from gateway.ui import chart
from tests.gateway.delivery import ids_of, post, set_delivery
from tests.messages import merlin, new_id

NOW = datetime(2026, 3, 10, 12, 7, tzinfo=UTC)


def _delivery(
    client: TestClient, met: dict[str, str], engine: Engine, n: int, **values: Any
) -> str:
    """A Brent delivery put in the given state (its Derbyshire twin delivered long ago)."""
    ids = ids_of(post(client, "merlin", merlin(message_id=new_id(), ref=f"24MIS8{n:05d}"), met))
    old = NOW - timedelta(days=30)
    set_delivery(engine, ids["830"], status="delivered", created_at=old, delivered_at=old)
    set_delivery(engine, ids["304"], **values)
    return ids["304"]


def test_latency_and_queue_follow_each_deliverys_creation_and_settlement(
    client: TestClient, met: dict[str, str], engine: Engine
) -> None:
    """Delivered, dead, pending and long-settled deliveries give the steps a brute force gives."""
    hours = lambda h: NOW - timedelta(hours=h)  # noqa: E731 - reads better inline
    made = [
        # (created, status, delivered_at, updated_at)
        (hours(3), "delivered", hours(3) + timedelta(seconds=10), hours(3)),
        (hours(5), "delivered", hours(1), hours(1)),
        (hours(2), "dead", None, NOW - timedelta(minutes=30)),
        (NOW - timedelta(minutes=20), "pending", None, NOW - timedelta(minutes=20)),
        (hours(30), "delivered", hours(29), hours(29)),
        (hours(26), "retrying", None, hours(1)),  # older than the window, still on its way
        # Settled "before" it was created (two hosts' clocks, 13 minutes apart, across a step's
        # end): it never waited, and must not count as minus one.
        (
            hours(4) + timedelta(minutes=3),
            "delivered",
            hours(4) - timedelta(minutes=10),
            hours(4),
        ),
    ]
    for n, (created, status, delivered, updated) in enumerate(made):
        _delivery(
            client,
            met,
            engine,
            n,
            created_at=created,
            status=status,
            delivered_at=delivered,
            updated_at=updated,
        )
    with engine.connect() as connection:
        steps = overview.history(connection, NOW)
    assert len(steps) == 96 and steps[-1].end == NOW
    for step in steps:
        expected = sum(
            1
            for created, status, delivered, updated in made
            if created <= step.end
            and not (status == "delivered" and delivered <= step.end)
            and not (status == "dead" and updated <= step.end)
        )
        assert step.queue == expected >= 0, step.end
    confirmed = {s.end: (s.confirmed, s.p50_s, s.p95_s) for s in steps if s.confirmed}
    assert sorted(confirmed.values()) == [
        (1, 0.0, 0.0),
        (1, 10.0, 10.0),
        (1, 4 * 3600.0, 4 * 3600.0),
    ]


def test_council_figures_count_recent_waiting_overdue_and_dead(
    client: TestClient, met: dict[str, str], engine: Engine
) -> None:
    """Brent: 3 created today, 1 dead, 1 on its way of which overdue at high risk."""
    _delivery(client, met, engine, 1, status="dead", created_at=NOW - timedelta(hours=2))
    _delivery(
        client,
        met,
        engine,
        2,
        status="retrying",
        priority=0,
        created_at=NOW - timedelta(hours=1),
        deadline_at=NOW - timedelta(minutes=45),
    )
    _delivery(client, met, engine, 3, status="delivered", created_at=NOW - timedelta(hours=3))
    _delivery(client, met, engine, 4, status="delivered", created_at=NOW - timedelta(hours=25))
    table = routing.load(DEMO_ROUTING, environ={})
    with engine.connect() as connection:
        councils, waiting = overview.councils(connection, table, NOW)
    brent = next(c for c in councils if c.code == "304")
    assert councils[0] is brent  # the only high-risk overdue
    assert (brent.last_24h, brent.on_the_way, brent.dead) == (3, 1, 1)
    assert brent.overdue_by_risk() == [("high", 1)]
    assert waiting == []


@pytest.mark.parametrize(
    ("ordered", "p50", "p95"),
    [([], None, None), ([5.0], 5.0, 5.0), ([1.0, 2.0, 3.0, 4.0], 2.0, 4.0)],
)
def test_percentiles_are_nearest_rank(ordered: list[float], p50: Any, p95: Any) -> None:
    """The median and 95th percentile of sorted values (none for none)."""
    assert overview._percentile(ordered, 0.5) == p50
    assert overview._percentile(ordered, 0.95) == p95


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 4), (3, 4), (5, 8), (9, 20), (25, 40), (90, 100), (1000, 1000), (1001, 2000)],
)
def test_the_queue_axis_ends_on_a_round_number(value: float, ceiling: float) -> None:
    """Quarters of the axis fall on whole numbers people read at a glance."""
    assert chart.nice_ceiling(value) == ceiling


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.42, "0.4 s"), (12, "12 s"), (300, "5 min"), (4800, "1 h 20 min"), (7200, "2 h")],
)
def test_durations_read_as_people_say_them(seconds: float, said: str) -> None:
    """Latencies and ages in the page's words."""
    assert chart.duration(seconds) == said


def test_a_gap_in_a_series_lifts_the_pen_and_lone_points_get_a_dot() -> None:
    """No line is drawn across a step with no confirmation; every value has its dot."""
    start = NOW - timedelta(hours=1)
    series = [(start + timedelta(minutes=15 * i), v) for i, v in enumerate([1.0, None, 2.0, 3.0])]
    drawn = chart.latency_chart(start, NOW, series, series, deadline_s=900)
    median = next(line for line in drawn.lines if line.label == "Median")
    assert median.path.count("M") == 2 and median.path.count("L") == 1
    assert len(median.dots) == 3
    assert any(line.label == "High-risk deadline" for line in drawn.lines)


def test_time_ticks_label_uk_hours_across_the_autumn_clock_change() -> None:
    """On 27 October 2024 (clocks back at 02:00 BST) the ticks still run left to right."""
    start = datetime(2024, 10, 26, 23, 30, tzinfo=UTC)
    ticks = chart.time_ticks(start, start + timedelta(hours=24))
    assert [t.label for t in ticks][:3] == ["03:00", "06:00", "09:00"]
    assert [t.at for t in ticks] == sorted(t.at for t in ticks)
