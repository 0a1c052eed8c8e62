"""deploy/systemd: the example units are valid and run what the operations guide says."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.tools import DEPLOY, tool

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED = "/opt/gateway/.venv/bin/gateway"


def test_the_units_are_there() -> None:
    """One unit for `gateway serve`, a template for `gateway worker`."""
    assert [u.name for u in UNITS] == ["gateway-serve.service", "gateway-worker@.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_verify_finds_nothing_wrong(unit: Path, tmp_path: Path) -> None:
    """`systemd-analyze verify` reports no unknown key or bad value (paths made local)."""
    analyze = tool("systemd-analyze", "systemd")
    gateway = Path(sys.executable).with_name("gateway")
    local = tmp_path / unit.name
    local.write_text(unit.read_text(encoding="utf-8").replace(INSTALLED, str(gateway)))
    done = subprocess.run(
        [analyze, "verify", str(local)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_each_unit_checks_the_routing_and_stops_gracefully(unit: Path) -> None:
    """`config check` before start; SIGTERM with time to finish in-flight attempts; restarts."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(unit)
    service = parser["Service"]
    command = "serve" if unit.name.startswith("gateway-serve") else "worker"
    assert service["ExecStart"].startswith(f"{INSTALLED} {command}")
    assert service["ExecStartPre"] == f"{INSTALLED} config check"
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) >= 60
    assert service["Restart"] == "on-failure" and service["UMask"] == "0077"
    assert service["EnvironmentFile"] == "/etc/gateway/gateway.env"
    assert service["ProtectSystem"] == "strict" and service["ReadWritePaths"] == "/var/lib/gateway"
