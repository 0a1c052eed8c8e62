"""The inbound contract suite: every police-system adapter gets these checks in one line.

`tests/contract/test_inbound.py` builds one suite per registered adapter
(`inbound_contract(adapter)`). The checks read the adapter's own folder (manifest, schema,
fixtures, golden files) and the shared hostile corpus beside this module.
"""

from __future__ import annotations

import contextlib
import json
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml
from lxml import etree
from structlog.testing import capture_logs

from adapters.base import InboundAdapter
from gateway.errors import InboundRejected
from scripts.refresh_golden import golden_json
from tests.contract.bombs import BOMBS, REFUSAL_BOUND_S

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parent / "hostile"
HOSTILE_EXPECTED: dict[str, list[Any]] = {
    k: v
    for k, v in json.loads((HOSTILE / "expectations.json").read_text()).items()
    if not k.startswith("_")
}


def _personal_values(body: bytes, personal: frozenset[str]) -> set[str]:
    try:
        root = etree.fromstring(
            body,
            etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=True),
        )
    except etree.XMLSyntaxError:
        return set()
    if root is None:
        return set()
    return {
        (e.text or "").strip()
        for e in root.iter()
        if isinstance(e.tag, str)
        and etree.QName(e).localname in personal
        and len((e.text or "").strip()) >= 4
    }


def _xsd_enumerations(schema: Path) -> set[str]:
    tree = etree.parse(str(schema))
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    return {str(v) for v in tree.xpath("//xs:enumeration/@value", namespaces=ns)}


def _xsd_element_names(schema: Path) -> set[str]:
    tree = etree.parse(str(schema))
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    return {str(v) for v in tree.xpath("//xs:element/@name", namespaces=ns)}


def _mapping_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        keys = {str(k).casefold() for k in value}
        for child in value.values():
            keys |= _mapping_keys(child)
        return keys
    if isinstance(value, list):
        return set().union(*(_mapping_keys(v) for v in value)) if value else set()
    return set()


def _reject(adapter: InboundAdapter[Any], body: bytes) -> InboundRejected:
    with pytest.raises(InboundRejected) as caught:
        adapter.to_events(adapter.parse(body))
    return caught.value


