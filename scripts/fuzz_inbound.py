"""Coverage-guided fuzzing of an inbound adapter with atheris (libFuzzer); not run in CI.

Usage:
    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python scripts/fuzz_inbound.py merlin -max_total_time=600
    .venv/bin/python scripts/fuzz_inbound.py compact corpus/compact -max_total_time=3600

Every argument after the adapter's name goes to libFuzzer. Without a corpus folder, a
temporary one is seeded with the adapter's valid fixtures and the shared hostile corpus.
`parse` then `to_events` must return or raise an `InboundRejected` subclass; any other
exception is a finding, which libFuzzer saves as `crash-<sha1>` in the working directory
(replay it with `scripts/fuzz_inbound.py merlin crash-<sha1>`). The bounded, CI-sized
counterpart is `tests/fuzz/test_fuzz_inbound.py` (hypothesis, structured mutations).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

from gateway.errors import InboundRejected

ROOT = Path(__file__).resolve().parents[1]


def seed_corpus(name: str, folder: Path) -> Path:
    """A temporary folder holding the adapter's valid fixtures and the hostile corpus."""
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    seeds = [*(folder / "fixtures" / "valid").glob("*.xml")]
    seeds += [*(ROOT / "tests" / "contract" / "hostile").glob("*.xml")]
    for seed in seeds:
        shutil.copy(seed, corpus / seed.name)
    return corpus


def main(argv: list[str]) -> None:
    """Fuzz the adapter named by `argv[1]`; the remaining arguments go to libFuzzer."""
    with atheris.instrument_imports():  # coverage feedback from the parsers and the mappings
        from adapters import registry  # noqa: PLC0415 (atheris instruments only what it imports)
    if len(argv) < 2 or argv[1] not in registry.INBOUND:
        sys.exit(f"usage: {argv[0]} {{{'|'.join(registry.INBOUND)}}} [libFuzzer arguments...]")
    name, rest = argv[1], argv[2:]
    adapter = registry.INBOUND[name]

    def one_input(data: bytes) -> None:
        # A precise refusal is the right answer to a bad message; anything else is a finding.
        with contextlib.suppress(InboundRejected):
            adapter.to_events(adapter.parse(data))

    if not any(not arg.startswith("-") for arg in rest):
        rest.append(str(seed_corpus(name, adapter.folder)))
    atheris.Setup([argv[0], *rest], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
