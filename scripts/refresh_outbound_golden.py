"""Re-render every outbound adapter's golden payloads from the canonical cases.

Usage: `python scripts/refresh_outbound_golden.py [ADAPTER ...]` (default: every registered
outbound adapter), then review `git diff adapters/*/fixtures/golden`: a golden change is a
change of what the councils receive. Golden files of cases that no longer exist are deleted.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from adapters import registry
from adapters.base import OutboundAdapter

ROOT = Path(__file__).resolve().parents[1]


def golden_suffix(schema_path: Path) -> str:
    """`.json` for a system described by a JSON Schema, `.xml` for one described by an XSD."""
    return ".json" if schema_path.suffix == ".json" else ".xml"


def golden_path(adapter: OutboundAdapter, case: str) -> Path:
    """Where the golden payload of `case` for `adapter` lives."""
    return adapter.folder / "fixtures" / "golden" / f"{case}{golden_suffix(adapter.schema_path)}"


def _cases() -> dict[str, Any]:
    if str(ROOT) not in sys.path:  # run as a script: make `tests` importable
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module("tests.contract.canonical_cases")
    cases: dict[str, Any] = module.CASES
    return cases


def refresh(adapter: OutboundAdapter) -> tuple[int, int]:
    """Rewrite one adapter's golden payloads; return (written, deleted as stale)."""
    cases = _cases()
    written = 0
    for case, request in sorted(cases.items()):
        target = golden_path(adapter, case)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(adapter.render(request).body)
        written += 1
    folder = golden_path(adapter, "x").parent
    stale = [p for p in folder.iterdir() if p.is_file() and p.stem not in cases]
    for path in stale:
        path.unlink()
    return written, len(stale)


def main(argv: list[str]) -> int:
    """Refresh the named outbound adapters (every registered one when none are named)."""
    unknown = [name for name in argv if name not in registry.OUTBOUND]
    if unknown:
        known = ", ".join(registry.OUTBOUND)
        sys.exit(f"not outbound adapters: {', '.join(unknown)} (known: {known})")
    for name in argv or registry.OUTBOUND:
        written, deleted = refresh(registry.OUTBOUND[name])
        print(f"{name}: {written} golden payload(s) written, {deleted} stale deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
