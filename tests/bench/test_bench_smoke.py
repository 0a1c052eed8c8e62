"""The benchmark in its quick mode, so that bench/ cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module(*args: str, timeout: float) -> str:
    """Run `python -m ARGS` from the repository root; its standard output (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_quick_benchmark_prints_its_table() -> None:
    """`python -m bench.run --quick --backend sqlite` runs every scenario and prints the table."""
    out = _module("bench.run", "--quick", "--backend", "sqlite", timeout=900)
    rows = [line for line in out.splitlines() if line.startswith("| sqlite |")]
    assert len(rows) == 13, out
    assert "bare FastAPI no-op" in out and "keyed no-op route" in out
    assert "gateway CPU per request" in out
    assert "high-risk report delivered" in out
    assert "plain 8-thread client, same targets" in out


@pytest.mark.slow
def test_ingest_cost_prints_each_stage_beside_the_whole() -> None:
    """`python -m bench.ingest_cost` times ingest, ingest without fsync and parsing alone."""
    out = _module("bench.ingest_cost", "--messages", "200", timeout=300)
    shares = {
        line[:34].strip(): float(line.split()[-1])
        for line in out.splitlines()
        if line.startswith(("ingest", "parse"))
    }
    assert shares["ingest"] == 1.0, out
    assert 0 < shares["parse + map alone"] < 1, out
    assert "ingest, no fsync (SQLite)" in shares, out
    assert "SQL statements per message: " in out


@pytest.mark.slow
def test_fault_run_prints_the_time_to_deliver_everything() -> None:
    """`python -m bench.faults` at tiny sizes: delivered, exactly once and in order."""
    out = _module(
        "bench.faults",
        *("--backend", "sqlite", "--episodes", "12", "--messages", "2"),
        *("--kills", "2", "--pace", "0.05", "--limit", "300"),
        timeout=600,
    )
    row = next(line for line in out.splitlines() if line.startswith("| sqlite |"))
    assert "exactly once, in order" in row, out
    assert "| 24 |" in row, "24 messages"
