"""The host's own flags when a looked-after child's responsible authority is out of reach.

docs/council-it.md, "Roles: which council holds which duty": the host is told of the episode
either way; these flags tell it that the council owing the statutory duties (the return home
interview first) has not been, because it is not onboarded (`responsible_authority_not_connected`,
naming it), because the police named it by a name that matches no council (the same flag,
naming the name as written), or because the police named none
(`responsible_authority_unknown`). They are policy flags like the packs' (`policy_flags`, once
per episode and host, travelling with the event's delivery to the host), raised next to the
packs' on every event. A later message that names a connected responsible authority does not
take one back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from adapters.compact import councils as names_table
from gateway.canonical import CouncilRole
from gateway.policy.evaluate import Flag, record_flags
from gateway.routing import RoutingTable
from gateway.store.schema import policy_flags

NOT_CONNECTED = "responsible_authority_not_connected"
UNKNOWN = "responsible_authority_unknown"
_DUTIES = "it owes the return home interview and the other duties of a responsible authority"


def responsible_unknown(state: Mapping[str, Any]) -> bool:
    """A looked-after child whose message names no responsible authority, known or not."""
    if not state.get("looked_after"):
        return False
    roles = [t["role"] for t in (*state.get("councils", []), *state.get("unresolved_councils", []))]
    return str(CouncilRole.RESPONSIBLE) not in roles


def raise_flags(
    connection: Connection,
    episode_id: str,
    state: Mapping[str, Any],
    routing: RoutingTable,
    *,
    now: datetime,
    event_id: str | None,
    actor: str,
    first: bool = False,
    rows: list[dict[str, Any]] | None = None,
) -> dict[str, list[Flag]]:
    """Raise, once per episode, the host's flag when the responsible authority is out of reach.

    `state` is the episode's state after the event; `first`: the episode was created in this
    transaction (it has no flag yet, not read). Returns the new flags by council (the host's).
    `rows`: as `evaluate.evaluate_episode`'s.
    """
    host = next((t["council"] for t in state.get("councils", []) if t["role"] == "host"), None)
    if not state.get("looked_after") or host is None or routing.route(host) is None:
        return {}
    due = _due(state, routing)
    if due is None:
        return {}
    code, reason = due
    if not first and _raised(connection, episode_id, host, code):
        return {}
    flag = {
        "code": code,
        "rule": code,
        "council": host,
        "period": 0,
        "reason": reason,
        "due_at": _iso(now),
        "raised_at": _iso(now),
    }
    raised = {host: [flag]}
    record_flags(connection, episode_id, raised, event_id=event_id, now=now, actor=actor, rows=rows)
    return raised


def _due(state: Mapping[str, Any], routing: RoutingTable) -> tuple[str, str] | None:
    """The flag the host is owed now, with its reason, or None."""
    responsible = state.get("responsible_council")
    if responsible:
        if routing.route(responsible) is not None:
            return None
        name = names_table.official_name(responsible) or "the council"
        return NOT_CONNECTED, (
            f"the responsible authority, {name} ({responsible}), is not connected to the "
            f"gateway and has not been told: tell it of this episode ({_DUTIES})"
        )
    for waiting in state.get("unresolved_councils", []):
        if waiting["role"] == str(CouncilRole.RESPONSIBLE):
            return NOT_CONNECTED, (
                f"the responsible authority the police name as {waiting['name']!r} matches no "
                f"council the gateway knows and has not been told: find it and tell it of this "
                f"episode ({_DUTIES})"
            )
    return UNKNOWN, (
        "the police name no responsible authority for this looked-after child: find the "
        f"placing authority and tell it of this episode ({_DUTIES})"
    )


def _raised(connection: Connection, episode_id: str, host: str, code: str) -> bool:
    return (
        connection.execute(
            select(policy_flags.c.id).where(
                policy_flags.c.episode_id == episode_id,
                policy_flags.c.council == host,
                policy_flags.c.rule == code,
            )
        ).first()
        is not None
    )


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
