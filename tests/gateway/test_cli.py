"""The `gateway` command's contract: keys, config check, audit verify, exit statuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner over a private data directory (SQLite)."""
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    monkeypatch.delenv("GATEWAY_ROUTING_FILE", raising=False)
    return CliRunner()


def test_keys_create_prints_the_key_alone_on_the_last_line(runner: CliRunner) -> None:
    """Scripts take the last line of standard output as the key."""
    result = runner.invoke(main, ["keys", "create", "--role", "police", "--force", "01"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("mep_") and " " not in key
    listed = runner.invoke(main, ["keys", "list"])
    assert key.split("_")[1] in listed.output and key not in listed.output


def test_keys_create_with_a_wrong_binding_exits_2(runner: CliRunner) -> None:
    """A police key without a force is bad usage."""
    result = runner.invoke(main, ["keys", "create", "--role", "police"])
    assert result.exit_code == 2
    assert "force" in result.output


def test_revoke_unknown_key_exits_1(runner: CliRunner) -> None:
    """Revoking a key that does not exist is a runtime failure."""
    assert runner.invoke(main, ["keys", "revoke", "nosuchkey123"]).exit_code == 1


def test_config_check_accepts_the_demo_routing(runner: CliRunner) -> None:
    """The bundled demo routing is valid."""
    result = runner.invoke(main, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "6 council(s)" in result.output


def test_config_check_names_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    """A bad routing file exits 2 naming the file, the line and the problem."""
    bad = tmp_path / "routing.yaml"
    bad.write_text(
        'councils:\n  - code: "30"\n    name: X\n    system: mosaic\n'
        "    base_url: http://127.0.0.1:1/x\n    policy: default\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2:" in result.output and "code" in result.output


def test_audit_verify_reports_the_chain(runner: CliRunner) -> None:
    """After issuing keys (which are audited) the chain verifies."""
    runner.invoke(main, ["keys", "create", "--role", "operator"])
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "1 entries" in result.output


def test_config_check_refuses_a_metadata_address(runner: CliRunner, tmp_path: Path) -> None:
    """A base URL on the cloud metadata address exits 2 naming the file, line and problem."""
    bad = tmp_path / "routing.yaml"
    bad.write_text(
        'councils:\n  - code: "304"\n    name: X\n    system: mosaic\n'
        "    base_url: http://169.254.169.254/latest\n    policy: brent\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2:" in result.output and "cloud metadata" in result.output
