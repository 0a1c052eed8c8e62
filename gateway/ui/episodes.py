"""The open episodes a council was told of, most urgent first, a page at a time.

Which episodes: those the reader may see (`gateway.visibility`: a council sees the episodes it
was sent a delivery of, an operator every one), still open or found, and closed ones while the
reader owes their return home interview. The order and the words are `triage`'s. A council
sees only the policy flags raised for itself; an operator sees every flag.

Each page view is one consultation of police data (docs/architecture.md): one audit entry naming the
reader, the purpose, the page and the ids of every episode shown on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from gateway import audit, visibility
from gateway.episodes import RETURN_INTERVIEW_DUE, roles_in_state
from gateway.keys import Principal
from gateway.store.schema import episodes, policy_flags
from gateway.ui.triage import CLOSED_KEPT, Candidate, Section, page_count, section, triage

PAGE_SIZE = 25
PURPOSE = "safeguarding"


@dataclass(frozen=True, slots=True)
class OpenEpisode:
    """One row of the page: the episode's state and what the reader needs beside it."""

    episode_id: str
    state: dict[str, Any]
    section: Section
    councils: list[tuple[str, str]]  # each council told, with its role
    role: str | None  # the reader's role on the episode (None: an operator, or no longer told)
    interview_owner: str | None  # None: a looked-after child with no responsible authority
    interview_is_yours: bool
    return_interview_due_by: datetime | None
    overdue: bool
    last_seen_at: datetime
    flags: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class EpisodePage:
    """One page of the list, and where it sits in the whole."""

    episodes: list[OpenEpisode]
    number: int
    pages: int
    total: int
    page_size: int

    @property
    def first(self) -> int:
        """The position of the page's first row in the whole list (from 1; 0 when empty)."""
        return (self.number - 1) * self.page_size + 1 if self.episodes else 0

    @property
    def last(self) -> int:
        """The position of the page's last row in the whole list."""
        return (self.number - 1) * self.page_size + len(self.episodes)


def _reader(principal: Principal) -> str | None:
    """The council the page is for; None for an operator (every council)."""
    return None if visibility.sees_all(principal) else (principal.council or "")


def _candidates(connection: Connection, principal: Principal, now: datetime) -> list[Candidate]:
    """What ordering needs of every episode the page may show (no states: they are large)."""
    closed_since = now - RETURN_INTERVIEW_DUE - CLOSED_KEPT
    query = select(
        episodes.c.id,
        episodes.c.status,
        episodes.c.risk_level,
        episodes.c.looked_after,
        episodes.c.home_council,
        episodes.c.responsible_council,
        episodes.c.found_at,
        episodes.c.state["last_seen_at"].as_string().label("last_seen_at"),
    ).where(
        visibility.episode_visible(principal),
        or_(
            episodes.c.status.in_(("open", "found")),
            and_(episodes.c.status == "closed", episodes.c.found_at >= closed_since),
        ),
    )
    return [
        Candidate(
            episode_id=r.id,
            status=r.status,
            risk_level=r.risk_level,
            last_seen_at=datetime.fromisoformat(r.last_seen_at),
            found_at=r.found_at,
            # EpisodeSnapshot.return_interview_owner, from the columns it is made of
            interview_owner=r.responsible_council if r.looked_after else r.home_council,
        )
        for r in connection.execute(query)
    ]


def _flags(connection: Connection, principal: Principal, ids: list[str]) -> dict[str, list[Any]]:
    """The flags raised on these episodes, for the reader's council only (operators: all)."""
    query = select(policy_flags).where(policy_flags.c.episode_id.in_(ids))
    if not visibility.sees_all(principal):
        query = query.where(policy_flags.c.council == principal.council)
    found: dict[str, list[Any]] = {}
    for row in connection.execute(query.order_by(policy_flags.c.due_at, policy_flags.c.id)):
        found.setdefault(row.episode_id, []).append(row._asdict())
    return found


def _row(
    candidate: Candidate,
    state: dict[str, Any],
    reader: str | None,
    flags: list[dict[str, Any]],
    now: datetime,
) -> OpenEpisode:
    """The page's row for a chosen episode."""
    group = section(candidate, reader)
    due = candidate.interview_due_by
    councils = [(code, str(role)) for code, role in roles_in_state(state)]
    return OpenEpisode(
        episode_id=candidate.episode_id,
        state=state,
        section=group,
        councils=councils,
        role=next((role for code, role in councils if code == reader), None),
        interview_owner=candidate.interview_owner,
        interview_is_yours=reader is not None and candidate.interview_owner == reader,
        return_interview_due_by=due,
        overdue=group is Section.INTERVIEW_DUE and due is not None and due < now,
        last_seen_at=candidate.last_seen_at,
        flags=flags,
    )


def _consulted(
    connection: Connection, principal: Principal, ids: list[str], page: int, now: datetime
) -> None:
    """One audit entry for the page view, naming every episode shown (docs/architecture.md)."""
    audit.append(
        connection,
        actor=principal.actor,
        action=audit.Action.CONSULTED,
        subject=principal.council,
        details={
            "what": "episodes",
            "episode_ids": ids,
            "page": page,
            "purpose": PURPOSE,
            "via": "ui",
        },
        at=now,
    )


def open_episodes(
    connection: Connection,
    principal: Principal,
    *,
    now: datetime,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> EpisodePage:
    """One page of the reader's episodes, most urgent first; the view is audited.

    A page number past the end gives the last page. Call inside a transaction (the
    consultation is written with the read).
    """
    reader = _reader(principal)
    ordered = triage(_candidates(connection, principal, now), reader, now)
    pages = page_count(len(ordered), page_size)
    number = min(max(page, 1), pages)
    chosen = ordered[(number - 1) * page_size : number * page_size]
    ids = [c.episode_id for c in chosen]
    states = {
        r.id: dict(r.state)
        for r in connection.execute(
            select(episodes.c.id, episodes.c.state).where(episodes.c.id.in_(ids))
        )
    }
    flags = _flags(connection, principal, ids)
    rows = [_row(c, states[c.episode_id], reader, flags.get(c.episode_id, []), now) for c in chosen]
    if rows:
        _consulted(connection, principal, ids, number, now)
    return EpisodePage(
        episodes=rows, number=number, pages=pages, total=len(ordered), page_size=page_size
    )


def by_section(rows: list[OpenEpisode]) -> list[tuple[Section, list[OpenEpisode]]]:
    """The page's rows in their groups, in order (a group with no row on the page is left out)."""
    groups: dict[Section, list[OpenEpisode]] = {}
    for row in rows:
        groups.setdefault(row.section, []).append(row)
    return sorted(groups.items())
