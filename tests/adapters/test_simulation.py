"""The simulators' shared machinery: fault dice, the record book and the control routes."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from pydantic import ValidationError

from adapters.simulation import Fault, FaultConfig, Record, Simulation
from tests.adapters.simulators import LOOPBACK


class Answers:
    """Fault answers that name the fault."""

    def outage(self) -> Response:
        return Response("outage", status_code=503)

    def error(self) -> Response:
        return Response("error", status_code=500)

    def rate_limited(self, retry_after_s: int) -> Response:
        return Response("limited", status_code=429, headers={"Retry-After": str(retry_after_s)})


def test_fault_rates_are_bounded():
    """Rates outside 0..1 and unknown settings are refused."""
    with pytest.raises(ValidationError):
        FaultConfig(error_rate=1.5)
    with pytest.raises(ValidationError):
        FaultConfig.model_validate({"chaos": True})


def test_the_dice_follow_the_rates_and_the_seed():
    """With a seed the draws repeat; their shares follow the configured rates."""
    config = FaultConfig(error_rate=0.2, rate_limit_rate=0.1, timeout_rate=0.1, seed=7)
    first = [Simulation("x", config).draw() for _ in range(1)]
    sim = Simulation("x", config)
    draws = [sim.draw() for _ in range(2000)]
    assert Simulation("x", config).draw() == first[0]
    share = {fault: draws.count(fault) / len(draws) for fault in Fault}
    assert 0.15 < share[Fault.ERROR] < 0.25
    assert 0.06 < share[Fault.RATE_LIMIT] < 0.14
    assert 0.06 < share[Fault.TIMEOUT] < 0.14
    assert share[Fault.OUTAGE] == 0


def test_an_outage_wins_over_everything():
    """While the outage is on every call is an outage."""
    sim = Simulation("x", FaultConfig(outage=True))
    assert {sim.draw() for _ in range(20)} == {Fault.OUTAGE}


def test_guard_answers_faults_without_handling_and_delays_timeouts():
    """Error faults never reach the handler; a timeout handles, then holds the answer."""
    handled: list[str] = []

    async def handle() -> Response:
        handled.append("yes")
        return Response("done")

    sim = Simulation("x", FaultConfig(error_rate=1.0))
    assert asyncio.run(sim.guard(Answers(), handle)).status_code == 500
    assert handled == []
    sim.set_faults(FaultConfig(timeout_rate=1.0, timeout_delay_s=0.05))
    assert asyncio.run(sim.guard(Answers(), handle)).body == b"done"
    assert handled == ["yes"]


def test_the_record_book_counts_records_and_receipts():
    """A second record under one key counts up; a replay counts a receipt only."""
    sim = Simulation("x")
    sim.record("304", Record("k1", "EP-1", "REPORTED", "R-1"))
    sim.received_again("304", "k1")
    sim.record("304", Record("k2", "EP-1", "FOUND", "R-2"))
    sim.record("304", Record("k2", "EP-1", "FOUND", "R-2"))
    book = sim.records()["304"]
    assert [(r["idempotency_key"], r["times_recorded"], r["times_received"]) for r in book] == [
        ("k1", 1, 2),
        ("k2", 2, 2),
    ]


def test_control_routes_switch_faults_show_records_and_reset():
    """GET/PUT /_control/faults, GET /_control/records and POST /_control/reset."""
    sim = Simulation("x")
    cleared: list[bool] = []
    sim.on_reset(lambda: cleared.append(True))
    app = FastAPI()
    app.include_router(sim.control_router())
    http = TestClient(app, client=LOOPBACK)
    assert http.get("/_control/faults").json()["error_rate"] == 0.0
    assert http.put("/_control/faults", json={"error_rate": 0.5, "seed": 1}).status_code == 200
    assert sim.faults.error_rate == 0.5
    assert http.put("/_control/faults", json={"error_rate": 2}).status_code == 422
    sim.record("304", Record("k", "EP", "REPORTED", "R"))
    assert http.get("/_control/records").json()["304"][0]["idempotency_key"] == "k"
    assert http.post("/_control/reset").status_code == 204
    assert http.get("/_control/records").json() == {}
    assert cleared == [True]


def test_guard_answers_a_rejection_only_where_the_call_has_one():
    """A drawn rejection answers the call's permanent refusal; a call without one is handled."""
    handled: list[str] = []

    async def handle() -> Response:
        handled.append("yes")
        return Response("done")

    async def refuse() -> Response:
        return Response("refused", status_code=422)

    sim = Simulation("x", FaultConfig(reject_rate=1.0))
    assert asyncio.run(sim.guard(Answers(), handle, reject=refuse)).status_code == 422
    assert handled == []
    assert asyncio.run(sim.guard(Answers(), handle)).body == b"done"
    assert handled == ["yes"]


def test_a_reject_rate_leaves_the_other_faults_draws_unchanged():
    """Rejection is drawn last: with the same seed, the other faults fall where they did."""
    rates = {"error_rate": 0.2, "rate_limit_rate": 0.1, "timeout_rate": 0.1, "seed": 3}
    before, after = Simulation("x", FaultConfig(**rates)), Simulation("x", FaultConfig(**rates))
    after.set_faults(FaultConfig(**rates, reject_rate=0.3))
    pairs = [(before.draw(), after.draw()) for _ in range(500)]
    assert all(b == a for b, a in pairs if b is not Fault.NONE)
    rejected = [a for b, a in pairs if a is Fault.REJECT]
    assert rejected and all(b is Fault.NONE for b, a in pairs if a is Fault.REJECT)


@pytest.mark.parametrize("system", ["mosaic", "fwi", "protocol"])
def test_control_routes_answer_only_this_machine(system: str) -> None:
    """From another address every control route is 403 and changes nothing; the API still runs."""
    app = importlib.import_module(f"adapters.{system}.simulator").create_app()
    remote = TestClient(app, client=("192.0.2.10", 40000))
    calls = [
        ("GET", "/_control/faults", None),
        ("PUT", "/_control/faults", {"outage": True}),
        ("GET", "/_control/records", None),
        ("POST", "/_control/reset", None),
    ]
    if system == "mosaic":
        calls.append(("POST", "/_control/revoke-tokens", None))
    for method, path, body in calls:
        assert remote.request(method, path, json=body).status_code == 403, path
    assert app.state.simulation.faults.outage is False
    local = TestClient(app, client=LOOPBACK)
    assert local.get("/_control/faults").status_code == 200
    assert TestClient(app, client=("::1", 40000)).get("/_control/records").status_code == 200
