"""What the onboarding tests share: councils outside the demo routing, and onboarding them.

Harrow (310) and Hillingdon (312) are not in the demo routing: `HARROW` rewrites the MERLIN
example so that both are unroutable, `onboarded_routing` and `onboarded_table` add them, and
the `cli` fixture runs the CLI on the test database (`on_test_database`) with Harrow onboarded
(tests/gateway/conftest.py exposes it to the gateway's tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gateway import routing
from gateway.api.deps import Services
from gateway.settings import DEMO_ROUTING
from tests.conftest import AUDIT_KEY
from tests.gateway.delivery import post
from tests.messages import MERLIN_FOUND, merlin, new_id

# A looked-after child living and placed in Harrow (310) by Hillingdon (312): neither is
# onboarded in the demo routing, so both are unroutable.
HARROW = (
    ("<HomeBorough>304</HomeBorough>", "<HomeBorough>310</HomeBorough>"),
    ("<PlacementBorough>304</PlacementBorough>", "<PlacementBorough>310</PlacementBorough>"),
    (
        "<ResponsibleAuthority>830</ResponsibleAuthority>",
        "<ResponsibleAuthority>312</ResponsibleAuthority>",
    ),
)
ONBOARDING = {
    "310": '  - code: "310"\n    name: London Borough of Harrow\n    system: mosaic\n'
    '    base_url: "{simulators}/sim/mosaic/310"\n    policy: default\n',
    "312": '  - code: "312"\n    name: London Borough of Hillingdon\n    system: fwi\n'
    '    base_url: "{simulators}/sim/fwi/312"\n    policy: default\n',
}


def onboarded_routing(tmp_path: Path, *councils: str) -> Path:
    """The demo routing file with these councils onboarded as well."""
    path = tmp_path / "routing.yaml"
    extra = "".join(ONBOARDING[c] for c in councils)
    path.write_text(DEMO_ROUTING.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def onboarded_table(tmp_path: Path, *councils: str) -> routing.RoutingTable:
    """A routing table: the demo's six councils and these."""
    return routing.load(onboarded_routing(tmp_path, *councils), environ={})


def harrow_report_and_found(client: TestClient, met: dict[str, str]) -> list[dict[str, Any]]:
    """The report of a Harrow child, then its FOUND notification: two unroutable events each."""
    report = merlin(*HARROW, message_id=new_id(), ref="24MIS031000")
    found = merlin(
        *HARROW,
        MERLIN_FOUND,
        message_id=new_id(),
        ref="24MIS031000",
        version=2,
        notification="FOUND",
    )
    return [post(client, "merlin", report, met), post(client, "merlin", found, met)]


@pytest.fixture
def cli(
    services: Services, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    """A CLI runner on the test database, with Harrow onboarded in its routing file.

    The API's services are built first, on the demo routing, so Harrow is unroutable there.
    """
    on_test_database(engine, tmp_path, monkeypatch)
    monkeypatch.setenv("GATEWAY_ROUTING_FILE", str(onboarded_routing(tmp_path, "310")))
    monkeypatch.setenv("GATEWAY_AUDIT_KEY", AUDIT_KEY.decode())  # not the demo routing
    return CliRunner()


def on_test_database(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI's settings at the test database (its private schema on PostgreSQL)."""
    url = engine.url
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
