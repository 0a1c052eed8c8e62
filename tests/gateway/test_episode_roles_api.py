"""`GET /v1/episodes/{id}`: councils with their roles, interview owner, CP plan, found condition."""

from __future__ import annotations

from typing import Any, get_args

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from gateway.api.schemas import ConditionCode, CouncilRoleCode
from gateway.canonical import Condition, CouncilRole
from gateway.store.schema import episodes
from tests.conftest import KeyRing
from tests.gateway import safeguarding_messages as messages
from tests.messages import MERLIN_FOUND, merlin, new_id

XML = {"Content-Type": "application/xml"}


def submit(client: TestClient, source: str, body: bytes, headers: dict[str, str]) -> str:
    """POST a message; return the id of its episode."""
    response = client.post(f"/v1/inbound/{source}", content=body, headers={**XML, **headers})
    assert response.status_code == 202, response.text
    episode_id: str = response.json()["episode_id"]
    return episode_id


def episode(client: TestClient, episode_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """The canonical episode as the API shows it."""
    response = client.get(f"/v1/episodes/{episode_id}", headers=headers)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def test_a_looked_after_child_shows_host_and_responsible_and_the_interview_owner(
    client: TestClient, met: dict[str, str], operator: dict[str, str]
) -> None:
    """docs/police-it.md's example: 304 host, 830 responsible and owner; the condition if found."""
    episode_id = submit(client, "merlin", merlin(), met)
    view = episode(client, episode_id, operator)
    assert view["councils"] == [
        {"council": "304", "role": "host"},
        {"council": "830", "role": "responsible"},
    ]
    assert view["return_interview_owner"] == "830"
    assert (view["child_protection_plan"], view["found_condition"]) == (False, None)
    found = merlin(MERLIN_FOUND, message_id=new_id(), version=2, notification="FOUND")
    submit(client, "merlin", found, met)
    assert episode(client, episode_id, operator)["found_condition"] == "safe_and_well"


def test_a_child_at_home_shows_the_home_council_and_concerns_when_not_safe_and_well(
    client: TestClient, derbys: dict[str, str], operator: dict[str, str]
) -> None:
    """COMPACT, not looked after in Slough: 871 home and owner; SafeAndWell N alone: concerns."""
    episode_id = submit(client, "compact", messages.at_home(), derbys)
    view = episode(client, episode_id, operator)
    assert view["councils"] == [{"council": "871", "role": "home"}]
    assert view["return_interview_owner"] == "871"
    submit(client, "compact", messages.at_home(located=True), derbys)
    assert episode(client, episode_id, operator)["found_condition"] == "concerns"


def test_a_council_sees_every_council_told_with_its_role(
    client: TestClient, derbys: dict[str, str], keyring: KeyRing
) -> None:
    """The host's own key reads the responsible authority's role too (openapi.yaml)."""
    episode_id = submit(client, "compact", messages.looked_after(), derbys)
    view = episode(client, episode_id, keyring.headers("council", council="831"))
    assert view["councils"] == [
        {"council": "831", "role": "host"},
        {"council": "830", "role": "responsible"},
    ]
    assert (view["return_interview_owner"], view["child_protection_plan"]) == ("830", True)


def test_a_state_written_before_roles_were_kept_still_shows_them(
    client: TestClient, engine: Engine, met: dict[str, str], operator: dict[str, str]
) -> None:
    """The roles, owner and condition come from the latest event until the next rewrite."""
    episode_id = submit(client, "merlin", merlin(), met)
    expected = episode(client, episode_id, operator)
    with engine.begin() as connection:
        state = connection.execute(
            select(episodes.c.state).where(episodes.c.id == episode_id)
        ).scalar_one()
        older = {
            k: v
            for k, v in state.items()
            if k not in ("councils", "return_interview_owner", "found_condition")
        }
        connection.execute(update(episodes).where(episodes.c.id == episode_id).values(state=older))
    view = episode(client, episode_id, operator)
    for key in ("councils", "return_interview_owner", "found_condition"):
        assert view[key] == expected[key], key


def test_the_published_code_lists_are_the_canonical_ones() -> None:
    """The API's role and condition codes are exactly the canonical enums' values."""
    assert get_args(CouncilRoleCode) == tuple(CouncilRole)
    assert get_args(ConditionCode) == tuple(Condition)
