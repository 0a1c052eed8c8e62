"""COMPACT council names that match no council: accepted, held, resolved later, delivered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from adapters.compact import councils
from gateway.canonical import CouncilRole, utc_now
from gateway.delivery import outbox, request
from gateway.delivery.deadlines import Deadlines
from gateway.delivery.replay import replay_unroutable
from gateway.routing import RoutingTable
from gateway.store.locks import Level
from gateway.store.schema import deliveries, episodes, events, messages, unroutable
from gateway.store.work import unit_of_work
from tests.gateway.delivery import ids_of, post
from tests.gateway.unresolved_messages import UNKNOWN, export, lives_in, looked_after, table_with

PLACED_BY_UNKNOWN = looked_after(UNKNOWN)  # a looked-after child placed in Derby (831)


def host_codes(delivery: Any) -> list[str]:
    """The codes of the gateway's own host flags a delivery carries (the packs' left out)."""
    return [f["code"] for f in delivery.flags if f["code"].startswith("responsible_authority_")]


def waiting_rows(engine: Engine) -> list[Any]:
    """The unroutable rows, oldest first."""
    with engine.connect() as connection:
        return connection.execute(select(unroutable).order_by(unroutable.c.id)).all()


def deliveries_to(engine: Engine, council: str) -> list[Any]:
    """A council's deliveries in its order, with the number of the event each carries."""
    with engine.connect() as connection:
        return connection.execute(
            select(deliveries, events.c.seq.label("event_seq"))
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.council == council)
            .order_by(deliveries.c.seq)
        ).all()


def state(engine: Engine, episode_id: str) -> dict[str, Any]:
    """The episode's stored state."""
    with engine.connect() as connection:
        row = connection.execute(select(episodes.c.state).where(episodes.c.id == episode_id))
        return dict(row.scalar_one())


def replay(engine: Engine, routing: RoutingTable, names: councils.NameTable) -> list[str]:
    """`replay_unroutable` with a names table, as `gateway replay` runs it."""
    with unit_of_work(engine, audits=True, locks=(Level.EPISODE,)) as connection:
        return replay_unroutable(
            connection,
            routing,
            actor="operator:test",
            now=utc_now(),
            deadlines=Deadlines(),
            names=names,
        )


def test_an_unknown_placing_authority_is_accepted_stored_and_the_host_told(
    client: TestClient, engine: Engine, derbys: dict[str, str], operator: dict[str, str]
) -> None:
    """202: the host (Derby) is told and warned; the name waits verbatim, listed and counted."""
    receipt = post(client, "compact", export(1, PLACED_BY_UNKNOWN), derbys)
    assert receipt["status"] == "accepted"
    assert [(d["council"], d["status"]) for d in receipt["deliveries"]] == [("831", "pending")]
    assert receipt["unresolved_councils"] == [UNKNOWN]
    assert receipt["unroutable_councils"] == []
    assert [w["code"] for w in receipt["warnings"]] == ["council_name_unresolved"]
    assert UNKNOWN in receipt["warnings"][0]["message"]
    with engine.connect() as connection:
        assert connection.execute(select(messages.c.body)).scalar_one()
        assert len(connection.execute(select(events)).all()) == 1
    (host,) = deliveries_to(engine, "831")
    assert host.council_role == "host"
    assert host_codes(host) == ["responsible_authority_not_connected"]
    (flag,) = [f for f in host.flags if f["code"] == "responsible_authority_not_connected"]
    assert UNKNOWN in flag["reason"]
    (row,) = waiting_rows(engine)
    assert (row.council, row.name, row.role) == (None, UNKNOWN, "responsible")
    listed = client.get("/v1/unroutable", headers=operator).json()["items"]
    assert [(i["kind"], i["name"], i["role"], i["episode_id"]) for i in listed] == [
        ("unresolved_name", UNKNOWN, "responsible", receipt["episode_id"])
    ]
    metrics = client.get("/metrics").text
    assert 'gateway_unroutable_waiting{kind="unresolved_name"} 1.0' in metrics
    assert 'gateway_unroutable_waiting{kind="not_onboarded"} 0.0' in metrics
    episode = client.get(f"/v1/episodes/{receipt['episode_id']}", headers=operator).json()
    assert episode["unresolved_councils"] == [{"name": UNKNOWN, "role": "responsible"}]
    assert episode["responsible_council"] is None


