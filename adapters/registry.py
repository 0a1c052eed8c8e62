"""The adapter registry: the only list of police sources and case systems.

One line per adapter folder, explicit imports, and an error on a duplicate or unfit name.
Everything that names adapters derives from these two mappings: the inbound routes and the
receipt's `source` values, routing's system names and credential variables, the simulators
mounted under `/sim/<name>`, the golden-refresh scripts and the contract suites.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from adapters import compact, fwi, merlin, mosaic, protocol, xml
from adapters.base import InboundAdapter, OutboundAdapter
from gateway.canonical import SOURCE_NAME

A = TypeVar("A", InboundAdapter[Any], OutboundAdapter)
_NAME = re.compile(SOURCE_NAME)  # a URL segment that fits the String(16) name columns


def by_name(*adapters: A) -> Mapping[str, A]:
    """The adapters by name, in the order given.

    Raises:
        ValueError: two adapters share a name, or a name is not a short lower-case word.
    """
    index: dict[str, A] = {}
    for adapter in adapters:
        if not _NAME.match(adapter.name):
            raise ValueError(f"adapter name {adapter.name!r} does not match {SOURCE_NAME}")
        if adapter.name in index:
            raise ValueError(f"two adapters are registered as {adapter.name!r}")
        index[adapter.name] = adapter
    return index


INBOUND: Mapping[str, InboundAdapter[Any]] = by_name(
    merlin.ADAPTER,
    compact.ADAPTER,
)
OUTBOUND: Mapping[str, OutboundAdapter] = by_name(
    mosaic.ADAPTER,
    fwi.ADAPTER,
    protocol.ADAPTER,
)


class Registered:
    """Pydantic metadata for a `str` that must name a registered adapter.

    Both the check and the published schema (an enum of the names) read the registry when
    they run, not when a model is defined, so the registry stays the only list.
    """

    def __init__(self, names: Callable[[], Mapping[str, object]], kind: str) -> None:
        self.names = names
        self.kind = kind

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """The `str` schema followed by the registry check."""
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """A string enum of the names registered now."""
        return {"enum": list(self.names()), "type": "string"}  # as pydantic shows a Literal

    def check(self, value: str) -> str:
        """`value` itself when it is registered.

        Raises:
            ValueError: it is not, naming the ones that are.
        """
        if value not in self.names():
            raise ValueError(f"unknown {self.kind} {value!r} (known: {', '.join(self.names())})")
        return value


SourceName = Annotated[str, Registered(lambda: INBOUND, "police source")]
SystemName = Annotated[str, Registered(lambda: OUTBOUND, "case system")]


def compile_inbound_schemas() -> None:
    """Compile every inbound XSD now (they are cached), so no first message waits for it."""
    for adapter in INBOUND.values():
        xml.load_schema(adapter.schema_path)
