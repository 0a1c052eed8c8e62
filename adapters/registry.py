"""The adapter registry: explicit imports, one entry per folder, an error on a duplicate name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from adapters import compact, fwi, merlin, mosaic, protocol, xml
from adapters.base import InboundAdapter, OutboundAdapter

T = TypeVar("T", InboundAdapter, OutboundAdapter)


def _index(adapters: Iterable[T]) -> Mapping[str, T]:
    index: dict[str, T] = {}
    for adapter in adapters:
        name = str(adapter.name)
        if name in index:
            raise ValueError(f"two adapters are registered as {name!r}")
        index[name] = adapter
    return index


INBOUND: Mapping[str, InboundAdapter] = _index([merlin.ADAPTER, compact.ADAPTER])
OUTBOUND: Mapping[str, OutboundAdapter] = _index([mosaic.ADAPTER, fwi.ADAPTER, protocol.ADAPTER])


def compile_inbound_schemas() -> None:
    """Compile every inbound XSD now (they are cached), so no first message waits for it."""
    for adapter in INBOUND.values():
        xml.load_schema(adapter.schema_path)
