"""Re-render every inbound adapter's golden files from its valid fixtures.

Usage: `python scripts/refresh_golden.py [ADAPTER ...]` (default: all registered), then
review `git diff` of the fixtures/golden folders: a golden change is a behaviour change.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def golden_json(adapter: object, body: bytes) -> str:
    """The golden text for one valid fixture: the mapped events as sorted, indented JSON."""
    message = adapter.parse(body)  # type: ignore[attr-defined]
    events = adapter.to_events(message)  # type: ignore[attr-defined]
    return json.dumps([e.model_dump(mode="json") for e in events], indent=2, sort_keys=True) + "\n"


def refresh(name: str) -> int:
    """Rewrite `adapters/<name>/fixtures/golden/*.json`; return how many were written."""
    adapter = importlib.import_module(f"adapters.{name}").ADAPTER
    folder = ROOT / "adapters" / name / "fixtures"
    (folder / "golden").mkdir(exist_ok=True)
    count = 0
    for fixture in sorted((folder / "valid").glob("*.xml")):
        target = folder / "golden" / f"{fixture.stem}.json"
        target.write_text(golden_json(adapter, fixture.read_bytes()), encoding="utf-8")
        count += 1
    return count


def main(argv: list[str]) -> int:
    """Refresh the named adapters (all inbound adapters when none are named)."""
    names = argv or ["merlin", "compact"]
    for name in names:
        print(f"{name}: {refresh(name)} golden file(s) written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
