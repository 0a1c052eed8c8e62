"""The DfE SSDA903 "Missing" table of a council's looked-after children (operations.md).

Which episodes: looked-after episodes whose responsible (placing) council is the council, or,
when the police named no responsible council, whose home council is; never cancelled ones; the
periods that overlap the reporting period.

The columns are the return's, `CHILD,DOB,MISSING,MIS_START,MIS_END`, dates `dd/mm/yyyy`:

- `CHILD` is the council's own person id (`case_records.person_id`). An episode whose own case
  record has none takes the id the council's system gave the same child on another episode; an
  episode with none, or with several different ones, is left out and listed with its reason.
- `MIS_START` is the UK (Europe/London) date the child was last seen, `MIS_END` the UK date the
  child was found: blank while still missing at the end of the period, or found after it.
- `MISSING` is the episode's derived DfE missing type, `M` or `A`.

The rows pass the DfE validator's Missing rules: 1004/1005 (valid dates), 1006 (`M`/`A`),
564-566 (code and start date together), 567 (end not before start), 570/571 (start not after the
period; an end inside it), 574 (a child's periods do not overlap; one may start on the day the
previous one ended) and 586 (start after the date of birth). Two police reports of one absence
(two forces, or a duplicate report) overlap in time: they are merged into one period, which is
`M` if either part was.
"""

from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from gateway import audit
from gateway.store.schema import case_records, episodes

COLUMNS = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")
DATE_FORMAT = "%d/%m/%Y"
CODES = frozenset({"M", "A"})
LONDON = ZoneInfo("Europe/London")
PURPOSE = "ssda903_return"


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period, both days included."""

    first: date
    last: date

    @classmethod
    def reporting_year(cls, day: date) -> Period:
        """The SSDA903 collection year (1 April to 31 March) that contains `day`."""
        start = day.year if day.month >= 4 else day.year - 1
        return cls(date(start, 4, 1), date(start + 1, 3, 31))


@dataclass(frozen=True, slots=True)
class EpisodeFacts:
    """What the export needs of one episode, as read from the store."""

    episode_id: str
    child_id: str  # the gateway's own child id, which links a child's episodes
    person_id: str | None  # the council's id for the child, from this episode's case record
    date_of_birth: date
    missing_type: str | None
    status: str
    last_seen_at: datetime
    found_at: datetime | None


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the Missing table: one continuous period the child was missing or away."""

    child: str
    date_of_birth: date
    missing: str
    start: date
    end: date | None  # None: still missing at the end of the period
    episode_ids: tuple[str, ...]

    def cells(self) -> list[str]:
        """The row's CSV cells, in the order of `COLUMNS`."""
        end = self.end.strftime(DATE_FORMAT) if self.end else ""
        return [
            self.child,
            self.date_of_birth.strftime(DATE_FORMAT),
            self.missing,
            self.start.strftime(DATE_FORMAT),
            end,
        ]


@dataclass(frozen=True, slots=True)
class LeftOut:
    """An episode of the period that could not be exported, and why (no personal data)."""

    episode_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Export:
    """The rows of the return and the episodes left out of it."""

    rows: list[Row]
    left_out: list[LeftOut]

    @property
    def merged(self) -> list[Row]:
        """The rows that merge several overlapping episodes."""
        return [row for row in self.rows if len(row.episode_ids) > 1]


@dataclass(slots=True)
class _Span:
    """A period in UTC instants, before it is cut to the reporting period."""

    child: str
    date_of_birth: date
    missing: str
    start: datetime
    end: datetime | None
    episode_ids: list[str]


def uk_date(moment: datetime) -> date:
    """The Europe/London calendar date of an aware datetime."""
    return moment.astimezone(LONDON).date()


def build_rows(
    facts: Iterable[EpisodeFacts],
    period: Period,
    person_ids: Mapping[str, Iterable[str]] | None = None,
) -> Export:
    """The Missing table rows of the period (pure: no I/O).

    Args:
        facts: the council's looked-after, not cancelled episodes, any period.
        period: the reporting period.
        person_ids: for each gateway child id, every person id the council's case system gave
            the child (on any episode); the facts' own ids are added to these.
    """
    facts = list(facts)
    known: dict[str, set[str]] = defaultdict(set)
    for child_id, ids in (person_ids or {}).items():
        known[child_id].update(ids)
    for fact in facts:
        if fact.person_id:
            known[fact.child_id].add(fact.person_id)
    spans: dict[str, list[_Span]] = defaultdict(list)
    left_out: list[LeftOut] = []
    for fact in facts:
        span = _span(fact, known[fact.child_id])
        if isinstance(span, str):
            if _overlaps(uk_date(fact.last_seen_at), _end_date(fact.found_at), period):
                left_out.append(LeftOut(fact.episode_id, span))
        else:
            spans[span.child].append(span)
    rows: list[Row] = []
    for child_spans in spans.values():
        for merged in _merge(child_spans):
            row_or_reason = _row(merged, period)
            if isinstance(row_or_reason, Row):
                rows.append(row_or_reason)
            elif row_or_reason is not None:
                left_out.extend(LeftOut(e, row_or_reason) for e in merged.episode_ids)
    rows.sort(key=lambda r: (r.child, r.start, r.end or date.max))
    left_out.sort(key=lambda item: item.episode_id)
    return Export(rows=rows, left_out=left_out)