def test_the_flag_is_raised_once_per_episode(
    client: TestClient, engine: Engine, derbys: dict[str, str]
) -> None:
    """A second export of the case tells the host again, without the flag a second time."""
    post(client, "compact", export(1, PLACED_BY_UNKNOWN), derbys)
    post(client, "compact", export(2, PLACED_BY_UNKNOWN), derbys)
    told = deliveries_to(engine, "831")
    assert [host_codes(d) for d in told] == [["responsible_authority_not_connected"], []]


def test_replay_delivers_what_waited_once_the_name_resolves(
    client: TestClient, engine: Engine, derbys: dict[str, str], services: Any
) -> None:
    """After a variant is added, the waiting events reach Derbyshire in order, as responsible."""
    first = post(client, "compact", export(1, PLACED_BY_UNKNOWN), derbys)
    post(client, "compact", export(2, PLACED_BY_UNKNOWN), derbys)
    assert replay(engine, services.routing, councils.TABLE) == []  # nothing resolves yet
    created = replay(engine, services.routing, table_with("830", "Borsetshire"))
    told = deliveries_to(engine, "830")
    assert [d.id for d in told] == created
    assert [(d.seq, d.event_seq, d.council_role) for d in told] == [
        (1, 1, "responsible"),
        (2, 2, "responsible"),
    ]
    assert [(r.council, r.resolved_at is not None) for r in waiting_rows(engine)] == [
        ("830", True),
        ("830", True),
    ]
    after = state(engine, first["episode_id"])
    assert {"council": "830", "role": "responsible", "name": UNKNOWN} in after["councils"]
    assert after["unresolved_councils"] == []
    assert after["responsible_council"] == after["return_interview_owner"] == "830"
    with engine.connect() as connection:
        column = connection.execute(
            select(episodes.c.responsible_council).where(episodes.c.id == first["episode_id"])
        ).scalar_one()
    assert column == "830"
    assert 'gateway_unroutable_waiting{kind="unresolved_name"} 0.0' in client.get("/metrics").text


def test_a_later_message_with_the_resolved_name_reaches_the_council_directly(
    client: TestClient, engine: Engine, derbys: dict[str, str], services: Any
) -> None:
    """The episode remembers what the name means: export 2 goes to Derbyshire, nothing waits."""
    post(client, "compact", export(1, PLACED_BY_UNKNOWN), derbys)
    replay(engine, services.routing, table_with("830", "Borsetshire"))
    receipt = post(client, "compact", export(2, PLACED_BY_UNKNOWN), derbys)
    assert sorted(ids_of(receipt)) == ["830", "831"]
    assert receipt["unresolved_councils"] == []
    assert [(d.event_seq, d.council_role) for d in deliveries_to(engine, "830")] == [
        (1, "responsible"),
        (2, "responsible"),
    ]
    assert len(waiting_rows(engine)) == 1


