"""The `gateway` command's contract: keys, config check, audit verify, exit statuses."""

from __future__ import annotations

import shutil
import sqlite3
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
    monkeypatch.delenv("GATEWAY_AUDIT_CHECKPOINT_DIR", raising=False)
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
    """After issuing keys (which are audited) the chain verifies up to its checkpoint."""
    runner.invoke(main, ["keys", "create", "--role", "operator"])
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    verdict, checkpoint = result.output.splitlines()
    assert verdict.startswith("audit chain verifies: 1 entries, head ")
    assert checkpoint.startswith("checkpoints: 1 in ") and "records entry 1" in checkpoint


def test_audit_verify_explains_a_cut_chain_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    """Entries cut from the end: the verdict, what broke and where, what to do; status 1."""
    for _ in range(3):
        runner.invoke(main, ["keys", "create", "--role", "operator"])
    with sqlite3.connect(tmp_path / "data" / "gateway.db") as database:  # as its owner could
        database.execute("DROP TRIGGER audit_log_no_delete")
        database.execute("DELETE FROM audit_log WHERE seq > 1")
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0] == "AUDIT CHAIN BROKEN: 1 problem(s) in 1 entries"
    assert lines[1].startswith("1. chain-truncated (entry 2): the database's chain ends at entry 1")
    assert "audit-checkpoints/checkpoints-" in lines[1]  # the file and line
    assert lines[-1].startswith("what to do: treat it as a security incident")


def test_audit_verify_reads_a_copy_of_the_checkpoints(runner: CliRunner, tmp_path: Path) -> None:
    """`--checkpoints DIR` verifies against a copy (shipped elsewhere); an empty one fails."""
    runner.invoke(main, ["keys", "create", "--role", "operator"])
    copy = tmp_path / "copy"
    copy.mkdir()
    result = runner.invoke(main, ["audit", "verify", "--checkpoints", str(copy)])
    assert result.exit_code == 1 and "no-checkpoint" in result.output
    for written in (tmp_path / "data" / "audit-checkpoints").glob("*.jsonl"):
        shutil.copy(written, copy)
    assert runner.invoke(main, ["audit", "verify", "--checkpoints", str(copy)]).exit_code == 0


def test_commands_that_audit_need_the_key_outside_the_demo(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without GATEWAY_AUDIT_KEY and with a routing file of one's own: exit 2, saying why."""
    routing = tmp_path / "routing.yaml"
    routing.write_text("councils: []\n")
    monkeypatch.setenv("GATEWAY_ROUTING_FILE", str(routing))
    monkeypatch.delenv("GATEWAY_AUDIT_KEY", raising=False)
    for command in (["keys", "create", "--role", "operator"], ["audit", "verify"]):
        result = runner.invoke(main, command)
        assert result.exit_code == 2 and "GATEWAY_AUDIT_KEY is not set" in result.output
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0  # migrations need no key


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
