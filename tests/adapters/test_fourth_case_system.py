"""A fourth case system is its folder and one registry line, and nothing else.

`tests/adapters/minicase/` is a complete, minimal adapter folder defined in the test suite.
Every test here runs with the registry holding it, as the one line a new system adds to
`adapters/registry.py` would; nothing else in the gateway is edited. Each test fails if some
other place still lists the case systems: routing would refuse the name or miss its
credentials, the simulator would not be mounted, the API would refuse or not publish the name,
the golden refresh would skip it, or the worker could not deliver to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import mappings
from adapters import registry
from adapters.base import TargetConfig
from gateway import routing
from gateway.api.app import build_services, create_app, simulators_app
from gateway.api.deliveries import DeliveryFilters
from gateway.delivery.worker import Worker
from gateway.errors import ConfigurationError
from gateway.settings import Settings
from scripts import refresh_outbound_golden
from tests.adapters import minicase
from tests.adapters.simulators import LOOPBACK
from tests.conftest import AUDIT_KEY, KeyRing
from tests.contract.canonical_cases import CASES
from tests.contract.outbound import outbound_contract
from tests.messages import merlin

# The registry with minicase's one line added (`adapters/registry.py`'s OUTBOUND list).
OUTBOUND = registry.by_name(*registry.OUTBOUND.values(), minicase.ADAPTER)


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of this module, the contract suite's included, sees minicase registered."""
    monkeypatch.setattr(registry, "OUTBOUND", OUTBOUND)


TestMinicaseOutboundContract = outbound_contract(minicase.ADAPTER)

ROUTING = """\
councils:
  - code: "304"
    name: London Borough of Brent
    system: minicase
    base_url: https://minicase.example.org/304
    policy: brent
    credentials_env: BRENT_MINICASE
  - code: "317"
    name: London Borough of Redbridge
    system: minicase
    base_url: "{simulators}/sim/minicase/317"
    policy: redbridge
"""


def write(tmp_path: Path, text: str) -> Path:
    """A routing file holding `text`."""
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_routing_takes_the_system_and_reads_its_credentials(tmp_path: Path) -> None:
    """`system: minicase` is valid; its token comes from `<credentials_env>_TOKEN` or the demo."""
    table = routing.load(write(tmp_path, ROUTING), environ={"BRENT_MINICASE_TOKEN": "t-0001"})
    assert table.targets["304"].credentials == {"token": "t-0001"}
    assert table.targets["317"].credentials == {"token": "demo-token"}


def test_routing_names_the_missing_credential_variable(tmp_path: Path) -> None:
    """The variable named after the adapter's credential key is required."""
    with pytest.raises(ConfigurationError, match="BRENT_MINICASE_TOKEN is not set"):
        routing.load(write(tmp_path, ROUTING), environ={})


def test_without_its_registry_line_the_system_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry line is what makes the name valid: without it, routing names the known ones."""
    monkeypatch.undo()
    with pytest.raises(ConfigurationError, match="unknown case system 'minicase'") as caught:
        routing.load(write(tmp_path, ROUTING), environ={"BRENT_MINICASE_TOKEN": "t-0001"})
    assert caught.value.line == 2
    assert "known: mosaic, fwi, protocol" in caught.value.problem


def test_the_simulators_app_mounts_it_and_it_takes_a_delivery() -> None:
    """`gateway simulators` serves `/sim/minicase`, which records what the client sends."""
    request = CASES["reported_not_looked_after"]
    target = TargetConfig(
        council="304",
        system="minicase",
        base_url="http://testserver/sim/minicase/304",
        credentials={"token": "demo-token"},
    )
    with TestClient(simulators_app(), client=LOOPBACK) as sims:
        result = minicase.ADAPTER.send(request, minicase.ADAPTER.render(request), target, sims)
        book = sims.get("/sim/minicase/_control/records").json()
    assert result.acknowledged
    assert [r["target_reference"] for r in book["304"]] == [result.target_reference]


def test_the_api_publishes_and_accepts_the_system() -> None:
    """The delivery log's `system` filter and items list minicase in the OpenAPI document."""
    document = create_app(None).openapi()
    parameters = document["paths"]["/v1/deliveries"]["get"]["parameters"]
    system = next(p for p in parameters if p["name"] == "system")
    assert "minicase" in system["schema"]["anyOf"][0]["enum"]
    item = document["components"]["schemas"]["DeliveryItem"]["properties"]["system"]
    assert item["enum"] == list(OUTBOUND)
    assert DeliveryFilters(system="minicase").system == "minicase"


def test_the_golden_refresh_includes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`scripts/refresh_outbound_golden.py` with no names refreshes every registered system."""
    refreshed: list[str] = []

    def refresh(adapter: Any) -> tuple[int, int]:
        refreshed.append(adapter.name)
        return 0, 0

    monkeypatch.setattr(refresh_outbound_golden, "refresh", refresh)
    assert refresh_outbound_golden.main([]) == 0
    assert refreshed == list(OUTBOUND)


@pytest.fixture
def sims() -> Iterator[TestClient]:
    """The simulators in-process, minicase's included."""
    with TestClient(simulators_app(), client=LOOPBACK) as client:
        yield client


def test_a_report_is_delivered_to_it_end_to_end(
    tmp_path: Path, engine: Engine, keyring: KeyRing, sims: TestClient
) -> None:
    """A MERLIN report for Brent, routed to minicase, is rendered, sent and recorded once."""
    demo = mappings.path("routing/demo.yaml").read_text(encoding="utf-8")
    brent = 'system: mosaic\n    base_url: "{simulators}/sim/mosaic/304"'
    assert brent in demo
    path = write(
        tmp_path,
        demo.replace(brent, 'system: minicase\n    base_url: "{simulators}/sim/minicase/304"'),
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        routing_file=path,
        worker=False,
        ingest_processes=0,
        audit_key=AUDIT_KEY.decode(),  # not the demo routing
        _env_file=None,
    )
    services = build_services(settings, engine=engine, upgrade=False)
    with TestClient(create_app(services)) as client:
        posted = client.post(
            "/v1/inbound/merlin",
            content=merlin(),
            headers={"Content-Type": "application/xml", **keyring.headers("police", force="01")},
        )
        assert posted.status_code == 202, posted.text
        told = {(d["council"], d["system"]) for d in posted.json()["deliveries"]}
        assert ("304", "minicase") in told
        worker = Worker(services.engine, services.routing, http=sims)
        while worker.run_once():
            pass
        page = client.get(
            "/v1/deliveries", params={"system": "minicase"}, headers=keyring.headers("operator")
        )
    assert page.status_code == 200, page.text
    assert [(d["council"], d["status"]) for d in page.json()["items"]] == [("304", "delivered")]
    book = sims.get("/sim/minicase/_control/records").json()
    assert [r["times_recorded"] for r in book["304"]] == [1]
