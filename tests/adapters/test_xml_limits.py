"""The hardened parser's document limits, its lazy canonical hash and its error budget."""

from __future__ import annotations

import pytest
from lxml import etree

from adapters import merlin, xml
from gateway.errors import MalformedXml, SchemaInvalid
from tests.messages import merlin as merlin_message


def _elements(count: int) -> bytes:
    return b"<r>" + b"<a/>" * (count - 1) + b"</r>"


def _attributes(count: int) -> bytes:
    return ("<r " + " ".join(f'a{i}="x"' for i in range(count)) + "/>").encode()


def _namespaces(count: int) -> bytes:
    return ("<r " + " ".join(f'xmlns:p{i}="urn:p:{i}"' for i in range(count)) + "/>").encode()


@pytest.mark.parametrize(
    ("build", "limit", "code"),
    [
        (_elements, xml.MAX_ELEMENTS, "too-many-elements"),
        (_attributes, xml.MAX_ATTRIBUTES, "too-many-attributes"),
        (_namespaces, xml.MAX_NAMESPACES, "too-many-namespaces"),
    ],
)
def test_each_limit_is_inclusive_and_one_more_is_refused(build, limit, code):
    """A document at a limit parses; one over it is refused with the limit's own code."""
    xml.parse(build(limit))
    with pytest.raises(MalformedXml) as refused:
        xml.parse(build(limit + 1))
    assert (refused.value.status, refused.value.code) == (400, code)


def test_attributes_are_counted_across_the_whole_document():
    """The attribute limit is per document, not per element."""
    body = b"<r>" + b'<a x="1" y="2"/>' * (xml.MAX_ATTRIBUTES // 2 + 1) + b"</r>"
    with pytest.raises(MalformedXml, match="attributes"):
        xml.parse(body)


@pytest.mark.parametrize(
    "declaration",
    [b'xmlns="relative"', b"xmlns:x='../up'", b'xmlns:x="a&#58;b"', b'xmlns:x = "#frag"'],
)
def test_a_relative_namespace_uri_is_refused(declaration):
    """C14N fails on a relative namespace URI (or one it cannot tell is absolute)."""
    with pytest.raises(MalformedXml) as refused:
        xml.parse(b"<r " + declaration + b"/>")
    assert refused.value.code == "relative-namespace-uri"


@pytest.mark.parametrize(
    "declaration", [b'xmlns=""', b'xmlns:x="urn:a:b"', b'xmlns:y="https://example.org/ns"']
)
def test_absolute_and_empty_namespace_uris_are_accepted(declaration):
    """Absolute URIs, and the empty one that undeclares the default namespace, parse."""
    xml.parse(b'<r xmlns:z="urn:z"><a ' + declaration + b"/></r>")


def test_the_hash_waits_until_the_schema_has_accepted_the_document(monkeypatch):
    """A document the schema refuses is never canonicalised (C14N is the costly step)."""

    def no_c14n(*args, **kwargs):
        if kwargs.get("method") == "c14n":
            raise AssertionError("canonicalised before the schema check")
        return real(*args, **kwargs)

    real = etree.tostring
    monkeypatch.setattr(etree, "tostring", no_c14n)
    invalid = merlin_message(("<ReportVersion>1<", "<ReportVersion>one<"))
    with pytest.raises(SchemaInvalid):
        merlin.ADAPTER.parse(invalid)


def test_a_document_libxml2_cannot_canonicalise_is_a_specific_400(monkeypatch):
    """A C14N failure is a located refusal of the message, not a server error."""

    def fail(*args, **kwargs):
        raise etree.C14NError("C14N failed")

    document = xml.parse(b'<r xmlns="urn:r"/>')
    monkeypatch.setattr(etree, "tostring", fail)
    with pytest.raises(MalformedXml) as refused:
        _ = document.c14n_sha256
    assert refused.value.code == "not-canonicalisable"


def test_explaining_a_rejection_stops_when_its_budget_is_spent(monkeypatch):
    """Precise errors are collected only while the budget lasts (then lxml's log speaks)."""
    factors = "".join('<Factor code="NOPE"/>' for _ in range(30))
    invalid = merlin_message(('<Factor code="COUNTY_LINES"/>', factors))
    with pytest.raises(SchemaInvalid) as full:
        merlin.ADAPTER.parse(invalid)
    assert len(full.value.errors) == 20
    monkeypatch.setattr(xml, "EXPLAIN_BUDGET_S", 0.0)
    with pytest.raises(SchemaInvalid) as hurried:
        merlin.ADAPTER.parse(invalid)
    assert len(hurried.value.errors) == 1
    assert hurried.value.errors[0].path.endswith("Factor[1]")
