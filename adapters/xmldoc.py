"""Building the XML documents the XML case systems receive, and checking them against an XSD.

Renderers append elements with `sub`, `sub_optional` and `sub_nil`, serialise with `xml_bytes`
and validate with `validate_xml` before returning; a document breaking its schema is refused as
`PermanentDelivery` naming where, never the values. The tree is validated as built: our own
tree needs no hardened re-parse of its bytes, which only a refused document gets, for the
located error report.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from adapters import xml
from gateway.errors import InboundRejected, PermanentDelivery

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """Append a child element in the parent's namespace, with optional text.

    Raises:
        PermanentDelivery: the text holds characters that XML 1.0 cannot carry.
    """
    namespace = etree.QName(parent).namespace
    child = etree.SubElement(parent, f"{{{namespace}}}{tag}" if namespace else tag)
    if text is not None:
        try:
            child.text = text
        except ValueError as exc:  # control characters: XML 1.0 cannot carry them
            raise PermanentDelivery(f"the text of {tag} holds characters XML cannot carry") from exc
    return child


def sub_nil(parent: etree._Element, tag: str) -> etree._Element:
    """Append an empty child element marked `xsi:nil="true"`: present, value not known."""
    child = sub(parent, tag)
    child.set(XSI_NIL, "true")
    return child


def sub_optional(parent: etree._Element, tag: str, text: str | None) -> None:
    """Append a child element only when there is a value for it."""
    if text is not None:
        sub(parent, tag, text)


def xml_bytes(root: etree._Element) -> bytes:
    """Serialise a rendered document: UTF-8, declared, indented (golden diffs stay readable)."""
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def validate_xml(root: etree._Element, body: bytes, schema_path: Path, system: str) -> None:
    """Validate a rendered XML payload against its XSD: its tree, and if refused, its bytes.

    The bytes are what is sent, so they decide; parsing them (with the hardened parser) also
    gives the located error report.

    Raises:
        PermanentDelivery: the payload breaks the schema (the reason names where, not values).
    """
    schema = xml.load_schema(schema_path)
    if schema.lxml_schema.validate(root):
        return
    try:
        schema.validate(xml.parse(body))
    except InboundRejected as exc:
        where = exc.errors[0].path if exc.errors else "/"
        message = exc.errors[0].message if exc.errors else exc.detail
        raise PermanentDelivery(
            f"{system} payload breaks its schema at {where}: {message}"
        ) from exc
