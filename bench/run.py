"""The gateway's performance, on SQLite and PostgreSQL, in one command.

Usage: `.venv/bin/python -m bench.run [--backend sqlite|postgres|both] [--quick] [--readme]
[--only ingest|drain|ceiling|growth ...] [--generator wrk|python]`.

Every figure is printed beside a reference measured in the same run on the same machine (a
bare FastAPI app that reads the body and answers 202, the keyed no-op route of the gateway, an
idle queue, a small store), so the ratios hold on a loaded or a different machine even where
the absolute numbers do not. `--quick` runs tiny sizes (a smoke test, not a measurement);
`--readme` writes the table into README.md's Performance section; `--only` runs some of the
scenarios (ingest: ingest against the bare app and the keyed no-op, then end to end; drain:
backlog drain and priority; ceiling: a separate `gateway worker` draining against no-op
targets, beside a plain client's rate on them; growth). `--generator` is what loads the server
in the ingest scenario: wrk (the default where it is installed) or bench/load.py. PostgreSQL
runs use a scratch database `bench_gateway_<pid>`, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict

from bench import drain_ceiling, scenarios, wrk
from bench.processes import ROOT, Simulators, backend
from bench.scenarios import QUICK, Figure, Sizes
from gateway.logs import configure

README = ROOT / "README.md"
MARKERS = ("<!-- bench:start -->", "<!-- bench:end -->")


SCENARIOS = ("ingest", "drain", "ceiling", "growth")
GENERATORS = {"wrk": "wrk (bench/wrk.lua)", "python": "bench/load.py"}


def measure(
    name: str,
    sizes: Sizes,
    log: Callable[[str], None],
    only: tuple[str, ...] = SCENARIOS,
    generator: str = "python",
) -> list[Figure]:
    """The chosen measurements (all of them by default) on one backend."""
    figures: list[Figure] = []
    with backend(name) as scratch:
        sims = Simulators(scratch.root / "simulators")
        sims.start()
        try:
            if "ingest" in only:
                log(f"{name}: ingest against the bare app and the keyed no-op ({generator})")
                ingest = scenarios.ingest_vs_references(scratch, sims, sizes, generator)
                log(f"{name}: end to end")
                figures += ingest + scenarios.end_to_end(scratch, sims, sizes, ingest, generator)
            if "drain" in only:
                log(f"{name}: backlog drain and priority")
                figures += scenarios.drain_and_priority(scratch, sims, sizes)
            if "ceiling" in only:
                log(f"{name}: drain against the no-op targets' own ceiling")
                figures += drain_ceiling.drain_vs_ceiling(
                    scratch, sizes.small_backlog, sizes.ceiling_seconds
                )
            if "growth" in only:
                log(f"{name}: growth")
                figures += scenarios.growth(scratch, sims, sizes)
        finally:
            sims.stop()
    return figures


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    """The markdown table."""
    lines = [
        "| backend | figure | value | reference | ratio | target | result |",
        "| --- | --- | ---: | --- | ---: | --- | --- |",
    ]
    for f in figures:
        result = "" if f.met is None else ("met" if f.met else "**missed**")
        lines.append(
            f"| {f.backend} | {f.name} | {_number(f.value)} {f.unit} "
            f"| {f.reference_name}: {_number(f.reference)} {f.unit} | {f.ratio:.2f} "
            f"| {f.target} | {result} |"
        )
    return "\n".join(lines)


def caption(sizes: Sizes, quick: bool, seconds: float, generator: str) -> str:
    """What was run, where, and how long it took."""
    load = os.getloadavg()[0]
    cores = os.cpu_count()
    values = ", ".join(f"{k}={v:,}" for k, v in asdict(sizes).items())
    mode = " (--quick: a smoke run, not a measurement)" if quick else ""
    return (
        f"Sizes{mode}: {values}. Ingest load from {GENERATORS[generator]}. {cores} cores, "
        f"load average {load:.1f} when the run ended, {seconds / 60:.0f} min in all."
    )


def update_readme(text: str) -> None:
    """Replace the table between the markers in README.md's Performance section."""
    readme = README.read_text()
    start, end = MARKERS
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no {start} … {end} block to update")
    README.write_text(pattern.sub(lambda _: f"{start}\n{text}\n{end}", readme))


def main() -> None:
    """Run the chosen backends and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    parser.add_argument(
        "--only", choices=SCENARIOS, action="append", help="run this scenario (repeatable)"
    )
    parser.add_argument(
        "--generator", choices=sorted(GENERATORS), default="wrk" if wrk.available() else "python"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    configure("warning")  # the template ingest of bench/seed.py would log to this terminal
    began = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - began:6.0f} s] {text}", flush=True)

    figures: list[Figure] = []
    for name in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        figures += measure(name, sizes, log, tuple(args.only or SCENARIOS), args.generator)
    spent = time.monotonic() - began
    text = table(figures) + "\n\n" + caption(sizes, args.quick, spent, args.generator)
    print("\n" + text)
    if args.readme and not args.only:  # the README's table is the whole run's
        update_readme(text)


if __name__ == "__main__":
    main()
