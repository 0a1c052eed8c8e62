"""From police export to each council's case system: role, interview owner, plan, condition.

Two COMPACT children reach all three simulators through the real ingest and delivery worker:
a looked-after child placed in Derby (831, Mosaic, host) by Derbyshire (830, FWi, responsible),
and a child at home in Slough (871, Protocol, home). Both are then located "not safe and well"
with no injuries described, which every council must receive as concerns.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gateway.api.deps import Services
from gateway.delivery.worker import Worker
from tests.conftest import KeyRing
from tests.gateway import safeguarding_messages as messages
from tests.gateway.delivery import Clock, drain, post, records, statuses


def facts(book: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(event, role, interview owner, CP plan, condition) of each recorded event, in order."""
    return [
        (
            r["event_type"],
            r["council_role"],
            r["return_interview_owner"],
            r["child_protection_plan"],
            r["found_condition"],
        )
        for r in book
    ]


def test_every_case_system_records_its_councils_role_and_concerns(
    client: TestClient,
    services: Services,
    worker: Worker,
    clock: Clock,
    sims: TestClient,
    keyring: KeyRing,
) -> None:
    """Host Mosaic, responsible FWi and home Protocol each record their own role and concerns."""
    police = keyring.headers("police", force="30")
    for body in (messages.looked_after(), messages.at_home()):
        post(client, "compact", body, police)
    for body in (messages.looked_after(located=True), messages.at_home(located=True)):
        post(client, "compact", body, police)
    drain(worker, clock, services.engine)
    assert set(statuses(services.engine).values()) == {"delivered"}
    assert facts(records(sims, "mosaic")["831"]) == [
        ("REPORTED", "HOST", "830", True, None),
        ("FOUND", "HOST", "830", True, "CONCERNS"),
    ]
    assert facts(records(sims, "fwi")["830"]) == [
        ("Reported", "Responsible", "830", True, None),
        ("Found", "Responsible", "830", True, "Concerns"),
    ]
    assert facts(records(sims, "protocol")["871"]) == [
        ("NEW", "HOME", "871", False, None),
        ("FOUND", "HOME", "871", False, "CONCERNS"),
    ]
