"""Routing with roles (docs/council-it.md): who is told, in which role, and the host's own flags."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gateway.delivery.outbox import Claim
from gateway.delivery.request import role
from gateway.store.schema import deliveries, policy_flags
from tests.gateway.delivery import post
from tests.messages import merlin, new_id

NOT_LOOKED_AFTER = ("<LookedAfter>true</LookedAfter>", "<LookedAfter>false</LookedAfter>")
PLACED_IN_DERBYSHIRE = (
    "<PlacementBorough>304</PlacementBorough>",
    "<PlacementBorough>830</PlacementBorough>",
)
PLACED_BY_HARROW = (
    "<ResponsibleAuthority>830</ResponsibleAuthority>",
    "<ResponsibleAuthority>310</ResponsibleAuthority>",
)
NO_RESPONSIBLE = ("<ResponsibleAuthority>830</ResponsibleAuthority>", "")


def told(engine: Engine) -> list[tuple[str, str | None]]:
    """(council, role) of every delivery, in creation order."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(deliveries.c.council, deliveries.c.council_role).order_by(
                deliveries.c.created_at, deliveries.c.council
            )
        )
        return [(r.council, r.council_role) for r in rows]


def host_flags(engine: Engine) -> list[tuple[str, str, str]]:
    """(council, rule, reason) of the gateway's own host flags raised."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(policy_flags.c.council, policy_flags.c.rule, policy_flags.c.reason)
            .where(policy_flags.c.rule.like("responsible_authority_%"))
            .order_by(policy_flags.c.id)
        )
        return [(r.council, r.rule, r.reason) for r in rows]


def test_a_child_not_looked_after_goes_to_the_home_council_only(
    client: TestClient, engine: Engine, met: dict[str, str]
) -> None:
    """MERLIN LookedAfter=false with a ResponsibleAuthority: Brent (home) alone, as `home`."""
    receipt = post(client, "merlin", merlin(NOT_LOOKED_AFTER), met)
    assert [d["council"] for d in receipt["deliveries"]] == ["304"]
    assert receipt["unroutable_councils"] == receipt["warnings"] == []
    assert told(engine) == [("304", "home")]


def test_a_child_placed_by_another_council_tells_host_and_responsible(
    client: TestClient, engine: Engine, met: dict[str, str]
) -> None:
    """The spec example: Brent as host, Derbyshire as responsible; no host flag."""
    post(client, "merlin", merlin(), met)
    assert sorted(told(engine)) == [("304", "host"), ("830", "responsible")]
    assert host_flags(engine) == []


def test_a_child_placed_in_its_responsible_councils_own_area_is_told_once(
    client: TestClient, engine: Engine, met: dict[str, str]
) -> None:
    """Placed in Derbyshire by Derbyshire: one delivery, as `responsible`."""
    receipt = post(client, "merlin", merlin(PLACED_IN_DERBYSHIRE), met)
    assert [d["council"] for d in receipt["deliveries"]] == ["830"]
    assert told(engine) == [("830", "responsible")]


def test_a_responsible_authority_not_onboarded_is_named_to_the_host(
    client: TestClient, engine: Engine, met: dict[str, str]
) -> None:
    """Placed in Brent by Harrow (not onboarded): Brent told and flagged, naming Harrow."""
    receipt = post(client, "merlin", merlin(PLACED_BY_HARROW), met)
    assert receipt["unroutable_councils"] == ["310"]
    assert told(engine) == [("304", "host")]
    ((council, rule, reason),) = host_flags(engine)
    assert (council, rule) == ("304", "responsible_authority_not_connected")
    assert "London Borough of Harrow (310)" in reason
    with engine.connect() as connection:
        flags = connection.execute(select(deliveries.c.flags)).scalar_one()
    assert "responsible_authority_not_connected" in [f["code"] for f in flags]
    later = merlin(PLACED_BY_HARROW, message_id=new_id(), version=2, notification="UPDATE")
    post(client, "merlin", later, met)
    assert len(host_flags(engine)) == 1


def test_a_looked_after_child_with_no_responsible_authority_warns(
    client: TestClient, engine: Engine, met: dict[str, str]
) -> None:
    """MERLIN without ResponsibleAuthority: Brent told as host, flagged; the receipt warns."""
    receipt = post(client, "merlin", merlin(NO_RESPONSIBLE), met)
    assert [w["code"] for w in receipt["warnings"]] == ["responsible_authority_unknown"]
    assert told(engine) == [("304", "host")]
    assert [rule for _, rule, _ in host_flags(engine)] == ["responsible_authority_unknown"]


def _claim(council: str, stored: str | None, canonical: dict[str, Any], state: Any) -> Claim:
    return Claim(
        delivery_id="d",
        council=council,
        system="mosaic",
        episode_id="e",
        event_id="v",
        seq=1,
        idempotency_key="k",
        attempt=1,
        budget_used=1,
        created_at=None,  # type: ignore[arg-type]
        canonical_event=canonical,
        episode_state=state,
        flags=[],
        council_role=stored,
    )


@pytest.mark.parametrize(
    ("council", "stored", "state", "expected"),
    [
        ("830", "host", {}, "host"),  # as queued, whatever the snapshot says
        ("830", None, {}, "responsible"),  # queued before roles were kept: the snapshot's
        ("999", None, {"councils": [{"council": "999", "role": "home"}]}, "home"),  # a timer's
    ],
)
def test_the_role_rendered_is_the_queued_one_then_the_snapshots_then_the_states(
    council: str, stored: str | None, state: dict[str, Any], expected: str
) -> None:
    """Where a delivery's role comes from, in order."""
    from adapters.merlin import ADAPTER

    event = ADAPTER.to_events(ADAPTER.parse(merlin()))[0]
    claimed = _claim(council, stored, event.model_dump(mode="json"), state)
    assert str(role(claimed, event)) == expected


def test_a_council_with_no_role_anywhere_is_a_rendering_error() -> None:
    """Nothing names the council: an error (the worker dead-letters it visibly), not a guess."""
    from adapters.merlin import ADAPTER

    event = ADAPTER.to_events(ADAPTER.parse(merlin()))[0]
    with pytest.raises(ValueError, match="999"):
        role(_claim("999", None, event.model_dump(mode="json"), {}), event)