def test_a_name_resolved_by_a_restarted_gateway_keeps_the_waiting_events_first(
    client: TestClient, engine: Engine, derbys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restarted with the variant, before any replay: events 1 and 2 go before event 3."""
    post(client, "compact", export(1, PLACED_BY_UNKNOWN), derbys)
    post(client, "compact", export(2, PLACED_BY_UNKNOWN), derbys)
    monkeypatch.setattr(councils, "TABLE", table_with("830", "Borsetshire"))
    receipt = post(client, "compact", export(3, PLACED_BY_UNKNOWN), derbys)
    assert receipt["unresolved_councils"] == []
    assert [(d.seq, d.event_seq, d.council_role) for d in deliveries_to(engine, "830")] == [
        (1, 1, "responsible"),
        (2, 2, "responsible"),
        (3, 3, "responsible"),
    ]
    assert all(r.resolved_at is not None for r in waiting_rows(engine))


def test_the_delivery_of_a_resolved_name_is_rendered_in_the_role_the_name_had(
    client: TestClient, engine: Engine, derbys: dict[str, str], services: Any
) -> None:
    """Placed in an unknown council by Derbyshire: once it resolves to Derby, Derby is host."""
    receipt = post(
        client, "compact", export(1, looked_after("Derbyshire County Council", UNKNOWN)), derbys
    )
    assert [d["council"] for d in receipt["deliveries"]] == ["830"]
    replay(engine, services.routing, table_with("831", "Borsetshire"))
    (claim,) = outbox.claim(
        engine,
        capacity={"831": 1},
        limit=1,
        now=utc_now(),
        lease=lambda _council: timedelta(minutes=1),
        actor="worker:test",
    )
    built = request.build(claim)
    assert built.event.episode.role_of("831") is None  # the event names no 831
    assert built.council_role is CouncilRole.HOST
    assert built.return_interview_owner == "830"
    assert state(engine, receipt["episode_id"])["home_council"] == "831"


def test_a_name_that_resolves_to_a_council_already_told_is_not_told_twice(
    client: TestClient, engine: Engine, derbys: dict[str, str], services: Any
) -> None:
    """Placed in Derby by 'Derby Town': once resolved to 831, Derby is responsible, told once."""
    receipt = post(client, "compact", export(1, looked_after("Derby Town Hall")), derbys)
    assert replay(engine, services.routing, table_with("831", "Derby Town Hall")) == []
    assert len(deliveries_to(engine, "831")) == 1
    (row,) = waiting_rows(engine)
    assert (row.council, row.resolved_at is not None) == (None, True)
    councils_told = state(engine, receipt["episode_id"])["councils"]
    assert councils_told == [{"council": "831", "role": "responsible", "name": "Derby Town Hall"}]


def test_a_name_resolved_to_a_council_not_onboarded_waits_for_it_by_code(
    client: TestClient, engine: Engine, derbys: dict[str, str], operator: dict[str, str]
) -> None:
    """Resolved to Nottinghamshire (not onboarded): the row waits as `not_onboarded` for 891."""
    post(client, "compact", export(1, PLACED_BY_UNKNOWN), derbys)
    with unit_of_work(engine, audits=True, locks=(Level.EPISODE,)) as connection:
        from gateway.delivery import unroutable as unroutables

        done = unroutables.resolve_names(
            connection, table_with("891", "Borsetshire"), now=utc_now(), actor="operator:test"
        )
    assert (done.resolved, done.merged, done.unresolved) == (1, 0, 0)
    (item,) = client.get("/v1/unroutable", headers=operator).json()["items"]
    assert (item["kind"], item["council"], item["name"], item["role"]) == (
        "not_onboarded",
        "891",
        UNKNOWN,
        "responsible",
    )


def test_an_unknown_home_council_tells_nobody_and_says_so(
    client: TestClient, engine: Engine, derbys: dict[str, str], operator: dict[str, str]
) -> None:
    """A child not looked after, living in an unknown council: stored, `no_council_told`."""
    receipt = post(client, "compact", export(1, lives_in(UNKNOWN)), derbys)
    assert receipt["deliveries"] == []
    assert [w["code"] for w in receipt["warnings"]] == [
        "council_name_unresolved",
        "no_council_told",
    ]
    (row,) = waiting_rows(engine)
    assert (row.name, row.role) == (UNKNOWN, "home")
    episode = client.get(f"/v1/episodes/{receipt['episode_id']}", headers=operator)
    assert episode.status_code == 200
    assert episode.json()["home_council"] is None


def test_a_looked_after_child_with_no_placing_authority_warns_and_flags_the_host(
    client: TestClient, engine: Engine, derbys: dict[str, str]
) -> None:
    """No PlacingAuthority: the host is told with `responsible_authority_unknown`, once."""
    receipt = post(client, "compact", export(1, looked_after(None)), derbys)
    assert [w["code"] for w in receipt["warnings"]] == ["responsible_authority_unknown"]
    assert [d["council"] for d in receipt["deliveries"]] == ["831"]
    again = post(client, "compact", export(2, looked_after(None)), derbys)
    assert [w["code"] for w in again["warnings"]] == ["responsible_authority_unknown"]
    told = deliveries_to(engine, "831")
    assert [d.council_role for d in told] == ["host", "host"]
    assert [host_codes(d) for d in told] == [["responsible_authority_unknown"], []]
    assert waiting_rows(engine) == []


def test_a_resend_answers_the_original_receipt_with_its_warnings(
    client: TestClient, derbys: dict[str, str]
) -> None:
    """The same bytes again: 200, the receipt as first given, warnings and names included."""
    body = export(1, PLACED_BY_UNKNOWN)
    first = post(client, "compact", body, derbys)
    again = client.post(
        "/v1/inbound/compact",
        content=body,
        headers={"Content-Type": "application/xml", **derbys},
    )
    assert again.status_code == 200
    assert {**again.json(), "status": "accepted"} == first
