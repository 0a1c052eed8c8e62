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
