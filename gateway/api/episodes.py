"""Episodes: the canonical episode with its events, for operators and the councils told of it.

Who may read which episode, and which of its parts, is `gateway.visibility`'s rule.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import Connection, select

from gateway import audit, visibility
from gateway.api.deps import IdPath, PrincipalDep, ServicesDep, require
from gateway.api.problems import ApiProblem
from gateway.api.schemas import EpisodeView, Problem
from gateway.canonical import EpisodeEvent
from gateway.keys import Role
from gateway.store.schema import case_records, episodes, events, messages
from gateway.store.work import unit_of_work

router = APIRouter(tags=["episodes"])
_NOT_FOUND = {"model": Problem, "description": "No such episode for this caller"}


def episode_view(connection: Connection, episode_id: str) -> dict[str, Any] | None:
    """The canonical episode JSON of openapi.yaml, or None."""
    row = connection.execute(select(episodes.c.state).where(episodes.c.id == episode_id)).first()
    if row is None:
        return None
    view = dict(row.state)
    if "councils" not in view:
        view.update(_roles_of_an_older_state(connection, episode_id))
    view["events"] = [
        {
            "type": e.type,
            "at": e.at.isoformat().replace("+00:00", "Z"),
            "source_message_id": e.message_id,
            "seq": e.seq,
        }
        for e in connection.execute(
            select(events.c.type, events.c.at, events.c.seq, messages.c.message_id)
            .outerjoin(messages, messages.c.id == events.c.message_row_id)
            .where(events.c.episode_id == episode_id)
            .order_by(events.c.seq)
        )
    ]
    view["case_records"] = [
        {
            "council": r.council,
            "system": r.system,
            "person_id": r.person_id,
            "episode_id": r.case_episode_id,
        }
        for r in connection.execute(
            select(case_records)
            .where(case_records.c.episode_id == episode_id)
            .order_by(case_records.c.council)
        )
    ]
    return view


def _roles_of_an_older_state(connection: Connection, episode_id: str) -> dict[str, Any]:
    """Councils' roles, interview owner and found condition from the latest event's snapshot.

    A state written before they were kept lacks them until the episode's next event, which
    rewrites the state with them (`gateway.episodes.build_state` computes them the same way).
    """
    canonical = connection.execute(
        select(events.c.canonical)
        .where(events.c.episode_id == episode_id)
        .order_by(events.c.seq.desc())
        .limit(1)
    ).scalar_one()
    snap = EpisodeEvent.model_validate(canonical).episode
    return {
        "councils": [{"council": code, "role": str(role)} for code, role in snap.council_roles()],
        "return_interview_owner": snap.return_interview_owner,
        "found_condition": str(snap.found.condition) if snap.found else None,
    }


@router.get(
    "/v1/episodes/{episode_id}",
    response_model=EpisodeView,
    responses={401: {"model": Problem}, 403: {"model": Problem}, 404: _NOT_FOUND},
    summary="Read a canonical episode with its events",
)
def get_episode(
    episode_id: IdPath, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The canonical episode; the read is audited as a consultation (DPA 2018 s.62)."""
    require(principal, Role.OPERATOR, Role.COUNCIL)
    with unit_of_work(services.engine, audits=True) as connection:
        view = episode_view(connection, episode_id)
        if view is None or not visibility.may_see_episode(connection, principal, episode_id):
            raise ApiProblem(404, "not-found", "no such episode")
        view = visibility.council_view(view, principal)
        audit.append(
            connection,
            actor=principal.actor,
            action=audit.Action.CONSULTED,
            subject=episode_id,
            details={"what": "episode", "purpose": "safeguarding", "via": "api"},
        )
    return view
