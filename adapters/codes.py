"""Canonical → case-system code tables, read from each system's mapping file.

Renderers look every canonical code up here (`CodeTables.code`); a code with no target code is
a mapping gap, refused as `PermanentDelivery` naming the system, table and value. The outbound
contract suite checks that every canonical code has a target code in every table.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import yaml

from gateway.canonical import EpisodeSnapshot
from gateway.errors import PermanentDelivery


class CodeTables:
    """Canonical → target code tables of one case system, read from its mapping file.

    Attributes:
        system: the case system's name, for error messages.
        path: the mapping file (YAML: one mapping of canonical code → target code per table).
    """

    def __init__(self, system: str, path: Path) -> None:
        self.system = system
        self.path = path

    @cached_property
    def _tables(self) -> dict[str, dict[str, str]]:
        with self.path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        if not isinstance(data, dict):
            raise PermanentDelivery(f"{self.path.name} is not a mapping of tables")
        return {
            str(name): {str(k): str(v) for k, v in table.items()}
            for name, table in data.items()
            if isinstance(table, dict)
        }

    def tables(self) -> dict[str, dict[str, str]]:
        """Every table of the mapping file, by name (read once per process)."""
        return self._tables

    def code(self, table: str, value: str) -> str:
        """The target code for canonical `value` in `table`.

        Raises:
            PermanentDelivery: the table has no code for the value (a mapping gap).
        """
        key = str(value)  # a StrEnum member's str() is its canonical code
        found = self.tables().get(table, {}).get(key)
        if found is None:
            raise PermanentDelivery(
                f"no {self.system} code for {table} {key!r} in "
                f"{self.path.parent.name}/{self.path.name}"
            )
        return found


def episode_kind(episode: EpisodeSnapshot) -> str:
    """The key of the `episode_type` tables: the DfE missing type, or `none` if not looked after."""
    missing_type = episode.dfe_missing_type
    return "none" if missing_type is None else missing_type.value
