"""The benchmark in its quick mode, so that bench/ cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_prints_its_table() -> None:
    """`python -m bench.run --quick --backend sqlite` runs every scenario and prints the table."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--backend", "sqlite"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| sqlite |")]
    assert len(rows) == 8, done.stdout
    assert "high-risk report delivered" in done.stdout


@pytest.mark.slow
def test_ingest_cost_prints_each_stage_beside_the_whole() -> None:
    """`python -m bench.ingest_cost` times ingest, ingest without fsync and parsing alone."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest_cost", "--messages", "200"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    shares = {
        line[:34].strip(): float(line.split()[-1])
        for line in done.stdout.splitlines()
        if line.startswith(("ingest", "parse"))
    }
    assert shares["ingest"] == 1.0, done.stdout
    assert 0 < shares["parse + map alone"] < 1, done.stdout
    assert "ingest, no fsync (SQLite)" in shares, done.stdout
    assert "SQL statements per message: " in done.stdout
