"""The registry and the adapter folders agree (in the manner of Home Assistant's hassfest check)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from adapters import mosaic, registry
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
    """The manifest's name is the folder's, and the registry holds that folder's adapter."""
    manifest = _manifest(folder)
    assert manifest["name"] == folder.name
    assert manifest["direction"] in {"inbound", "outbound"}
    table = registry.INBOUND if manifest["direction"] == "inbound" else registry.OUTBOUND
    assert folder.name in table, f"{folder.name} is not in the {manifest['direction']} registry"
    assert table[folder.name].folder == folder.resolve()


def test_the_registry_names_only_folders() -> None:
    """Every registered adapter is its direction's dataclass, from an adapter folder."""
    names = {f.name for f in FOLDERS}
    assert set(registry.INBOUND) | set(registry.OUTBOUND) <= names
    assert all(isinstance(a, InboundAdapter) for a in registry.INBOUND.values())
    assert all(isinstance(a, OutboundAdapter) for a in registry.OUTBOUND.values())
    assert not set(registry.INBOUND) & set(registry.OUTBOUND)


def test_a_duplicate_name_is_refused() -> None:
    """Two adapters under one name cannot both be registered."""
    with pytest.raises(ValueError, match="two adapters are registered as 'mosaic'"):
        registry.by_name(mosaic.ADAPTER, mosaic.ADAPTER)


@pytest.mark.parametrize("name", ["Mosaic", "care-first", "", "a_name_of_17_chars", "9lives"])
def test_an_unfit_name_is_refused(name: str) -> None:
    """A name must be a short lower-case URL segment that fits the name columns."""
    with pytest.raises(ValueError, match="does not match"):
        registry.by_name(dataclasses.replace(mosaic.ADAPTER, name=name))


def test_a_registered_name_type_lists_the_known_names() -> None:
    """An unknown system is refused with the registered ones named; a known one passes."""
    system = TypeAdapter(registry.SystemName)
    assert system.validate_python("fwi") == "fwi"
    with pytest.raises(ValidationError, match=r"unknown case system 'carefirst' \(known: mosaic"):
        system.validate_python("carefirst")
    assert TypeAdapter(registry.SourceName).json_schema() == {
        "enum": ["merlin", "compact"],
        "type": "string",
    }
