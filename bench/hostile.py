"""Hostile input against a real `gateway serve`: time to refuse, another force's wait, memory.

Usage: `.venv/bin/python -m bench.hostile [--only bombs|flood|forms] [--timeout S]`.

Starts `gateway serve` on a scratch SQLite data directory (as the acceptance tests do), issues
police keys for forces 01 and 30, and measures:

- each bomb sent once with force 01's key: its answer (status, problem code) and the time to
  it, and the latency of a valid COMPACT message from force 30 sent 0.2 s into the bomb, beside
  force 30's latency when nothing else is sent;
- a flood (`--flood-senders` clients sending one bomb after another for `--flood-seconds`):
  force 30's latency meanwhile (median and worst of sequential sends);
- a form flood on `POST /ui/sign-in` without a key (hundreds of 1 MB fields, 300 MB in all,
  with its Content-Length and then chunked): the answer and the server's resident memory before
  and after (VmRSS, VmHWM).

Prints one JSON object. Timings on a shared machine are noisy: compare figures of one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.process import GatewayProcess
from tests.contract.bombs import BOMBS, attribute_bomb
from tests.messages import compact, merlin, new_id

MERLIN, COMPACT = "/v1/inbound/merlin", "/v1/inbound/compact"
XML = {"Content-Type": "application/xml"}


def _answer(response: httpx.Response) -> str:
    try:
        code = response.json().get("code", "")
    except ValueError:
        code = ""
    return f"{response.status_code} {code}".strip()


def _valid_compact(url: str, key: dict[str, str], timeout: float) -> tuple[float, str]:
    """Send a new valid COMPACT message from force 30; (seconds, answer)."""
    body = compact(export_id=new_id(), case=f"MP/30/2024/{time.monotonic_ns() % 10**6:06d}")
    started = time.perf_counter()
    response = httpx.post(f"{url}{COMPACT}", content=body, headers=key | XML, timeout=timeout)
    return time.perf_counter() - started, _answer(response)


def _send(url: str, body: bytes, key: dict[str, str], timeout: float) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        response = httpx.post(f"{url}{MERLIN}", content=body, headers=key | XML, timeout=timeout)
    except httpx.TimeoutException:
        return time.perf_counter() - started, f"no answer in {timeout} s"
    return time.perf_counter() - started, _answer(response)


def bombs(server: GatewayProcess, keys: dict[str, dict[str, str]], timeout: float) -> Any:
    """Each bomb once, with force 30's valid message sent 0.2 s into it."""
    alone = [_valid_compact(server.url, keys["30"], timeout)[0] for _ in range(5)]
    results: dict[str, Any] = {"force_30_alone_s": round(statistics.median(alone), 3)}
    for name, (build, _status, _code) in BOMBS.items():
        body = build(merlin())
        answer: list[tuple[float, str]] = []
        thread = threading.Thread(
            target=lambda b=body, a=answer: a.append(_send(server.url, b, keys["01"], timeout))
        )
        thread.start()
        time.sleep(0.2)
        other = _valid_compact(server.url, keys["30"], timeout)
        thread.join()
        results[name] = {
            "bytes": len(body),
            "answer": answer[0][1],
            "seconds": round(answer[0][0], 3),
            "force_30_meanwhile_s": round(other[0], 3),
            "force_30_answer": other[1],
        }
    return results


def flood(
    server: GatewayProcess, keys: dict[str, dict[str, str]], senders: int, seconds: float
) -> Any:
    """`senders` clients sending attribute bombs; force 30's sequential latencies meanwhile."""
    body, stop = attribute_bomb(), threading.Event()
    sent: list[str] = []

    def send() -> None:
        while not stop.is_set():
            sent.append(_send(server.url, body, keys["01"], 120)[1])

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    latencies, answers = [], set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        took, answer = _valid_compact(server.url, keys["30"], 120)
        latencies.append(took)
        answers.add(answer)
    stop.set()
    for thread in threads:
        thread.join()
    return {
        "senders": senders,
        "bombs_answered": len(sent),
        "bomb_answers": sorted(set(sent)),
        "force_30_sends": len(latencies),
        "force_30_answers": sorted(answers),
        "force_30_median_s": round(statistics.median(latencies), 3),
        "force_30_max_s": round(max(latencies), 3),
    }


def _rss_mib(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {k: round(int(fields[k].split()[0]) / 1024, 1) for k in ("VmRSS", "VmHWM")}


def _form(fields: int, field_bytes: int) -> Iterator[bytes]:
    chunk = b"a" * field_bytes
    for n in range(fields):
        yield (b"&" if n else b"") + f"f{n}=".encode() + chunk


def forms(server: GatewayProcess, fields: int = 300, field_bytes: int = 1_000_000) -> Any:
    """A sign-in form of `fields` fields of `field_bytes` each, with and without a length."""
    assert server.process is not None
    results: dict[str, Any] = {"before": _rss_mib(server.process.pid)}
    length = sum(len(part) for part in _form(fields, field_bytes))
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    for name, headers in (
        ("declared_length", form_type | {"Content-Length": str(length)}),
        ("chunked", form_type),
    ):
        started = time.perf_counter()
        try:
            response = httpx.post(
                f"{server.url}/ui/sign-in",
                content=_form(fields, field_bytes),
                headers=headers,
                timeout=300,
            )
            answer = _answer(response)
        except httpx.HTTPError as error:  # the server may close the connection mid-upload
            answer = f"connection ended: {type(error).__name__}"
        took = time.perf_counter() - started
        time.sleep(1)
        results[name] = {
            "bytes": length,
            "answer": answer,
            "seconds": round(took, 3),
            "after": _rss_mib(server.process.pid),
        }
    return results


def main() -> None:
    """Run the chosen measurements against a fresh `gateway serve` and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("bombs", "flood", "forms"), action="append")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--flood-senders", type=int, default=8)
    parser.add_argument("--flood-seconds", type=float, default=10)
    args = parser.parse_args()
    only = args.only or ["bombs", "flood", "forms"]
    with tempfile.TemporaryDirectory(prefix="gateway-hostile-") as scratch:
        server = GatewayProcess(Path(scratch) / "data")
        server.env["GATEWAY_WORKER"] = "0"  # ingest alone: no deliveries competing for the CPU
        server.start()
        try:
            keys = {f: server.key("--role", "police", "--force", f) for f in ("01", "30")}
            out: dict[str, Any] = {}
            if "forms" in only:  # first, while the server's memory is as it started
                out["forms"] = forms(server)
            if "bombs" in only:
                out["bombs"] = bombs(server, keys, args.timeout)
            if "flood" in only:
                out["flood"] = flood(server, keys, args.flood_senders, args.flood_seconds)
        finally:
            server.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
