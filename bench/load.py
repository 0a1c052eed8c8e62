"""The load generator: N concurrent keep-alive clients POSTing unique synthetic messages.

Run as its own process (`python -m bench.load ...`), so its CPU is not the server's. It speaks
just enough HTTP/1.1 over asyncio streams: a general client (httpx) costs several times more
CPU per request, and on a 2-core machine the generator would then cap the no-op reference and
flatter every ratio. Prints one JSON object: throughput, latency percentiles and status counts.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.messages import merlin

# Seeded history uses message numbers below this; load runs start above it (unique references).
FIRST_LIVE = 10_000_000


def nhs_number(n: int) -> str:
    """A synthetic NHS number in the 999 test range with a valid modulus-11 check digit."""
    for k in itertools.count():
        body = f"999{(n + k * 7919) % 1_000_000:06d}"
        check = 11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return body + str(check)
    raise AssertionError("unreachable")


def family_name(n: int) -> str:
    """A synthetic family name unique per n ("Testchild" and letters), so children differ."""
    letters = ""
    while True:
        n, rest = divmod(n, 26)
        letters += chr(ord("a") + rest)
        if n == 0:
            return "Testchild" + letters


def reference(n: int) -> str:
    """A MERLIN reference (`[0-9]{2}MIS[0-9]{6}`) unique for n below 100 million."""
    return f"{n // 1_000_000 % 100:02d}MIS{n % 1_000_000:06d}"


def message(n: int, *, risk: str = "MEDIUM") -> bytes:
    """Message number n: the MERLIN spec example as a new report of another synthetic child."""
    return merlin(
        ("<FamilyName>Testchild<", f"<FamilyName>{family_name(n)}<"),
        ("<NhsNumber>9997654323<", f"<NhsNumber>{nhs_number(n)}<"),
        ("<RiskLevel>MEDIUM<", f"<RiskLevel>{risk}<"),
        message_id=f"00000000-0000-4000-8000-{n:012d}",
        ref=reference(n),
    )


@dataclass
class Tally:
    """What the clients saw inside the measured window."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


async def _client(
    host: str,
    port: int,
    path: str,
    *,
    key: str,
    numbers: Iterator[int],
    window: tuple[float, float],
) -> Tally:
    tally = Tally()
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/xml\r\nContent-Length: "
    ).encode()
    start, end = window
    try:
        while (sent := time.perf_counter()) < end:
            body = message(next(numbers))
            writer.write(b"%s%d\r\n\r\n%s" % (head, len(body), body))
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            done = time.perf_counter()
            if sent >= start and done <= end:  # only requests wholly inside the window count
                tally.latencies.append(done - sent)
                tally.statuses[status] += 1
    finally:
        writer.close()
    return tally


async def run(
    url: str, path: str, key: str, *, clients: int, seconds: float, warmup: float, first: int
) -> dict[str, object]:
    """Drive the server for warmup + seconds; figures cover the last `seconds` only."""
    host, _, port = url.removeprefix("http://").partition(":")
    numbers = itertools.count(first)  # shared: every request carries a new message
    start = time.perf_counter() + warmup
    window = (start, start + seconds)
    tallies = await asyncio.gather(
        *(
            _client(host, int(port), path, key=key, numbers=numbers, window=window)
            for _ in range(clients)
        )
    )
    latencies = sorted(lat for t in tallies for lat in t.latencies)
    statuses: Counter[int] = sum((t.statuses for t in tallies), Counter())
    if len(latencies) < 2:
        raise SystemExit(f"only {len(latencies)} answers inside the window: run it longer")
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "statuses": {str(k): v for k, v in statuses.items()},
        "next": next(numbers),
    }


def main() -> None:
    """Parse the arguments, run the load, print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("--key", required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--first", type=int, default=FIRST_LIVE, help="first message number")
    args = parser.parse_args()
    summary = asyncio.run(
        run(
            args.url,
            args.path,
            args.key,
            clients=args.clients,
            seconds=args.seconds,
            warmup=args.warmup,
            first=args.first,
        )
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
