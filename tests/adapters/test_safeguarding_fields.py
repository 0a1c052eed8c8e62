"""Role, return-interview owner and condition in every payload, from police fixture to council.

Each test starts from an inbound fixture, maps it as ingest does, builds the delivery of each
council told exactly as the worker does (`gateway.delivery.request.build`), and reads what
each case system's payload says, in that system's own codes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters import compact, fwi, merlin, mosaic, protocol, xml
from adapters.base import DeliveryRequest
from gateway.canonical import EpisodeEvent
from gateway.delivery.outbox import Claim
from gateway.delivery.request import build
from tests.contract.canonical_cases import CASES

ADAPTERS = {"mosaic": mosaic.ADAPTER, "fwi": fwi.ADAPTER, "protocol": protocol.ADAPTER}
ROOT = Path(__file__).resolve().parents[2]
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def fixture_event(source: str, name: str) -> EpisodeEvent:
    """The last event a valid inbound fixture maps to."""
    adapter = {"merlin": merlin.ADAPTER, "compact": compact.ADAPTER}[source]
    body = (ROOT / "adapters" / source / "fixtures" / "valid" / f"{name}.xml").read_bytes()
    return adapter.to_events(adapter.parse(body))[-1]


def delivery(event: EpisodeEvent, council: str, system: str) -> DeliveryRequest:
    """The renderer's input for `council`, built as the delivery worker builds it."""
    claim = Claim(
        delivery_id=f"dlv-{council}",
        council=council,
        system=system,
        episode_id="EP-000042",
        event_id="EV-1",
        seq=1,
        idempotency_key=f"key-{council}",
        attempt=1,
        budget_used=1,
        created_at=datetime(2024, 6, 1, tzinfo=UTC),
        canonical_event=event.model_dump(mode="json"),
        episode_state={},
        flags=[],
    )
    return build(claim)


def said(system: str, body: bytes) -> dict[str, Any]:
    """What a payload says of role, interview owner, CP plan and condition (its own codes)."""
    if system == "mosaic":
        episode = json.loads(body)["episode"]
        names = ("councilRole", "returnInterviewOwnerLaCode", "childProtectionPlan")
        return dict(zip(("role", "owner", "cp_plan"), (episode[n] for n in names), strict=True))
    root = xml.parse(body).root
    ns = root.nsmap[None]
    names = {
        "fwi": ("CouncilRole", "ReturnInterviewOwnerLA", "ChildProtectionPlan", "FoundCondition"),
        "protocol": ("Role", "RHIOwnerLA", "CPPlan", "FoundCondition"),
    }[system]
    (episode,) = root.iterfind(f".//{{{ns}}}Episode")
    texts = [episode.findtext(f"{{{ns}}}{name}") for name in names]
    return dict(zip(("role", "owner", "cp_plan", "condition"), texts, strict=True))


def condition(system: str, body: bytes) -> str | None:
    """The condition a payload sends, in its own code."""
    if system == "mosaic":
        value: str | None = json.loads(body)["episode"]["foundCondition"]
        return value
    return said(system, body)["condition"]


def code(value: object) -> str:
    """A code compared across systems: `SAFE_AND_WELL`, `SafeAndWell` → `safeandwell`."""
    return str(value).replace("_", "").lower()


@pytest.mark.parametrize("system", sorted(ADAPTERS))
def test_host_and_responsible_are_each_told_their_own_role(system: str) -> None:
    """One looked-after child (docs/police-it.md's example): 304 hears Host, 830 Responsible."""
    event = fixture_event("merlin", "spec_example")
    roles = {}
    for council in ("304", "830"):
        body = ADAPTERS[system].render(delivery(event, council, system)).body
        roles[council] = code(said(system, body)["role"])
    assert roles == {"304": "host", "830": "responsible"}


def test_the_host_hears_host_in_fwi_and_the_responsible_hears_responsible_in_mosaic() -> None:
    """The brief's own example, for one episode: each council's system says its own role."""
    event = fixture_event("merlin", "spec_example")
    host = fwi.ADAPTER.render(delivery(event, "304", "fwi")).body
    responsible = mosaic.ADAPTER.render(delivery(event, "830", "mosaic")).body
    assert said("fwi", host)["role"] == "Host"
    assert said("mosaic", responsible)["role"] == "RESPONSIBLE"


@pytest.mark.parametrize("system", sorted(ADAPTERS))
def test_a_looked_after_childs_interview_belongs_to_the_responsible_authority(
    system: str,
) -> None:
    """Host and responsible alike are told the placing authority (830) owes the interview."""
    event = fixture_event("merlin", "spec_example")
    for council in ("304", "830"):
        body = ADAPTERS[system].render(delivery(event, council, system)).body
        assert said(system, body)["owner"] == "830", council


@pytest.mark.parametrize("system", sorted(ADAPTERS))
def test_a_child_not_looked_after_is_the_home_councils_with_its_interview(system: str) -> None:
    """Not looked after: one council, told as Home, and it owes the interview itself."""
    event = fixture_event("merlin", "not_looked_after_minimal")
    (council,) = [code for code, _ in event.episode.council_roles()]
    body = ADAPTERS[system].render(delivery(event, council, system)).body
    facts = said(system, body)
    assert (code(facts["role"]), facts["owner"]) == ("home", council)


@pytest.mark.parametrize("system", sorted(ADAPTERS))
def test_compact_not_safe_and_well_without_injuries_reaches_every_council_as_concerns(
    system: str,
) -> None:
    """SafeAndWell N, no Injuries (Slough host, Reading responsible): CONCERNS, never not known."""
    event = fixture_event("compact", "grade_absent_located")
    told = [council for council, _ in event.episode.council_roles()]
    assert told == ["871", "870"]
    for council in told:
        body = ADAPTERS[system].render(delivery(event, council, system)).body
        assert code(condition(system, body)) == "concerns", council


@pytest.mark.parametrize("system", sorted(ADAPTERS))
@pytest.mark.parametrize(
    ("case", "on_plan"),
    [
        ("reported_child_protection_plan", True),  # the care status's flag
        ("found", True),  # the coded vulnerability alone
        ("reported_not_looked_after", False),
    ],
)
def test_the_child_protection_plan_is_sent_when_either_source_field_says_so(
    system: str, case: str, on_plan: bool
) -> None:
    """The plan flag or the `child_protection_plan` vulnerability: the payload says yes."""
    facts = said(system, ADAPTERS[system].render(CASES[case]).body)
    assert code(facts["cp_plan"]) in ({"true", "y"} if on_plan else {"false", "n"})


@pytest.mark.parametrize(
    ("system", "path"),
    [("fwi", "Request/Debrief/CrimeDisclosed"), ("protocol", "Notification/Debrief/Crime")],
)
def test_crime_not_known_is_an_xsi_nil_element_never_no(system: str, path: str) -> None:
    """The XML systems keep the element and mark it nil; harm disclosed stays yes."""
    root = xml.parse(ADAPTERS[system].render(CASES["debriefed_crime_not_known"]).body).root
    ns = root.nsmap[None]
    element = root.find("/".join(f"{{{ns}}}{step}" for step in path.split("/")))
    assert element is not None
    assert element.get(f"{{{XSI}}}nil") == "true"
    assert element.text is None


def test_crime_not_known_is_null_in_mosaic() -> None:
    """Mosaic's `crimeDisclosed` is null (not false) when the police could not say."""
    debrief = json.loads(mosaic.ADAPTER.render(CASES["debriefed_crime_not_known"]).body)["debrief"]
    assert (debrief["harmDisclosed"], debrief["crimeDisclosed"]) == (True, None)
