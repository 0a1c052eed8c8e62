"""`gateway demo`'s parts: fresh ids per run, the refusal to reach real councils, the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from adapters import registry
from gateway import demo, keys, routing
from gateway.cli import main
from gateway.settings import DEMO_ROUTING


def test_the_examples_reach_the_demo_councils_in_every_role() -> None:
    """Brent and Derby as hosts, Derbyshire as home and responsible, Slough as responsible."""
    assert demo.councils_reached() == {"304", "830", "831", "871"}


def test_each_run_gives_new_message_ids_and_references_kept_across_a_report() -> None:
    """Two runs differ; within one, the MERLIN report, risk change and found share a ref."""
    first, second = demo.fresh(), demo.fresh()
    for (example, a), (_, b) in zip(first, second, strict=True):
        assert a != b and a != example.body()
        adapter = registry.INBOUND[example.source]
        assert adapter.parse(a).force == example.force  # still valid, still the same force
    refs = [re.search(rb"<MerlinRef>([^<]+)<", body) for _, body in first[:3]]
    assert len({m.group(1) for m in refs if m}) == 1
    ids = [re.search(rb"<(?:MessageId|ExportId)>([^<]+)<", body) for _, body in first]
    assert len({m.group(1) for m in ids if m}) == len(first)


def test_the_demo_refuses_a_routing_that_reaches_a_real_council(tmp_path: Path) -> None:
    """Brent pointed at https://mosaic.brent.example: refused, naming it; loopback is fine."""
    demo.check_safe(routing.load(DEMO_ROUTING, environ={}))
    text = DEMO_ROUTING.read_text(encoding="utf-8").replace(
        'base_url: "{simulators}/sim/mosaic/304"',
        'base_url: "https://mosaic.brent.example/integration"\n    credentials_env: BRENT',
    )
    real = tmp_path / "routing.yaml"
    real.write_text(text, encoding="utf-8")
    table = routing.load(real, environ={"BRENT_CLIENT_ID": "x", "BRENT_CLIENT_SECRET": "y"})
    with pytest.raises(demo.DemoRefused, match=r"304 \(https://mosaic.brent.example"):
        demo.check_safe(table)


def test_the_cli_refuses_with_exit_2_and_sends_nothing(
    cli: CliRunner,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real council in the routing: exit 2 before any key is made."""
    text = DEMO_ROUTING.read_text(encoding="utf-8").replace(
        'base_url: "{simulators}/sim/fwi/830"',
        'base_url: "https://fwi.derbyshire.example"\n    credentials_env: DERBYS',
    )
    real = tmp_path / "real.yaml"
    real.write_text(text, encoding="utf-8")
    monkeypatch.setenv("GATEWAY_ROUTING_FILE", str(real))
    monkeypatch.setenv("DERBYS_USERNAME", "u")
    monkeypatch.setenv("DERBYS_PASSWORD", "p")
    result = cli.invoke(main, ["demo", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "refusing to run the demo" in result.output and "830" in result.output
    with engine.connect() as connection:
        assert keys.list_keys(connection) == []


def test_an_unreachable_gateway_is_exit_1_and_the_keys_are_revoked(
    cli: CliRunner,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing listens on the URL: exit 1 saying so; the two keys made are revoked."""
    monkeypatch.setenv("GATEWAY_ROUTING_FILE", str(DEMO_ROUTING))
    result = cli.invoke(main, ["demo", "--url", "http://127.0.0.1:9", "--wait", "0"])
    assert result.exit_code == 1
    assert "cannot reach the gateway at http://127.0.0.1:9" in result.output
    with engine.connect() as connection:
        made = keys.list_keys(connection)
    assert sorted(k.force or "" for k in made) == ["01", "30"]
    assert all(k.revoked_at is not None and k.name == "gateway demo" for k in made)


def test_the_table_lines_up_and_says_what_an_ack_waits_for() -> None:
    """Columns are padded to the widest cell; a Protocol drop awaiting its ack says so."""
    rows = [
        {
            "message": "MERLIN report",
            "council": "304",
            "council_name": "London Borough of Brent",
            "system": "mosaic",
            "role": "host",
            "state": "delivered",
            "delivery_status": "delivered",
        },
        {
            "message": "COMPACT report",
            "council": "871",
            "council_name": "Slough Borough Council",
            "system": "protocol",
            "role": "responsible",
            "state": "pending",
            "delivery_status": "sent",
        },
    ]
    lines = demo.table(rows)
    assert lines[0].split() == ["message", "council", "system", "role", "status"]
    assert lines[1].index("304") == lines[2].index("871") == lines[0].index("council")
    assert lines[2].endswith("pending (sent, awaiting the acknowledgement)")