def _span(fact: EpisodeFacts, known: set[str]) -> _Span | str:
    """The episode as a span, or the reason it cannot be exported."""
    if fact.missing_type not in CODES:
        return "the episode has no DfE missing type (M or A)"
    if fact.status != "open" and fact.found_at is None:
        return f"the episode is {fact.status} without a found time, so MIS_END is unknown"
    if fact.found_at is not None and fact.found_at < fact.last_seen_at:
        return "the child was found before being last seen (DfE rule 567)"
    child = fact.person_id
    if child is None:
        if not known:
            return "no person id from the council's case system yet; match the child by hand"
        if len(known) > 1:
            return f"the child has {len(known)} person ids in the council's case system"
        (child,) = known
    return _Span(
        child=child,
        date_of_birth=fact.date_of_birth,
        missing=fact.missing_type,
        start=fact.last_seen_at,
        end=fact.found_at,
        episode_ids=[fact.episode_id],
    )


def _merge(spans: list[_Span]) -> list[_Span]:
    """One child's spans with overlapping ones merged (rule 574), in start order."""
    merged: list[_Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        current = merged[-1] if merged else None
        if current is None or (current.end is not None and span.start >= current.end):
            merged.append(span)
            continue
        if current.end is not None:
            current.end = None if span.end is None else max(current.end, span.end)
        current.missing = "M" if "M" in (current.missing, span.missing) else "A"
        current.date_of_birth = span.date_of_birth  # the later report's, which may correct it
        current.episode_ids.extend(span.episode_ids)
    return merged


def _row(span: _Span, period: Period) -> Row | str | None:
    """The span as a row of the period, None outside it, or the reason it cannot be a row."""
    start, end = uk_date(span.start), _end_date(span.end)
    if not _overlaps(start, end, period):
        return None
    if start <= span.date_of_birth:
        return "the period starts on or before the child's date of birth (DfE rule 586)"
    return Row(
        child=span.child,
        date_of_birth=span.date_of_birth,
        missing=span.missing,
        start=start,
        end=end if end is not None and end <= period.last else None,
        episode_ids=tuple(span.episode_ids),
    )


def _end_date(found_at: datetime | None) -> date | None:
    return uk_date(found_at) if found_at else None


def _overlaps(start: date, end: date | None, period: Period) -> bool:
    return start <= period.last and (end is None or end >= period.first)


def to_csv(rows: Iterable[Row]) -> str:
    """The rows as CSV text with the return's header (RFC 4180 line endings)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(row.cells() for row in rows)
    return buffer.getvalue()


def write_private(path: Path, text: str) -> None:
    """Write the CSV to a file readable by its owner only (it holds personal data)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _responsible_for(council: str) -> ColumnElement[bool]:
    """Looked-after, not cancelled episodes the council is the responsible authority for."""
    return and_(
        episodes.c.looked_after.is_(True),
        episodes.c.status != "cancelled",
        or_(
            episodes.c.responsible_council == council,
            and_(episodes.c.responsible_council.is_(None), episodes.c.home_council == council),
        ),
    )


def load_facts(connection: Connection, council: str) -> list[EpisodeFacts]:
    """Every episode of the council's looked-after children.

    The whole history, not just the period: a period that began before the reporting period,
    or one merged with an earlier report, keeps its real start.
    """
    record = and_(case_records.c.episode_id == episodes.c.id, case_records.c.council == council)
    query = (
        select(
            episodes.c.id,
            episodes.c.child_id,
            episodes.c.status,
            episodes.c.dfe_missing_type,
            episodes.c.found_at,
            episodes.c.state,
            case_records.c.person_id,
        )
        .select_from(episodes.outerjoin(case_records, record))
        .where(_responsible_for(council))
    )
    return [_facts(row) for row in connection.execute(query)]


def _facts(row: Any) -> EpisodeFacts:
    state = row.state
    return EpisodeFacts(
        episode_id=row.id,
        child_id=row.child_id,
        person_id=row.person_id,
        date_of_birth=date.fromisoformat(state["child"]["date_of_birth"]),
        missing_type=row.dfe_missing_type,
        status=row.status,
        last_seen_at=datetime.fromisoformat(state["last_seen_at"]),
        found_at=row.found_at,
    )


def load_person_ids(connection: Connection, council: str) -> dict[str, set[str]]:
    """Each of the council's looked-after children's person ids, from any of their episodes."""
    children = select(episodes.c.child_id).where(_responsible_for(council))
    query = (
        select(episodes.c.child_id, case_records.c.person_id)
        .distinct()
        .select_from(case_records.join(episodes, case_records.c.episode_id == episodes.c.id))
        .where(
            case_records.c.council == council,
            case_records.c.person_id.is_not(None),
            episodes.c.child_id.in_(children),
        )
    )
    known: dict[str, set[str]] = defaultdict(set)
    for row in connection.execute(query):
        known[row.child_id].add(row.person_id)
    return known


def export(
    connection: Connection, council: str, period: Period, *, actor: str, via: str = "cli"
) -> Export:
    """Read and build the council's Missing table, audited as a disclosure (DPA 2018 s.62).

    The audit entry is appended in the caller's transaction: commit it only once the rows
    have been handed over, so that a failed write leaves no disclosure on the record.
    """
    result = build_rows(
        load_facts(connection, council), period, load_person_ids(connection, council)
    )
    audit.append(
        connection,
        actor=actor,
        action=audit.Action.DISCLOSED,
        subject=council,
        details={
            "what": "ssda903_missing",
            "recipient": council,
            "period_from": period.first.isoformat(),
            "period_to": period.last.isoformat(),
            "rows": len(result.rows),
            "left_out": len(result.left_out),
            "purpose": PURPOSE,
            "via": via,
        },
    )
    return result
