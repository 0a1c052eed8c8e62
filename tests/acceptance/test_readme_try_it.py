"""The README's "Try it", run verbatim in a fresh clone, as a newcomer would.

The test clones this repository's committed HEAD into a temporary folder, runs the README's
`scripts/setup` there (a new `.venv`, as the README says), starts the clone's
`.venv/bin/gateway serve` on a free port, and runs the block between the README's
`try-it:start` and `try-it:end` markers with bash exactly as written, with only `GW` set to that
port (the block defaults it to the README's 127.0.0.1:8080, which other runs on this machine may
hold). So a file the README names that is not committed, or a command that does not work,
fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.process import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- try-it:start -->\s*```sh\n(.*?)```\s*<!-- try-it:end -->", re.S)


def try_it_block(readme: str) -> str:
    """The shell block between the README's try-it markers."""
    match = BLOCK.search(readme)
    assert match is not None, "README.md has no try-it block between its markers"
    return match.group(1)


def _environment(clone: Path) -> dict[str, str]:
    """This machine's environment without any gateway setting: the README's defaults apply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PATH"] = f"{clone / '.venv' / 'bin'}:{env.get('PATH', '')}"
    return env


def _serve(clone: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    log = (clone / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(clone / ".venv" / "bin" / "gateway"), "serve", "--port", str(port)],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process


def test_the_readme_try_it_block_works_verbatim_in_a_fresh_clone(tmp_path: Path) -> None:
    """Setup, serve, then the block: the demo table, an accepted message, receipts, records."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    block = try_it_block((clone / "README.md").read_text(encoding="utf-8"))
    env = _environment(clone)
    setup = subprocess.run(
        ["scripts/setup"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    port = free_port()
    server = _serve(clone, env, port)
    try:
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=clone,
            env={**env, "GW": f"http://127.0.0.1:{port}"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        elapsed = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr + _log(clone)
        _check(done.stdout)
        assert elapsed < 120, f"the try-it block took {elapsed:.0f} s"
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def _log(clone: Path) -> str:
    log = clone / "serve.log"
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _check(output: str) -> None:
    """What the block's commands printed, in order (curl's answers run together)."""
    assert "9 deliveries: 9 delivered" in output
    receipt, listed, episode, deliveries, records = _documents(output, '{"receipt_id"')
    assert receipt["status"] == "accepted" and receipt["message_id"].startswith("6f1c9a52")
    assert {d["council"] for d in receipt["deliveries"]} == {"304", "830"}
    assert listed["items"][0]["message_id"] == receipt["message_id"]
    assert episode["episode_id"] == receipt["episode_id"]
    assert {d["council"] for d in deliveries["items"]} == {"304", "830"}
    assert "304" in records


def _documents(output: str, first: str) -> list[Any]:
    """The JSON documents printed one after another from `first` on."""
    decoder = json.JSONDecoder()
    index = output.index(first)
    found = []
    while index < len(output):
        document, end = decoder.raw_decode(output, index)
        found.append(document)
        index = end
        while index < len(output) and output[index].isspace():
            index += 1
    return found