def inbound_contract(adapter: InboundAdapter[Any]) -> type:
    """A pytest class holding every inbound contract check for `adapter`."""
    folder = adapter.folder
    manifest = tomllib.loads((folder / "manifest.toml").read_text(encoding="utf-8"))
    valid = sorted((folder / "fixtures" / "valid").glob("*.xml"))
    invalid = sorted((folder / "fixtures" / "invalid").glob("*.xml"))
    exemptions: dict[str, str] = manifest.get("exemptions", {})

    class InboundContract:
        """Checks every inbound adapter must pass."""

        def test_manifest_agrees_with_the_adapter(self) -> None:
            """The manifest's name is the folder's and the adapter's, and its files exist."""
            assert isinstance(adapter, InboundAdapter)
            assert manifest["name"] == folder.name == adapter.name
            assert manifest["direction"] == "inbound"
            assert (folder / manifest["schema"]).is_file()
            assert (ROOT / manifest["mapping"]).is_file()
            assert adapter.schema_path.resolve() == (folder / manifest["schema"]).resolve()
            for reason in exemptions.values():
                assert reason.strip(), "every contract exemption needs a reason"

        def test_schema_compiles_in_lxml_and_xmlschema(self) -> None:
            """The XSD compiles for the hot path (lxml) and for error reports (xmlschema)."""
            etree.XMLSchema(etree.parse(str(adapter.schema_path)))
            xmlschema.XMLSchema10(str(adapter.schema_path))

        def test_has_fixtures(self) -> None:
            """There are valid fixtures with goldens and at least 30 invalid fixtures."""
            assert valid, "no valid fixtures"
            assert len(invalid) >= 30, f"only {len(invalid)} invalid fixtures"

        @pytest.mark.parametrize("fixture", valid, ids=[p.stem for p in valid])
        def test_valid_fixture_maps_to_its_golden_events(self, fixture: Path) -> None:
            """Each valid fixture maps to exactly the events in its golden file."""
            golden = folder / "fixtures" / "golden" / f"{fixture.stem}.json"
            assert golden.is_file(), f"no golden file for {fixture.name}"
            assert golden_json(adapter, fixture.read_bytes()) == golden.read_text(encoding="utf-8")

        @pytest.mark.parametrize("fixture", invalid, ids=[p.stem for p in invalid])
        def test_invalid_fixture_fails_with_its_exact_error(self, fixture: Path) -> None:
            """Each invalid fixture is rejected with its expected status, code and location."""
            expected = json.loads(fixture.with_suffix(".expect.json").read_text(encoding="utf-8"))
            error = _reject(adapter, fixture.read_bytes())
            assert (error.status, error.code) == (expected["status"], expected["code"])
            if "path" in expected:
                assert error.errors, "a located error was expected"
                assert error.errors[0].path == expected["path"]
            if "line" in expected:
                assert error.errors[0].line == expected["line"]

        @pytest.mark.parametrize("fixture", invalid, ids=[p.stem for p in invalid])
        def test_errors_never_echo_personal_data(self, fixture: Path) -> None:
            """Error texts carry paths and codes, never the message's personal values."""
            body = fixture.read_bytes()
            error = _reject(adapter, body)
            text = json.dumps([error.detail, [e.as_dict() for e in error.errors]])
            leaked = [v for v in _personal_values(body, adapter.personal_elements) if v in text]
            assert not leaked, f"personal values in the error: {leaked}"

        @pytest.mark.parametrize("name", sorted(HOSTILE_EXPECTED))
        def test_hostile_corpus_is_rejected(self, name: str) -> None:
            """Every file of the shared hostile corpus gets its specific rejection, quickly."""
            status, code = HOSTILE_EXPECTED[name]
            started = time.perf_counter()
            error = _reject(adapter, (HOSTILE / name).read_bytes())
            assert (error.status, error.code) == (status, code)
            assert time.perf_counter() - started < REFUSAL_BOUND_S

        @pytest.mark.parametrize("name", sorted(BOMBS))
        def test_full_size_bombs_are_refused_in_bounded_time(self, name: str) -> None:
            """Bombs as large as the body limit allows get their specific 4xx in milliseconds."""
            build, status, code = BOMBS[name]
            body = build(valid[0].read_bytes())
            started = time.perf_counter()
            error = _reject(adapter, body)
            took = time.perf_counter() - started
            assert (error.status, error.code) == (status, code)
            assert took < REFUSAL_BOUND_S, f"{name} took {took:.2f} s to refuse"

        def test_every_schema_code_has_a_mapping(self) -> None:
            """Every enumeration value of the XSD is a key of the mapping data (or exempt)."""
            keys = _mapping_keys(yaml.safe_load((ROOT / manifest["mapping"]).read_bytes()))
            missing = sorted(
                v
                for v in _xsd_enumerations(adapter.schema_path)
                if v.casefold() not in keys and v not in exemptions
            )
            assert not missing, f"schema codes with no mapping: {missing}"

        @pytest.mark.parametrize("fixture", valid, ids=[p.stem for p in valid])
        def test_parsed_message_names_its_source(self, fixture: Path) -> None:
            """The message and its events carry the adapter's name as their source."""
            message = adapter.parse(fixture.read_bytes())
            assert isinstance(message, adapter.message_type)
            assert message.source == adapter.name
            assert {event.source.source for event in adapter.to_events(message)} == {adapter.name}

        def test_personal_elements_are_in_the_schema(self) -> None:
            """Each element named as personal data is declared by the XSD (no stale names)."""
            declared = _xsd_element_names(adapter.schema_path)
            assert adapter.personal_elements, "name the elements that hold personal data"
            assert not adapter.personal_elements - declared

        @pytest.mark.parametrize("fixture", valid, ids=[p.stem for p in valid])
        def test_mapping_is_deterministic(self, fixture: Path) -> None:
            """Parsing and mapping the same bytes twice gives identical results."""
            body = fixture.read_bytes()
            first, second = adapter.parse(body), adapter.parse(body)
            assert first == second
            assert adapter.to_events(first) == adapter.to_events(second)

        @pytest.mark.parametrize("fixture", valid + invalid, ids=[p.stem for p in valid + invalid])
        def test_no_personal_data_reaches_the_logs(self, fixture: Path) -> None:
            """Whatever the adapter logs while parsing and mapping carries no personal values."""
            body = fixture.read_bytes()
            with capture_logs() as logs, contextlib.suppress(InboundRejected):
                adapter.to_events(adapter.parse(body))
            text = json.dumps(logs, default=str)
            assert not [v for v in _personal_values(body, adapter.personal_elements) if v in text]

    InboundContract.__name__ = f"Test{adapter.name.capitalize()}InboundContract"
    return InboundContract
