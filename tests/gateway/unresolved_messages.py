"""COMPACT exports naming councils the names table does not know, and a table that does."""

from __future__ import annotations

from typing import Any

import mappings
from adapters.compact import councils
from tests.messages import compact, new_id

UNKNOWN = "Borsetshire County Council"  # made up: no council, in no names table
CASE = "MP/30/2024/007001"
_CARE_N = "    <Care>\n      <LookedAfter>N</LookedAfter>\n      <CPPlan>N</CPPlan>\n    </Care>"
_HOME = "<LocalAuthority>Derbyshire County Council</LocalAuthority>"


def looked_after(placing: str | None, placed_in: str = "Derby City Council") -> tuple[str, str]:
    """The replacement that makes the child looked after by `placing` (None: not named)."""
    placing_xml = f"      <PlacingAuthority>{placing}</PlacingAuthority>\n" if placing else ""
    return (
        _CARE_N,
        "    <Care>\n      <LookedAfter>Y</LookedAfter>\n"
        f"{placing_xml}      <PlacementKind>FOSTER</PlacementKind>\n"
        f"      <PlacementLocalAuthority>{placed_in}</PlacementLocalAuthority>\n"
        "      <CPPlan>N</CPPlan>\n    </Care>",
    )


def lives_in(council: str) -> tuple[str, str]:
    """The replacement that puts the child's home address in `council`."""
    return (_HOME, f"<LocalAuthority>{council}</LocalAuthority>")


def export(sequence: int, *changes: tuple[str, str], case: str = CASE) -> bytes:
    """Export `sequence` of a COMPACT case (force 30): NEW first, UPDATE after."""
    return compact(
        *changes,
        export_id=new_id(),
        sequence=sequence,
        case=case,
        event="NEW" if sequence == 1 else "UPDATE",
    )


def table_with(code: str, *variants: str) -> councils.NameTable:
    """The names table with `variants` added to council `code` (an operator's edit)."""
    data: dict[str, Any] = mappings.load(councils.FILE)
    entries = dict(data["councils"])
    entry = entries[code]
    entries[code] = {**entry, "variants": [*entry.get("variants", []), *variants]}
    return councils.NameTable(*councils.build_index({"councils": entries}))
