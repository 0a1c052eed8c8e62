"""Re-render every inbound adapter's golden files from its valid fixtures.

Usage: `python scripts/refresh_golden.py [ADAPTER ...]` (default: every registered inbound
adapter), then review `git diff` of the fixtures/golden folders: a golden change is a behaviour
change.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from adapters import registry
from adapters.base import InboundAdapter


def golden_json(adapter: InboundAdapter[Any], body: bytes) -> str:
    """The golden text for one valid fixture: the mapped events as sorted, indented JSON."""
    events = adapter.to_events(adapter.parse(body))
    return json.dumps([e.model_dump(mode="json") for e in events], indent=2, sort_keys=True) + "\n"


def refresh(adapter: InboundAdapter[Any]) -> int:
    """Rewrite the adapter's `fixtures/golden/*.json`; return how many were written."""
    folder = adapter.folder / "fixtures"
    (folder / "golden").mkdir(exist_ok=True)
    count = 0
    for fixture in sorted((folder / "valid").glob("*.xml")):
        target = folder / "golden" / f"{fixture.stem}.json"
        target.write_text(golden_json(adapter, fixture.read_bytes()), encoding="utf-8")
        count += 1
    return count


def main(argv: list[str]) -> int:
    """Refresh the named adapters (every registered inbound adapter when none are named)."""
    unknown = [name for name in argv if name not in registry.INBOUND]
    if unknown:
        sys.exit(
            f"not inbound adapters: {', '.join(unknown)} (known: {', '.join(registry.INBOUND)})"
        )
    for name in argv or registry.INBOUND:
        print(f"{name}: {refresh(registry.INBOUND[name])} golden file(s) written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
