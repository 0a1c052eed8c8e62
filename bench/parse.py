"""Parse-and-validate cost per message, as a ratio to bare lxml parsing of the same bytes.

Usage: `.venv/bin/python bench/parse.py [--seconds S]`. Every figure is measured in this run,
interleaved with its reference, so the ratios hold on any machine.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters import xml

ROOT = Path(__file__).resolve().parents[1]


def _per_call_us(func: Callable[[], object], seconds: float) -> float:
    """Median microseconds per call over several timed batches."""
    batches: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(batches) < 5:
        start = time.perf_counter()
        for _ in range(200):
            func()
        batches.append((time.perf_counter() - start) / 200 * 1e6)
    return statistics.median(batches)


def _validated_hash(schema: xml.Schema, body: bytes) -> str:
    document = xml.parse(body)
    schema.validate(document)
    return document.c14n_sha256


def bench(source: str, seconds: float) -> list[tuple[str, float, float]]:
    """Rows of (stage, µs per message, ratio to bare lxml) for one adapter's spec example."""
    adapter = importlib.import_module(f"adapters.{source}").ADAPTER
    body = (ROOT / "adapters" / source / "fixtures" / "valid" / "spec_example.xml").read_bytes()
    schema = xml.load_schema(adapter.schema_path)
    bare_parser = etree.XMLParser()
    stages: dict[str, Callable[[], object]] = {
        "bare lxml parse (reference)": lambda: etree.fromstring(body, bare_parser),
        "hardened parse (limits checked)": lambda: xml.parse(body),
        "+ XSD validation (lxml)": lambda: schema.validate(xml.parse(body)),
        "+ C14N hash": lambda: _validated_hash(schema, body),
        "+ typed model + semantic checks": lambda: adapter.parse(body),
        "+ mapping to canonical events": lambda: adapter.to_events(adapter.parse(body)),
    }
    timings = {name: _per_call_us(func, seconds) for name, func in stages.items()}
    reference = timings["bare lxml parse (reference)"]
    return [(name, us, us / reference) for name, us in timings.items()]


def main() -> None:
    """Print the table for both inbound adapters."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per stage")
    args = parser.parse_args()
    for source in ("merlin", "compact"):
        print(f"\n{source} spec example")
        print(f"{'stage':<36}{'µs/msg':>10}{'x bare lxml':>14}")
        for name, us, ratio in bench(source, args.seconds):
            print(f"{name:<36}{us:>10.1f}{ratio:>14.1f}")


if __name__ == "__main__":
    main()
