"""The registry and the adapter folders agree (STYLE.md: Home Assistant's hassfest check)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from adapters import registry
from adapters.base import InboundAdapter, OutboundAdapter

ADAPTERS = Path(registry.__file__).parent
FOLDERS = sorted(p.parent for p in ADAPTERS.glob("*/manifest.toml"))


def _manifest(folder: Path) -> dict[str, object]:
    return tomllib.loads((folder / "manifest.toml").read_text(encoding="utf-8"))


def test_every_folder_with_code_has_a_manifest() -> None:
    """An adapter folder without a manifest would escape the contract checks."""
    packages = {p.parent for p in ADAPTERS.glob("*/__init__.py")}
    assert packages == set(FOLDERS), f"folders without manifest.toml: {packages - set(FOLDERS)}"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_each_manifest_is_registered_in_its_direction(folder: Path) -> None:
    """The manifest's name is the folder's, and the registry holds it for its direction."""
    manifest = _manifest(folder)
    assert manifest["name"] == folder.name
    table = registry.INBOUND if manifest["direction"] == "inbound" else registry.OUTBOUND
    assert manifest["direction"] in {"inbound", "outbound"}
    assert folder.name in table, f"{folder.name} is not in the {manifest['direction']} registry"


def test_the_registry_names_only_folders() -> None:
    """Every registered adapter has its folder and satisfies its direction's protocol."""
    names = {f.name for f in FOLDERS}
    assert set(registry.INBOUND) | set(registry.OUTBOUND) <= names
    assert all(isinstance(a, InboundAdapter) for a in registry.INBOUND.values())
    assert all(isinstance(a, OutboundAdapter) for a in registry.OUTBOUND.values())
    assert not set(registry.INBOUND) & set(registry.OUTBOUND)
