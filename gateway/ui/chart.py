"""Line charts drawn on the server as SVG: the overview's latency and queue over 24 hours.

Pure geometry: series of (time, value) become SVG path data, axis ticks and labels, which
`templates/_chart.html` writes out. The page stays free of JavaScript, and the SVG uses
presentation attributes only (the pages' Content-Security-Policy allows no inline styles).
Colours are GOV.UK Design System colours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 16, 36
BLUE, ORANGE, PURPLE, GREY = "#1d70b8", "#f47738", "#4c2c92", "#505a5f"
# Latency ticks (seconds, label): a log scale, so both a second and an hour can be read.
LATENCY_TICKS = (
    (0.1, "0.1 s"),
    (1, "1 s"),
    (10, "10 s"),
    (60, "1 min"),
    (600, "10 min"),
    (3600, "1 h"),
    (4 * 3600, "4 h"),
    (24 * 3600, "24 h"),
)


@dataclass(frozen=True, slots=True)
class Line:
    """One series: its SVG path data, colour, dash pattern, legend text and point markers."""

    label: str
    path: str
    colour: str
    dash: str = ""
    dots: tuple[tuple[float, float], ...] = ()  # a lone point between gaps still shows


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis tick: where (in SVG units) and what it says."""

    at: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything the template needs to draw one chart."""

    id: str
    title: str
    description: str
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


Series = Sequence[tuple[datetime, float | None]]


def _x(when: datetime, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds() or 1.0
    return LEFT + (WIDTH - LEFT - RIGHT) * (when - start).total_seconds() / span


def _path(points: list[tuple[float, float | None]]) -> str:
    """SVG path data through the points; a gap (None) lifts the pen."""
    parts: list[str] = []
    pen_down = False
    for x, y in points:
        if y is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
    return " ".join(parts)


def time_ticks(start: datetime, end: datetime, hours: int = 3) -> list[Tick]:
    """A tick on every `hours`-th whole hour of UK time between start and end."""
    ticks = []
    at = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while at <= end:
        local = at.astimezone(LONDON)
        if at >= start and local.hour % hours == 0:
            ticks.append(Tick(_x(at, start, end), f"{local:%H:%M}"))
        at += timedelta(hours=1)  # in UTC: UK time's offsets are whole hours
    return ticks


def _y_log(value: float, low: float, high: float) -> float:
    clamped = min(max(value, low), high)
    span = math.log10(high) - math.log10(low)
    fraction = (math.log10(clamped) - math.log10(low)) / span
    return (HEIGHT - BOTTOM) - (HEIGHT - BOTTOM - TOP) * fraction


def latency_chart(
    start: datetime,
    end: datetime,
    p50: Series,
    p95: Series,
    *,
    deadline_s: float,
) -> Chart:
    """Median and 95th percentile latency on a log scale, with the high-risk deadline marked."""
    values = [v for _, v in (*p50, *p95) if v is not None]
    top_value = max([*values, deadline_s])  # the deadline always shows: the same axis each day
    high = next((t for t, _ in LATENCY_TICKS if t >= top_value), LATENCY_TICKS[-1][0])
    low = LATENCY_TICKS[0][0]
    lines = []
    for label, series, colour in (("95th percentile", p95, ORANGE), ("Median", p50, BLUE)):
        points = [(_x(t, start, end), _maybe(v, low, high)) for t, v in series]
        dots = tuple((x, y) for x, y in points if y is not None)
        lines.append(Line(label, _path(points), colour, dots=dots))
    y = _y_log(deadline_s, low, high)
    lines.append(
        Line("High-risk deadline", f"M{LEFT},{y:.1f} L{WIDTH - RIGHT},{y:.1f}", GREY, "6 4")
    )
    worst = max(values, default=None)
    return Chart(
        id="latency-chart",
        title="Delivery latency, last 24 hours",
        description=(
            "No delivery was confirmed in the last 24 hours."
            if worst is None
            else f"Time from acceptance to the case system's confirmation, per 15 minutes. "
            f"The slowest 95th percentile was {duration(worst)}."
        ),
        lines=lines,
        y_ticks=[Tick(_y_log(t, low, high), label) for t, label in LATENCY_TICKS if t <= high],
        x_ticks=time_ticks(start, end),
    )


def _maybe(value: float | None, low: float, high: float) -> float | None:
    return None if value is None else _y_log(value, low, high)


def queue_chart(start: datetime, end: datetime, depth: Series) -> Chart:
    """Deliveries on their way at each step's end, on a linear scale from zero."""
    values = [v for _, v in depth if v is not None]
    high = nice_ceiling(max(values, default=0.0))
    plot = HEIGHT - BOTTOM - TOP

    def y(value: float) -> float:
        return (HEIGHT - BOTTOM) - plot * value / high

    ticks = [Tick(y(high * i / 4), f"{high * i / 4:g}") for i in range(5)]
    peak = max(values, default=0.0)
    return Chart(
        id="queue-chart",
        title="Queue depth, last 24 hours",
        description=(
            f"Deliveries on their way (queued, in flight, retrying or awaiting an "
            f"acknowledgement) at the end of each 15 minutes. The most at once was {peak:g}; "
            f"now {values[-1] if values else 0:g}."
        ),
        lines=[
            Line(
                "Deliveries on their way",
                _path([(_x(t, start, end), None if v is None else y(v)) for t, v in depth]),
                PURPLE,
            )
        ],
        y_ticks=ticks,
        x_ticks=time_ticks(start, end),
    )


def nice_ceiling(value: float) -> float:
    """The smallest of 4, 8, 20, 40, 80, 100, 200, … at least `value` (quarters are whole)."""
    magnitude = 1
    while True:
        for step in (1, 2, 4, 8):
            candidate = step * magnitude
            if candidate >= max(value, 4) and candidate % 4 == 0:
                return float(candidate)
        magnitude *= 10


def duration(seconds: float) -> str:
    """A latency as people say it: '0.4 s', '12 s', '3 min', '1 h 20 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
