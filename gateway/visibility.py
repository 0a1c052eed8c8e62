"""Who sees what: the one rule for episodes and deliveries, for the API and the `/ui` pages.

A council sees a delivery when it is addressed to the council, and an episode (with its child)
only when the gateway sent the council something about it: a delivery of the episode to that
council exists. Naming the council on the episode (as the home or responsible council of a child
who is not looked after, say) is not enough: routing decides who is told, and only those told
may read. An operator sees everything; any other caller sees nothing here.

What a council may not see does not exist for it (docs/decisions/0008): callers answer 404, as
for an unknown id. Within an episode it sees only its own `case_records` and its own `flags`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, exists, false, select, true

from gateway.keys import Principal, Role
from gateway.store.schema import deliveries, episodes


def sees_all(principal: Principal) -> bool:
    """True for an operator, who sees every council's episodes and deliveries."""
    return principal.role is Role.OPERATOR


def _council(principal: Principal) -> str | None:
    """The council whose data the caller may see, or None (not a council key)."""
    return principal.council if principal.role is Role.COUNCIL else None


def deliveries_visible(query: Select[Any], principal: Principal) -> Select[Any]:
    """`query` (over `deliveries`) narrowed to the deliveries the caller may see."""
    if sees_all(principal):
        return query
    council = _council(principal)
    return query.where(deliveries.c.council == council if council else false())


def episode_visible(principal: Principal) -> ColumnElement[bool]:
    """A condition on `episodes` rows: the caller may see this episode."""
    if sees_all(principal):
        return true()
    council = _council(principal)
    if council is None:
        return false()
    return exists().where(deliveries.c.episode_id == episodes.c.id, deliveries.c.council == council)


def may_see_episode(connection: Connection, principal: Principal, episode_id: str) -> bool:
    """True when the caller may see the episode (False too when there is no such episode)."""
    query = select(episodes.c.id).where(episodes.c.id == episode_id, episode_visible(principal))
    return connection.execute(query).first() is not None


def council_view(view: Mapping[str, Any], principal: Principal) -> dict[str, Any]:
    """The episode JSON as the caller may see it: a council only its own records and flags.

    Another council's case system ids and policy flags are that council's own business.
    """
    shown = dict(view)
    if sees_all(principal):
        return shown
    council = _council(principal)
    for name in ("case_records", "flags"):
        shown[name] = [item for item in view.get(name, []) if item.get("council") == council]
    return shown
