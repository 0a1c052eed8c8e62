"""The DfE SSDA903 "Missing" table of a council's looked-after children (operations.md).

Which episodes: looked-after episodes whose responsible (placing) council is the council (its
`responsible` role); never cancelled ones; the periods that overlap the reporting period. A
looked-after child whose responsible authority is unknown (the police named none) is left out
and listed in the export of the council it was placed in, which is the one that was told.

The columns are the return's, `CHILD,DOB,MISSING,MIS_START,MIS_END`, dates `dd/mm/yyyy`:

- `CHILD` is the council's own person id (`case_records.person_id`). An episode whose own case
  record has none takes the id the council's system gave the same child on another episode; an
  episode with none, or with several different ones, is left out and listed with its reason.
- `MIS_START` is the UK (Europe/London) date the child was last seen, `MIS_END` the UK date the
  child was found: blank while still missing at the end of the period, or found after it.
- An open episode with no found message, followed by a new report of the same child (of any
  council), ended at the latest when that report's child was last seen: its `MIS_END` is that
  date, never a later episode's end, and it is listed as "ended by the next report" so the
  council can check it. One row per absence, so the count of episodes in the return stays true.
- `MISSING` is the episode's derived DfE missing type, `M` or `A`.

The rows pass the DfE validator's Missing rules: 1004/1005 (valid dates), 1006 (`M`/`A`),
564-566 (code and start date together), 567 (end not before start), 570/571 (start not after the
period; an end inside it), 574 (a child's periods do not overlap; one may start on the day the
previous one ended) and 586 (start after the date of birth). Two police reports of one absence
(two forces, or a duplicate report) overlap in time: they are merged into one period, which is
`M` if either part was.

The file is written by `gateway.exports.output` (created new, mode 0600, never via a link).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

COLUMNS = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")
DATE_FORMAT = "%d/%m/%Y"
CODES = frozenset({"M", "A"})
LONDON = ZoneInfo("Europe/London")
PURPOSE = "ssda903_return"
UNKNOWN_RESPONSIBLE = (
    "a looked-after child whose responsible authority is unknown (the police named none): "
    "left out; if your council placed the child, add the episode by hand"
)


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
    ended_by_next: str | None = None  # the episode whose MIS_END is its next report's last seen

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

    @property
    def ended_by_next(self) -> list[Row]:
        """The rows whose `MIS_END` is when the child's next report says it was last seen."""
        return [row for row in self.rows if row.ended_by_next and row.end is not None]


@dataclass(slots=True)
class _Span:
    """A period in UTC instants, before it is cut to the reporting period."""

    child: str
    date_of_birth: date
    missing: str
    start: datetime
    end: datetime | None
    episode_ids: list[str]
    ended_by_next: str | None = None  # the episode whose end is the start of its next report


def uk_date(moment: datetime) -> date:
    """The Europe/London calendar date of an aware datetime."""
    return moment.astimezone(LONDON).date()


def build_rows(
    facts: Iterable[EpisodeFacts],
    period: Period,
    person_ids: Mapping[str, Iterable[str]] | None = None,
    *,
    reports: Mapping[str, Iterable[datetime]] | None = None,
    unknown_responsible: Iterable[EpisodeFacts] = (),
) -> Export:
    """The Missing table rows of the period (pure: no I/O).

    Args:
        facts: the council's looked-after, not cancelled episodes, any period.
        period: the reporting period.
        person_ids: for each gateway child id, every person id the council's case system gave
            the child (on any episode); the facts' own ids are added to these.
        reports: for each gateway child id, when the child was last seen in each of its
            reports that is not cancelled, whichever council it concerned (an open episode
            ends, at the latest, at the next of these); the facts' own are added to these.
        unknown_responsible: looked-after episodes whose responsible authority is unknown,
            which the council was told of as host: left out, and listed if in the period.
    """
    facts = list(facts)
    known, starts = _by_child(facts, person_ids or {}, reports or {})
    spans: dict[str, list[_Span]] = defaultdict(list)
    left_out = [
        LeftOut(fact.episode_id, UNKNOWN_RESPONSIBLE)
        for fact in unknown_responsible
        if _overlaps(uk_date(fact.last_seen_at), _end_date(fact.found_at), period)
    ]
    for fact in facts:
        end, ended_by_next = _end(fact, starts[fact.child_id])
        span = _span(fact, known[fact.child_id], end, ended_by_next)
        if isinstance(span, str):
            if _overlaps(uk_date(fact.last_seen_at), _end_date(end), period):
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


def _by_child(
    facts: list[EpisodeFacts],
    person_ids: Mapping[str, Iterable[str]],
    reports: Mapping[str, Iterable[datetime]],
) -> tuple[dict[str, set[str]], dict[str, set[datetime]]]:
    """Each child's known person ids, and when it was last seen in each of its reports."""
    known: dict[str, set[str]] = defaultdict(set)
    starts: dict[str, set[datetime]] = defaultdict(set)
    for child_id, ids in person_ids.items():
        known[child_id].update(ids)
    for child_id, seen in reports.items():
        starts[child_id].update(seen)
    for fact in facts:
        if fact.person_id:
            known[fact.child_id].add(fact.person_id)
        starts[fact.child_id].add(fact.last_seen_at)
    return known, starts


def _end(fact: EpisodeFacts, starts: Iterable[datetime]) -> tuple[datetime | None, bool]:
    """When the episode ended, and whether that is its child's next report (operations.md).

    An open episode with no found message ended, at the latest, when the child was last seen
    in the next report of the same child: the child was seen then.
    """
    if fact.found_at is not None or fact.status != "open":
        return fact.found_at, False
    later = [start for start in starts if start > fact.last_seen_at]
    return (min(later), True) if later else (None, False)


def _span(
    fact: EpisodeFacts, known: set[str], end: datetime | None, ended_by_next: bool
) -> _Span | str:
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
        end=end,
        episode_ids=[fact.episode_id],
        ended_by_next=fact.episode_id if ended_by_next else None,
    )


def _merge(spans: list[_Span]) -> list[_Span]:
    """One child's spans with overlapping ones merged (rule 574), in start order.

    Only reports of one absence overlap: an open episode followed by another report has
    already been ended at that report (`_end`), so it never swallows it.
    """
    merged: list[_Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        current = merged[-1] if merged else None
        if current is None or (current.end is not None and span.start >= current.end):
            merged.append(span)
            continue
        if current.end is not None and (span.end is None or span.end > current.end):
            current.end, current.ended_by_next = span.end, span.ended_by_next
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
        ended_by_next=span.ended_by_next,
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
