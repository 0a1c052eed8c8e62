"""The load from wrk (Debian's `wrk`) instead of bench/load.py, where it is installed.

wrk drives a server with far less CPU than any Python client, so on a small machine the bare
reference is not capped by the load generator (bench/server.py). Its script (bench/wrk.lua)
posts bench/load.py's messages, each with a new number, from 16 connections on 2 threads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from bench.load import family_name, message, nhs_number, reference

SCRIPT = Path(__file__).with_name("wrk.lua")
THREADS = 2
# A message number whose fields are unlike anything else in the example, to make the template.
_N = 98_765_432


def available() -> bool:
    """Whether wrk is installed (`apt-get install wrk`)."""
    return shutil.which("wrk") is not None


@cache
def template(directory: Path) -> Path:
    """bench/load.py's message with the placeholders bench/wrk.lua fills in, as a file."""
    text = message(_N).decode()
    for value, placeholder in (
        (f"{_N:012d}", "@ID@"),
        (reference(_N), "@REF@"),
        (family_name(_N), "@FAMILY@"),
        (nhs_number(_N), "@NHS@"),
    ):
        assert text.count(value) == 1, value
        text = text.replace(value, placeholder)
    path = directory / "wrk-template.xml"
    path.write_text(text)
    return path


def load(
    url: str, path: str, key: str, *, seconds: float, first: int, directory: Path, clients: int
) -> dict[str, Any]:
    """One wrk run after a 1 s warm-up; the summary bench/load.py would print."""
    env = {
        **os.environ,
        "BENCH_TEMPLATE": str(template(directory)),
        "BENCH_KEY": key,
        "BENCH_THREADS": str(THREADS),
    }
    following = first
    for duration in (1.0, seconds):  # the first run is the warm-up
        env["BENCH_FIRST"] = str(following)
        done = subprocess.run(
            ["wrk", f"-t{THREADS}", f"-c{clients}", f"-d{duration:g}s", "-s", str(SCRIPT),
             f"{url}{path}"],
            env=env, capture_output=True, check=True, timeout=duration + 120,
        )  # fmt: skip
        summary: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
        following += THREADS * (summary["requests"] + clients)  # past every number sent
    ok = summary["requests"] - summary["non_2xx"]
    return {
        "requests": summary["requests"],
        "rps": summary["requests"] / summary["seconds"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "statuses": {"2xx": ok, "other": summary["non_2xx"] + summary["socket_errors"]},
        "next": following,
    }
