"""A new police source is its folder and one registry line, and nothing else in the code.

`tests/adapters/minisource/` is a complete, minimal inbound adapter folder defined in the test
suite. Every test here runs with the registry holding it, as the one line a new source adds to
`adapters/registry.py` would. Each test fails if some other place still lists the sources: the
API would have no route for it or refuse its receipts, the canonical model would refuse its
name, or the golden refresh would skip it. The one thing the registry line cannot do is give
case systems that name the source a code for it: that is mapping data, and the outbound
contract suite names the gap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from adapters import mosaic, registry
from gateway.api.app import build_services, create_app
from gateway.settings import Settings
from scripts import refresh_golden
from tests.adapters import minisource
from tests.conftest import KeyRing
from tests.contract.inbound import inbound_contract
from tests.contract.outbound import canonical_codes

# The registry with minisource's one line added (`adapters/registry.py`'s INBOUND list).
INBOUND = registry.by_name(*registry.INBOUND.values(), minisource.ADAPTER)
REPORT = minisource.ADAPTER.folder / "fixtures" / "valid" / "reported.xml"


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of this module, the contract suite's included, sees minisource registered."""
    monkeypatch.setattr(registry, "INBOUND", INBOUND)


TestMinisourceInboundContract = inbound_contract(minisource.ADAPTER)


def test_the_api_publishes_its_route_and_receipts() -> None:
    """`POST /v1/inbound/minisource` is published, and receipts may name the source."""
    document = create_app(None).openapi()
    route = document["paths"]["/v1/inbound/minisource"]["post"]
    assert route["summary"] == minisource.ADAPTER.summary
    assert route["operationId"] == "submit_minisource_v1_inbound_minisource_post"
    receipt = document["components"]["schemas"]["Receipt"]["properties"]["source"]
    assert receipt["enum"] == list(INBOUND)


def test_the_golden_refresh_includes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`scripts/refresh_golden.py` with no names refreshes every registered source."""
    refreshed: list[str] = []

    def refresh(adapter: Any) -> int:
        refreshed.append(adapter.name)
        return 0

    monkeypatch.setattr(refresh_golden, "refresh", refresh)
    assert refresh_golden.main([]) == 0
    assert refreshed == list(INBOUND)


def test_case_systems_naming_sources_are_told_of_the_mapping_gap() -> None:
    """The outbound contract now asks Mosaic for a `source_system` code for minisource."""
    assert "minisource" in canonical_codes("source_system")
    assert "minisource" not in mosaic.ADAPTER.codes.tables()["source_system"]


def post_report(tmp_path: Path, engine: Engine, keyring: KeyRing) -> tuple[int, Any, Any]:
    """POST the valid report as the Met, and read its receipt back; the answers' codes and JSON."""
    settings = Settings(
        data_dir=tmp_path / "data", worker=False, ingest_processes=0, _env_file=None
    )
    services = build_services(settings, engine=engine, upgrade=False)
    police = keyring.headers("police", force="01")
    with TestClient(create_app(services)) as client:
        posted = client.post(
            "/v1/inbound/minisource",
            content=REPORT.read_bytes(),
            headers={"Content-Type": "application/xml", **police},
        )
        again = client.get("/v1/receipts/minisource/MS-000001", headers=police)
    return posted.status_code, posted.json(), again.json()


def test_a_report_is_accepted_and_its_receipt_read_back(
    tmp_path: Path, engine: Engine, keyring: KeyRing
) -> None:
    """The report is committed (202) for Brent, and its receipt names the source."""
    status, receipt, again = post_report(tmp_path, engine, keyring)
    assert status == 202, receipt
    assert receipt["source"] == again["source"] == "minisource"
    assert [d["council"] for d in receipt["deliveries"]] == ["304"]


def test_without_its_registry_line_there_is_no_route(
    tmp_path: Path, engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry line is what creates the route: without it, the path is not found."""
    monkeypatch.undo()
    status, _, _ = post_report(tmp_path, engine, keyring)
    assert status == 404
