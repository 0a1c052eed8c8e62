"""The open episodes a council is responsible for, with its policy flags, soonest deadline first.

An episode is the council's when it is the home (or host) council or the responsible
(placing) council; open means `open` or `found` (found but not closed: the return home
interview is still to be done). A council sees only the policy flags raised for itself;
an operator sees every open episode and every flag.

Each episode shown is a consultation of police data (DESIGN.md §4): one audit entry per
episode, naming the caller and the purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from gateway import audit
from gateway.keys import Principal, Role
from gateway.store.schema import episodes, policy_flags

OPEN_STATUSES = ("open", "found")
PURPOSE = "safeguarding"


@dataclass(frozen=True, slots=True)
class OpenEpisode:
    """One row of the open-episodes table."""

    episode_id: str
    state: dict[str, Any]
    reported_at: datetime
    return_interview_due_by: datetime | None
    flags: list[dict[str, Any]]


def _sort_key(episode: OpenEpisode) -> tuple[bool, datetime, datetime, str]:
    """Deadline soonest first; those without one yet after those with one; then by report."""
    due = episode.return_interview_due_by
    return (due is None, due or episode.reported_at, episode.reported_at, episode.episode_id)


def _flags(connection: Connection, principal: Principal, ids: list[str]) -> dict[str, list[Any]]:
    """The flags raised on these episodes, for the caller's council only (operators: all)."""
    query = select(policy_flags).where(policy_flags.c.episode_id.in_(ids))
    if principal.role is not Role.OPERATOR:
        query = query.where(policy_flags.c.council == principal.council)
    found: dict[str, list[Any]] = {}
    for row in connection.execute(query.order_by(policy_flags.c.due_at, policy_flags.c.id)):
        found.setdefault(row.episode_id, []).append(row._asdict())
    return found


def open_episodes(
    connection: Connection, principal: Principal, *, now: datetime
) -> list[OpenEpisode]:
    """The caller's open episodes, soonest return-interview deadline first; audited.

    Call inside a transaction (the consultations are written with the read).
    """
    query = select(episodes.c.id, episodes.c.state, episodes.c.reported_at).where(
        episodes.c.status.in_(OPEN_STATUSES)
    )
    if principal.role is not Role.OPERATOR:
        query = query.where(
            or_(
                episodes.c.home_council == principal.council,
                episodes.c.responsible_council == principal.council,
            )
        )
    rows = connection.execute(query).all()
    flags = _flags(connection, principal, [r.id for r in rows])
    shown = sorted(
        (
            OpenEpisode(
                episode_id=r.id,
                state=dict(r.state),
                reported_at=r.reported_at,
                return_interview_due_by=_time(r.state.get("return_interview_due_by")),
                flags=flags.get(r.id, []),
            )
            for r in rows
        ),
        key=_sort_key,
    )
    for episode in shown:
        audit.append(
            connection,
            actor=principal.actor,
            action=audit.Action.CONSULTED,
            subject=episode.episode_id,
            details={"what": "episode", "purpose": PURPOSE, "via": "ui"},
            at=now,
        )
    return shown


def _time(value: str | None) -> datetime | None:
    """An ISO 8601 time from the canonical state (`...Z`), or None."""
    return datetime.fromisoformat(value) if value else None
