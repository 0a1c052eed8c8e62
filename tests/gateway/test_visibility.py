"""One visibility rule: a council sees an episode only if it was sent something about it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gateway import visibility
from gateway.canonical import utc_now
from gateway.delivery.outbox import save_case_record
from gateway.keys import Principal, Role
from gateway.store.locks import Level
from gateway.store.schema import deliveries, episodes
from gateway.store.work import unit_of_work
from tests.conftest import KeyRing
from tests.gateway.delivery import post
from tests.messages import merlin
from tests.ui.conftest import sign_in

# A child who is not looked after, whose care status still names Derbyshire (830): routing
# tells Brent (304), the home council, alone.
NOT_LOOKED_AFTER = merlin(("<LookedAfter>true<", "<LookedAfter>false<"))


@pytest.fixture
def told_brent_only(client: TestClient, met: dict[str, str]) -> str:
    """The episode of NOT_LOOKED_AFTER; its one delivery is Brent's."""
    receipt = post(client, "merlin", NOT_LOOKED_AFTER, met)
    assert [d["council"] for d in receipt["deliveries"]] == ["304"]
    return str(receipt["episode_id"])


def test_a_council_named_on_the_episode_but_not_told_gets_404(
    client: TestClient, keyring: KeyRing, told_brent_only: str
) -> None:
    """Derbyshire's key reads neither the episode nor its deliveries; Brent's reads both."""
    path = f"/v1/episodes/{told_brent_only}"
    derbyshire = keyring.headers("council", council="830")
    assert client.get(path, headers=derbyshire).status_code == 404
    listed = client.get(
        "/v1/deliveries", params={"episode_id": told_brent_only}, headers=derbyshire
    )
    assert listed.status_code == 200 and listed.json()["items"] == []
    assert client.get(path, headers=keyring.headers("council", council="304")).status_code == 200


def test_a_council_named_on_the_episode_but_not_told_does_not_see_it_on_the_page(
    client: TestClient, keyring: KeyRing, told_brent_only: str
) -> None:
    """Derbyshire's open-episodes page neither lists the child nor names it."""
    assert sign_in(client, keyring.issue("council", council="830")).status_code == 303
    page = client.get("/ui/episodes")
    assert page.status_code == 200
    assert told_brent_only not in page.text and "Testchild" not in page.text


def test_a_councils_key_sees_only_its_own_case_records(
    client: TestClient, engine: Engine, met: dict[str, str], keyring: KeyRing
) -> None:
    """Brent's and Derbyshire's case system ids are each their own; an operator sees both."""
    episode_id = post(client, "merlin", merlin(), met)["episode_id"]
    with unit_of_work(engine, locks=(Level.CASE_RECORD,)) as connection:
        for council, system, person in (("304", "mosaic", "MOS-1"), ("830", "fwi", "FWI-1")):
            save_case_record(
                connection,
                episode_id,
                council,
                system,
                person_id=person,
                case_episode_id=f"{system}-episode",
                now=utc_now(),
            )
    path = f"/v1/episodes/{episode_id}"

    def records(headers: dict[str, str]) -> list[str]:
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, answer.text
        return [r["person_id"] for r in answer.json()["case_records"]]

    assert records(keyring.headers("council", council="304")) == ["MOS-1"]
    assert records(keyring.headers("council", council="830")) == ["FWI-1"]
    assert records(keyring.headers("operator")) == ["MOS-1", "FWI-1"]


@pytest.mark.parametrize(
    ("principal", "sees"),
    [
        (Principal(key_id="k", role=Role.COUNCIL, council="304"), True),
        (Principal(key_id="k", role=Role.COUNCIL, council="830"), False),
        (Principal(key_id="k", role=Role.OPERATOR), True),
        (Principal(key_id="k", role=Role.POLICE, force="01"), False),
    ],
)
def test_the_rule_in_sql_and_per_episode_agree(
    engine: Engine, told_brent_only: str, principal: Principal, sees: bool
) -> None:
    """The page's query condition and the API's check give the same answer for each caller."""
    with engine.connect() as connection:
        listed = connection.execute(
            select(episodes.c.id).where(visibility.episode_visible(principal))
        ).scalars()
        assert (told_brent_only in list(listed)) is sees
        assert visibility.may_see_episode(connection, principal, told_brent_only) is sees
        shown = connection.execute(
            visibility.deliveries_visible(select(deliveries.c.id), principal)
        ).all()
        assert bool(shown) is sees


def test_council_view_keeps_only_the_councils_own_records_and_flags() -> None:
    """A council's view drops other councils' case records and flags; an operator's keeps all."""
    view: dict[str, Any] = {
        "case_records": [{"council": "304", "person_id": "A"}, {"council": "830"}],
        "flags": [{"council": "830", "code": "x"}, {"council": "304", "code": "y"}],
        "status": "open",
    }
    brent = visibility.council_view(view, Principal(key_id="k", role=Role.COUNCIL, council="304"))
    assert brent == {
        "case_records": [{"council": "304", "person_id": "A"}],
        "flags": [{"council": "304", "code": "y"}],
        "status": "open",
    }
    assert visibility.council_view(view, Principal(key_id="k", role=Role.OPERATOR)) == view
