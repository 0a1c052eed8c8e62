"""Completeness: the XSD's code lists and mappings/merlin.yaml agree value for value."""

from __future__ import annotations

import re

from lxml import etree

import mappings
from adapters.merlin import ADAPTER, mapping
from gateway.canonical import Condition

XS = {"xs": "http://www.w3.org/2001/XMLSchema"}


def enumerated_types() -> dict[str, list[str]]:
    """Every named simple type of the XSD that has enumeration values, with its values."""
    tree = etree.parse(str(ADAPTER.schema_path))
    types: dict[str, list[str]] = {}
    for simple in tree.iterfind(".//xs:simpleType[@name]", XS):
        values = [
            str(v) for v in simple.xpath("xs:restriction/xs:enumeration/@value", namespaces=XS)
        ]
        if values:
            types[simple.get("name", "")] = values
    return types


def table_name(type_name: str) -> str:
    """`RiskFactorCode` -> `risk_factor`: the YAML table of an XSD code list."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type_name.removesuffix("Code")).lower()


def test_only_code_lists_are_enumerated() -> None:
    """Every enumerated simple type is a code list named `...Code` (fixed values use patterns)."""
    others = sorted(name for name in enumerated_types() if not name.endswith("Code"))
    assert not others, f"enumerated types not named ...Code: {others}"


def test_every_xsd_code_has_a_row_in_its_table() -> None:
    """Each value of each XSD code list has a row in the table of the same name."""
    data = mappings.load(mapping.MAPPING_FILE)
    missing = [
        f"{table_name(name)}: {value}"
        for name, values in enumerated_types().items()
        for value in values
        if value not in (data.get(table_name(name)) or {})
    ]
    assert not missing, f"XSD codes with no row in mappings/merlin.yaml: {missing}"


def test_every_row_is_a_code_the_xsd_allows() -> None:
    """No table holds a row (or the file a table) the XSD cannot produce."""
    allowed = {table_name(name): set(values) for name, values in enumerated_types().items()}
    data = mappings.load(mapping.MAPPING_FILE)
    stale = [
        f"{table}: {code}"
        for table, rows in data.items()
        for code in rows
        if code not in allowed.get(table, set())
    ]
    assert not stale, f"rows in mappings/merlin.yaml the XSD does not allow: {stale}"


def test_the_tables_load_into_canonical_values() -> None:
    """Loading the YAML checks every value against its canonical list, for every table."""
    tables = mapping.tables()
    assert set(tables.__dataclass_fields__) == {table_name(n) for n in enumerated_types()}
    assert tables.risk_level.rows["VERY_LOW"] == tables.risk_level.rows["NO_APPARENT_RISK"]


def test_found_conditions_map_as_the_canonical_list_says() -> None:
    """Each MERLIN Condition has its canonical twin; UNKNOWN is not known, never concerns."""
    assert mapping.tables().condition.rows == {
        "SAFE_WELL": Condition.SAFE_AND_WELL,
        "INJURED": Condition.INJURED,
        "HOSPITAL": Condition.HOSPITAL,
        "CUSTODY": Condition.IN_CUSTODY,
        "DECEASED": Condition.DECEASED,
        "UNKNOWN": Condition.NOT_KNOWN,
    }
