"""The Protocol client against the Protocol simulator: the inbox, idempotency and async acks."""

from __future__ import annotations

import pytest
from lxml import etree

from adapters.protocol import client, renderer, simulator
from gateway.errors import PermanentDelivery, RetryableDelivery
from tests.adapters.simulators import mounted, sim_target
from tests.contract.canonical_cases import CASES

INBOX = "/sim/protocol/317/import/inbox"


class Protocol:
    """A mounted Protocol simulator on a fake clock, and a client dropping canonical cases."""

    def __init__(self, ack_delay_s: float = 0.5) -> None:
        self.now = 100.0
        self.http = mounted(
            "protocol", simulator.create_app(ack_delay_s=ack_delay_s, clock=lambda: self.now)
        )
        self.target = sim_target("protocol", "317")

    def send(self, case: str, **changes):
        """Drop a canonical case (with optional changes) into council 317's inbox."""
        request = CASES[case].model_copy(update=changes)
        return client.send(request, renderer.render(request), self.target, self.http)

    def acks(self, cursor: str | None = None):
        """Poll the acks after `cursor`."""
        return client.poll_acks(self.target, cursor, self.http)


@pytest.fixture
def protocol() -> Protocol:
    """A fresh Protocol simulator."""
    return Protocol()


def test_a_new_file_is_received_and_acknowledged_later(protocol):
    """201 first; the ack appears only after the processing delay, ACCEPTED with refs."""
    result = protocol.send("reported_not_looked_after")
    assert (result.http_status, result.acknowledged) == (201, False)
    assert protocol.acks() == ([], "0")
    protocol.now += 0.6
    [ack], cursor = protocol.acks()
    assert (
        ack.target_reference == result.target_reference == "317_key-reported_not_looked_after.xml"
    )
    assert ack.accepted and ack.reference == "PRT-000001"
    assert ack.person_id and ack.person_id.startswith("PRT-P-")
    assert protocol.acks(cursor) == ([], cursor)


def test_the_same_file_again_is_200_and_recorded_once(protocol):
    """Same name and bytes answer 200; the record book still holds one record."""
    protocol.send("found")
    assert protocol.send("found").http_status == 200
    [record] = protocol.http.get("/sim/protocol/_control/records").json()["317"]
    assert (record["idempotency_key"], record["event_type"]) == ("key-found", "FOUND")
    assert (record["times_recorded"], record["times_received"]) == (1, 2)


def test_the_same_name_with_other_bytes_is_a_conflict(protocol):
    """409 is permanent."""
    protocol.send("found")
    with pytest.raises(PermanentDelivery, match="409"):
        protocol.send("found", cin_factors=["10A"], alerts=CASES["updated_with_alerts"].alerts)


def test_an_invalid_file_is_rejected_with_its_errors(protocol):
    """A file failing the XSD is received (201) but its ack is REJECTED with the errors."""
    answer = protocol.http.put(
        f"{INBOX}/317_bad-file.xml",
        content=b"<NotAnImport/>",
        headers={"X-Api-Key": "k", "Content-Type": "application/xml"},
    )
    assert answer.status_code == 201
    protocol.now += 1
    [ack], _ = protocol.acks()
    assert not ack.accepted and ack.errors and ack.reference is None


@pytest.mark.parametrize(
    ("name", "headers", "size", "status"),
    [
        ("317_k.xml", {}, 10, 401),
        ("317_k.xml", {"X-Api-Key": "k"}, 2 * 1024 * 1024 + 1, 413),
        ("304_k.xml", {"X-Api-Key": "k"}, 10, 400),
        ("317_k.txt", {"X-Api-Key": "k"}, 10, 400),
    ],
)
def test_the_inbox_refuses_what_protocol_md_refuses(protocol, name, headers, size, status):
    """No key 401; over 2 MiB 413; a name not `<this LA>_<key>.xml` 400."""
    answer = protocol.http.put(
        f"{INBOX}/{name}",
        content=b"x" * size,
        headers={"Content-Type": "application/xml", **headers},
    )
    assert answer.status_code == status


def test_acks_come_oldest_first_at_most_100_a_page(protocol):
    """Pages of 100 with a cursor that moves on."""
    for number in range(105):
        protocol.send("found", idempotency_key=f"key-{number:03d}")
    protocol.now += 1
    page, cursor = protocol.acks()
    assert len(page) == 100 and page[0].target_reference == "317_key-000.xml"
    rest, _ = protocol.acks(cursor)
    assert [a.target_reference for a in rest] == [f"317_key-{n}.xml" for n in range(100, 105)]


def test_the_ack_feed_needs_the_key(protocol):
    """GET /import/acks without X-Api-Key is 401."""
    assert protocol.http.get("/sim/protocol/317/import/acks").status_code == 401


@pytest.mark.parametrize(
    "faults", [{"outage": True}, {"error_rate": 1.0}, {"rate_limit_rate": 1.0, "retry_after_s": 3}]
)
def test_injected_faults_are_503_and_retryable(protocol, faults):
    """Protocol only ever says 503; nothing is received."""
    protocol.http.put("/sim/protocol/_control/faults", json=faults).raise_for_status()
    with pytest.raises(RetryableDelivery) as caught:
        protocol.send("found")
    assert caught.value.http_status == 503
    assert protocol.http.get("/sim/protocol/_control/records").json() == {}


def test_the_safeguarding_facts_are_recorded(protocol):
    """Protocol keeps the council's role, the interview's owner, the CP plan and the condition."""
    protocol.send("reported_child_protection_plan")
    protocol.send("found_deceased")
    reported, found = protocol.http.get("/sim/protocol/_control/records").json()["317"]
    assert (reported["council_role"], reported["return_interview_owner"]) == ("HOME", "304")
    assert (reported["child_protection_plan"], reported["found_condition"]) == (True, None)
    assert found["found_condition"] == "DECEASED"


def test_a_debrief_with_crime_not_known_is_accepted(protocol):
    """`Crime xsi:nil="true"` is valid: the file is ACCEPTED."""
    protocol.send("debriefed_crime_not_known")
    protocol.now += 1
    [ack], _ = protocol.acks()
    assert ack.accepted


@pytest.mark.parametrize("element", ["CPPlan", "Role"])
def test_a_file_without_a_safeguarding_element_is_rejected(protocol, element):
    """CPPlan and Role are required: a file without one is acknowledged REJECTED."""
    root = etree.fromstring(renderer.render(CASES["found"]).body)
    (gone,) = root.iterfind(f".//{{{renderer.NS}}}Episode/{{{renderer.NS}}}{element}")
    gone.getparent().remove(gone)
    answer = protocol.http.put(
        f"{INBOX}/317_without-{element}.xml",
        content=etree.tostring(root),
        headers={"X-Api-Key": "k", "Content-Type": "application/xml"},
    )
    assert answer.status_code == 201
    protocol.now += 1
    [ack], _ = protocol.acks()
    assert not ack.accepted
    assert any(element in error for error in ack.errors)
    assert protocol.http.get("/sim/protocol/_control/records").json() == {}
