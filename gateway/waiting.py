"""What waits on the unroutable list, grouped for people and alerts.

An event naming a council that is not onboarded is stored and waits (docs/architecture.md): it is
never dropped, and it is delivered once the council is onboarded and `gateway replay` runs.
`list_waiting` is the one place that says what waits; the operators' overview
(`/ui/overview`), the `gateway_unroutable_*` metrics and the replay's dry run all read it.

Kinds: `not_onboarded`, a DfE LA code that is not onboarded (or was onboarded since and waits
for a replay: `routable`), and `unresolved_name`, a COMPACT council name that matched no
council, verbatim (`key` is the name). The groups of each kind come from one query in
`list_waiting`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from adapters.compact.councils import official_name
from gateway.routing import RoutingTable
from gateway.store.schema import unroutable

NOT_ONBOARDED = "not_onboarded"
UNRESOLVED_NAME = "unresolved_name"
KINDS = (NOT_ONBOARDED, UNRESOLVED_NAME)


@dataclass(frozen=True, slots=True)
class WaitingGroup:
    """The events waiting for one council, or for one unresolved council name."""

    kind: str
    key: str  # the DfE LA code (not_onboarded), or the name verbatim (unresolved_name)
    name: str | None  # the council's official name, when the national table knows it
    events: int
    episodes: int
    oldest: datetime  # when the oldest of them started waiting
    routable: bool  # the council is onboarded now: a replay delivers them

    def age_s(self, now: datetime) -> float:
        """How long the oldest has waited, in seconds."""
        return max(0.0, (now - self.oldest).total_seconds())


def list_waiting(connection: Connection, routing: RoutingTable) -> list[WaitingGroup]:
    """Everything waiting on the unroutable list, oldest first."""
    rows = connection.execute(
        select(
            unroutable.c.council,
            unroutable.c.name,
            func.count(),
            func.count(func.distinct(unroutable.c.episode_id)),
            func.min(unroutable.c.created_at),
        )
        .where(unroutable.c.resolved_at.is_(None))
        .group_by(unroutable.c.council, unroutable.c.name)
    ).all()
    groups = [
        _group(routing, row.council, row.name, (int(row[2]), int(row[3]), row[4])) for row in rows
    ]
    return sorted(groups, key=lambda g: (g.oldest, g.kind, g.key))


def _group(
    routing: RoutingTable,
    council: str | None,
    name: str | None,
    counted: tuple[int, int, datetime],
) -> WaitingGroup:
    """A council code waits as `not_onboarded`; a row with none waits for its name.

    `counted`: the group's events, their episodes, and when the oldest began to wait.
    """
    events, episodes, oldest = counted
    if council is None:
        return WaitingGroup(UNRESOLVED_NAME, str(name), None, events, episodes, oldest, False)
    return WaitingGroup(
        kind=NOT_ONBOARDED,
        key=council,
        name=_name(routing, council),
        events=events,
        episodes=episodes,
        oldest=oldest,
        routable=routing.route(council) is not None,
    )


def _name(routing: RoutingTable, council: str) -> str | None:
    route = routing.route(council)
    return route.name if route is not None else official_name(council)
