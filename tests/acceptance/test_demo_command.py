"""`gateway demo` against a real `gateway serve` on each backend, as an integration team runs it."""

from __future__ import annotations

import subprocess

import pytest

from tests.acceptance.process import GATEWAY, GatewayProcess

pytestmark = pytest.mark.slow

EXPECTED = [
    ["MERLIN report", "304 London Borough of Brent", "mosaic", "host", "delivered"],
    ["MERLIN report", "830 Derbyshire County Council", "fwi", "responsible", "delivered"],
    ["MERLIN risk change", "304 London Borough of Brent", "mosaic", "host", "delivered"],
    ["MERLIN risk change", "830 Derbyshire County Council", "fwi", "responsible", "delivered"],
    ["MERLIN found", "304 London Borough of Brent", "mosaic", "host", "delivered"],
    ["MERLIN found", "830 Derbyshire County Council", "fwi", "responsible", "delivered"],
    ["COMPACT report", "830 Derbyshire County Council", "fwi", "home", "delivered"],
    ["COMPACT report, looked after", "831 Derby City Council", "mosaic", "host", "delivered"],
    [
        "COMPACT report, looked after",
        "871 Slough Borough Council",
        "protocol",
        "responsible",
        "delivered",
    ],
]
HEADER = ("message", "council", "system", "role", "status")


def _run_demo(gateway: GatewayProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, "demo", "--url", gateway.url, "--wait", "60"],
        env=gateway.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _cells(header: str, line: str) -> list[str]:
    """A table line cut where the header's columns start (names have spaces of their own)."""
    starts = [header.index(name) for name in HEADER]
    ends = [*starts[1:], None]
    return [line[a:b].strip() for a, b in zip(starts, ends, strict=True)]


def test_the_demo_tells_every_council_in_its_role_and_everything_is_delivered(
    gateway: GatewayProcess,
) -> None:
    """Nine deliveries on Mosaic, FWi and Protocol, all delivered; keys revoked; runs twice."""
    gateway.start()
    for _ in range(2):  # a second run sends new ids: delivered again, not duplicates
        done = _run_demo(gateway)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.strip().splitlines()
        assert tuple(lines[0].split()) == HEADER
        assert [_cells(lines[0], line) for line in lines[1:10]] == EXPECTED
        assert lines[10] == "9 deliveries: 9 delivered"
    listed = gateway.command("keys", "list").splitlines()
    demo_keys = [line for line in listed if line.endswith("gateway demo")]
    assert len(demo_keys) == 4 and all("\trevoked " in line for line in demo_keys)
