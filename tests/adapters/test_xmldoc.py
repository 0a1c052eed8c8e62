"""Rendered XML is checked against its XSD as built; only a refused document is re-parsed."""

from __future__ import annotations

import pytest
from lxml import etree

from adapters import xml
from adapters.fwi import renderer
from adapters.xmldoc import validate_xml, xml_bytes
from gateway.errors import PermanentDelivery
from tests.contract.canonical_cases import CASES


def _rendered() -> etree._Element:
    return etree.fromstring(renderer.render(CASES["found"]).body)


def test_a_valid_tree_is_accepted_without_parsing_its_bytes(monkeypatch):
    """The hot path validates the tree: the hardened parser is not run on our own output."""
    root = _rendered()
    monkeypatch.setattr(xml, "parse", lambda body: pytest.fail("re-parsed a valid document"))
    validate_xml(root, xml_bytes(root), renderer.SCHEMA_PATH, "fwi")


def test_a_tree_breaking_the_schema_is_refused_where_not_with_what():
    """A refused document is located from its bytes, and the reason carries no value."""
    root = _rendered()
    born = root.find(f".//{{{renderer.NS}}}DateOfBirth")
    assert born is not None
    born.text = "Testchild-secret-value"
    with pytest.raises(PermanentDelivery, match="fwi payload breaks its schema at /") as caught:
        validate_xml(root, xml_bytes(root), renderer.SCHEMA_PATH, "fwi")
    assert "DateOfBirth" in str(caught.value)
    assert "secret" not in str(caught.value).lower()


def test_the_bytes_decide_when_the_tree_is_refused(monkeypatch):
    """Should the tree and its bytes ever disagree, the bytes (what is sent) decide."""
    root = _rendered()
    real = xml.load_schema(renderer.SCHEMA_PATH)

    class RefusingTheTree:
        error_log = real.lxml_schema.error_log

        def validate(self, tree: etree._Element) -> bool:
            return tree is not root and real.lxml_schema.validate(tree)

    schema = xml.Schema(real.path, RefusingTheTree())  # type: ignore[arg-type]
    monkeypatch.setattr(xml, "load_schema", lambda path: schema)
    parsed: list[bytes] = []
    real_parse = xml.parse
    monkeypatch.setattr(xml, "parse", lambda body: parsed.append(body) or real_parse(body))
    body = xml_bytes(root)
    validate_xml(root, body, renderer.SCHEMA_PATH, "fwi")
    assert parsed == [body]
