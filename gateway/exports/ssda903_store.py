"""What the SSDA903 Missing table reads from the store, and the audited export itself.

The rows are built by `gateway.exports.ssda903.build_rows` (pure); this module reads a
council's looked-after children's episodes, the person ids its case system gave them, and when
each child was last seen in every report, then records the disclosure.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, select

from gateway import audit
from gateway.exports.ssda903 import PURPOSE, EpisodeFacts, Export, Period, build_rows
from gateway.store.schema import case_records, episodes


def _responsible_for(council: str) -> ColumnElement[bool]:
    """Looked-after, not cancelled episodes whose responsible authority is the council."""
    return and_(
        episodes.c.looked_after.is_(True),
        episodes.c.status != "cancelled",
        episodes.c.responsible_council == council,
    )


def _hosting_unknown(council: str) -> ColumnElement[bool]:
    """Looked-after, not cancelled episodes placed in the council by an unknown authority."""
    return and_(
        episodes.c.looked_after.is_(True),
        episodes.c.status != "cancelled",
        episodes.c.responsible_council.is_(None),
        episodes.c.home_council == council,
    )


def load_facts(
    connection: Connection, council: str, which: ColumnElement[bool]
) -> list[EpisodeFacts]:
    """Every episode `which` selects, with the council's person id for it.

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
        .where(which)
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


def load_reports(connection: Connection, council: str) -> dict[str, list[datetime]]:
    """When each of the council's looked-after children was last seen, in every report of it.

    Every report that is not cancelled, whichever council it concerned: a later report in
    which the child was placed elsewhere, or no longer looked after, still shows when the child
    was last seen, and so when an earlier episode left open had ended at the latest.
    """
    children = select(episodes.c.child_id).where(_responsible_for(council))
    query = select(
        episodes.c.child_id, episodes.c.state["last_seen_at"].as_string().label("last_seen_at")
    ).where(episodes.c.child_id.in_(children), episodes.c.status != "cancelled")
    seen: dict[str, list[datetime]] = defaultdict(list)
    for row in connection.execute(query):
        seen[row.child_id].append(datetime.fromisoformat(row.last_seen_at))
    return seen


def export(
    connection: Connection, council: str, period: Period, *, actor: str, via: str = "cli"
) -> Export:
    """Read and build the council's Missing table, audited as a disclosure (DPA 2018 s.62).

    The audit entry is appended in the caller's transaction: commit it only once the rows
    have been handed over, so that a failed write leaves no disclosure on the record.
    """
    result = build_rows(
        load_facts(connection, council, _responsible_for(council)),
        period,
        load_person_ids(connection, council),
        reports=load_reports(connection, council),
        unknown_responsible=load_facts(connection, council, _hosting_unknown(council)),
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
            "ended_by_next_report": len(result.ended_by_next),
            "purpose": PURPOSE,
            "via": via,
        },
    )
    return result
