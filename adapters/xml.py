"""The one hardened XML parser and schema cache every adapter uses (docs/architecture.md).

Untrusted bytes go through `parse()` only: no DTD (a DOCTYPE is refused outright), no entity
expansion, no network, no huge-tree mode (libxml2 then caps depth at 256 and text nodes at
10 MB), comments and processing instructions dropped. Only UTF-8 and ISO-8859-1 are accepted,
so the byte-level DOCTYPE scan cannot be dodged with a UTF-16 or EBCDIC body.

Every later step must cost time in proportion to the body, which is bounded before it is read:
namespace declarations (counted, and each URI absolute) are checked on the bytes, elements,
attributes and depth in one walk of the tree, all before anything that grows faster than the
document (C14N over many in-scope namespaces, a schema's error log over many elements). The
canonical hash is computed only when asked for, after the schema has accepted the document
(docs/decisions/0022).

Validation is two-speed: lxml's compiled XSD on the hot path, and only for a document that
fails it, xmlschema to produce precise errors (path, line, column, message). Error messages are
scrubbed of the offending values, which may be personal data.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

from gateway.errors import ErrorLocation, MalformedXml, SchemaInvalid

_ALLOWED_ENCODINGS = {"utf-8", "utf8", "iso-8859-1", "iso8859-1", "latin-1", "latin1"}
_DECLARATION = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)
# A namespace declaration as written in a start tag (an attribute is always preceded by white
# space; its value never holds '<'). Like the DOCTYPE scan, the namespace checks also count
# such text in character data, which no sender has a reason to write.
_NS_DECLARATION = re.compile(rb"""\sxmlns(?::[^\s=/>]*)?\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")
_ABSOLUTE_URI = re.compile(rb"^[A-Za-z][A-Za-z0-9+.-]*:")
_NS = re.compile(r"\{[^{}]*:[^{}]*\}")  # {urn:...}Name; leaves regex counts like {2} alone
_PY_CODECS = {"utf-8": "utf-8", "utf8": "utf-8"}  # every other accepted name is Latin-1
MAX_DEPTH = 32
# Per document. The largest valid fixture has 76 elements, 6 attributes and 1 declaration.
MAX_ELEMENTS = 2_000
MAX_ATTRIBUTES = 2_000
MAX_NAMESPACES = 16
# Wall-clock time xmlschema may spend explaining a rejection before lxml's own log is used.
EXPLAIN_BUDGET_S = 0.5
_MAX_ERRORS = 20  # located errors in one 422


def _parser() -> etree.XMLParser:
    # Explicit settings, never lxml's defaults: docs/architecture.md
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        remove_blank_text=True,  # indentation is not content: a re-indented resend is a duplicate
        collect_ids=False,
    )


@dataclass(frozen=True)
class ParsedXml:
    """A parsed, hardened document; the hash of its canonical form is computed on first use."""

    root: etree._Element
    encoding: str
    body: bytes

    @cached_property
    def c14n_sha256(self) -> str:
        """SHA-256 of the document's Canonical XML 1.0 form (docs/decisions/0004).

        Ask for it only after the schema has accepted the document: the cost of C14N grows
        with elements times namespaces in scope, which only the limits of `parse` bound.
        libxml2's C14N is native and fast; the same document in UTF-8 or Latin-1 hashes the
        same.

        Raises:
            MalformedXml: libxml2 cannot canonicalise the document.
        """
        try:
            canonical = etree.tostring(self.root, method="c14n")
        except etree.C14NError as exc:
            raise MalformedXml(
                "the document cannot be canonicalised (C14N 1.0)", code="not-canonicalisable"
            ) from exc
        return hashlib.sha256(canonical).hexdigest()

    @cached_property
    def _lines(self) -> list[str]:
        return self.body.decode(_PY_CODECS.get(self.encoding, "utf-8"), "replace").splitlines()

    def source_line(self, number: int) -> str:
        """The text of 1-based line `number` of the original document ('' if none)."""
        lines = self._lines  # decoded once, however many errors are located
        return lines[number - 1] if 0 < number <= len(lines) else ""


def _check_encoding(body: bytes) -> str:
    # Byte-order marks, EBCDIC, and a NUL among the first bytes (UTF-16/32 without a mark).
    if body.startswith((b"\xfe\xff", b"\xff\xfe", b"\x4c\x6f\xa7\x94")) or b"\x00" in body[:4]:
        raise MalformedXml(
            "only UTF-8 and ISO-8859-1 documents are accepted", code="unsupported-encoding"
        )
    body = body.removeprefix(b"\xef\xbb\xbf")
    match = _DECLARATION.match(body)
    if match is None:
        return "utf-8"
    encoding = match.group(1).decode("ascii").lower()
    if encoding not in _ALLOWED_ENCODINGS:
        raise MalformedXml(
            f"encoding {encoding!r} is not accepted; use UTF-8 or ISO-8859-1",
            code="unsupported-encoding",
        )
    return encoding


def _check_namespaces(body: bytes) -> None:
    """Refuse too many namespace declarations, or one whose URI is relative (C14N cannot)."""
    # Every declaration spells `xmlns`; counting the word (in C) bounds the declarations, and
    # the scan below then runs over at most that many, whatever the body holds.
    if body.count(b"xmlns") > MAX_NAMESPACES:
        raise MalformedXml(
            f"more than {MAX_NAMESPACES} namespace declarations", code="too-many-namespaces"
        )
    for match in _NS_DECLARATION.finditer(body):
        uri = match.group(1) if match.group(1) is not None else match.group(2)
        if uri and not _ABSOLUTE_URI.match(uri):
            raise MalformedXml(
                "a namespace URI must be absolute (e.g. urn:... or https://...)",
                code="relative-namespace-uri",
            )


def _check_structure(root: etree._Element) -> None:
    """One walk: refuse deep nesting, too many elements or too many attributes, early."""
    depth = elements = attributes = 0
    for action, element in etree.iterwalk(root, events=("start", "end")):
        if action == "end":
            depth -= 1
            continue
        depth += 1
        elements += 1
        attributes += len(element.attrib)
        if depth > MAX_DEPTH:
            raise MalformedXml(
                f"elements nested deeper than {MAX_DEPTH} levels", code="nesting-too-deep"
            )
        if elements > MAX_ELEMENTS:
            raise MalformedXml(f"more than {MAX_ELEMENTS} elements", code="too-many-elements")
        if attributes > MAX_ATTRIBUTES:
            raise MalformedXml(f"more than {MAX_ATTRIBUTES} attributes", code="too-many-attributes")


def parse(body: bytes) -> ParsedXml:
    """Parse untrusted bytes with the hardened parser, within the document limits.

    Raises:
        MalformedXml: not well-formed, a DOCTYPE or entity declaration, an encoding other
            than UTF-8 or ISO-8859-1, more than `MAX_NAMESPACES` namespace declarations or a
            relative namespace URI, nesting deeper than `MAX_DEPTH`, more than
            `MAX_ELEMENTS` elements or `MAX_ATTRIBUTES` attributes.
    """
    encoding = _check_encoding(body)
    if _DOCTYPE.search(body) or _ENTITY.search(body):
        raise MalformedXml(
            "a DOCTYPE or entity declaration is not allowed", code="doctype-forbidden"
        )
    _check_namespaces(body)
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        if "Excessive depth" in str(exc.msg):
            raise MalformedXml(
                f"elements nested deeper than {MAX_DEPTH} levels", code="nesting-too-deep"
            ) from exc
        raise MalformedXml(
            f"not well-formed XML at line {line}, column {column}: {_scrub_syntax(exc.msg)}",
            [ErrorLocation(path="/", line=line, column=column, message=_scrub_syntax(exc.msg))],
        ) from exc
    if root.getroottree().docinfo.doctype:
        raise MalformedXml("a DOCTYPE is not allowed", code="doctype-forbidden")
    _check_structure(root)
    return ParsedXml(root=root, encoding=encoding, body=body)


def _scrub_syntax(message: str) -> str:
    # libxml2 syntax errors name constructs, not content, but keep them short and single-line.
    return message.splitlines()[0][:200] if message else "syntax error"


@dataclass(frozen=True, slots=True)
class Schema:
    """A compiled XSD: lxml for speed, xmlschema (loaded lazily) for precise error reports."""

    path: Path
    lxml_schema: etree.XMLSchema

    def validate(self, doc: ParsedXml) -> None:
        """Validate a parsed document; raise `SchemaInvalid` with located, value-free errors."""
        if self.lxml_schema.validate(doc.root):
            return
        errors = _precise_errors(self.path, doc)
        if not errors:  # xmlschema agreed with nothing lxml said: fall back to lxml's log
            errors = [
                ErrorLocation(
                    path=_element_path(None),
                    line=entry.line,
                    column=entry.column or None,
                    message=_scrub_lxml(entry.message),
                )
                for entry in itertools.islice(self.lxml_schema.error_log, _MAX_ERRORS)
            ]
        first = errors[0]
        raise SchemaInvalid(
            f"{len(errors)} schema error(s); first at {first.path}: {first.message}", errors
        )


# libxml2's schema compiler is not safe to run in two threads at once (seen as "Internal
# error: xmlSchemaPValAttrNodeValue" when the first requests arrive together): one at a time.
# Validation with a compiled schema is thread-safe (lxml makes a context per call).
_COMPILING = threading.RLock()


@cache
def load_schema(path: Path) -> Schema:
    """Compile an XSD once per process (schemas are trusted files shipped with the adapters)."""
    with _COMPILING:
        doc = etree.parse(str(path), _schema_parser())
        return Schema(path=path, lxml_schema=etree.XMLSchema(doc))


def _schema_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@cache
def _xmlschema(path: Path) -> Any:
    with _COMPILING:
        return xmlschema.XMLSchema10(str(path), defuse="always", allow="sandbox")


def _precise_errors(path: Path, doc: ParsedXml) -> list[ErrorLocation]:
    """Up to `_MAX_ERRORS` located errors, as many as xmlschema finds within its budget.

    xmlschema is pure Python: its time grows with the document, and it is the one step a
    refused document can make slow. Errors found when `EXPLAIN_BUDGET_S` has passed are kept
    and the search ends (an empty list: the caller reports lxml's errors instead).
    """
    schema = _xmlschema(path)
    deadline = time.monotonic() + EXPLAIN_BUDGET_S
    found: list[ErrorLocation] = []
    # xmlschema accepts lxml trees (ElementProtocol); its stubs only name ElementTree's types.
    tree: Any = etree.ElementTree(doc.root)
    resource = xmlschema.XMLResource(tree, allow="none", defuse="always")
    for error in schema.iter_errors(resource):
        element = error.elem if isinstance(error.elem, etree._Element) else None
        reason = _scrub_value(str(error.reason or error.message), error.obj)
        found.append(
            ErrorLocation(
                path=_element_path(element) if element is not None else _strip_ns(str(error.path)),
                line=element.sourceline if element is not None else error.sourceline,
                column=_column(element, doc),
                message=reason,
            )
        )
        if len(found) >= _MAX_ERRORS or time.monotonic() > deadline:
            break
    return found


def _element_path(element: etree._Element | None) -> str:
    """`/Root/Child/Leaf` by local names (with `[n]` where a name repeats among siblings)."""
    if element is None:
        return "/"
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and c.tag == node.tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def _column(element: etree._Element | None, doc: ParsedXml) -> int | None:
    """1-based column of the element's start tag on its source line (libxml2 keeps only lines)."""
    if element is None or element.sourceline is None:
        return None
    text = doc.source_line(element.sourceline)
    local = etree.QName(element).localname
    match = re.search(rf"<([A-Za-z_][\w.-]*:)?{re.escape(local)}[\s/>]", text)
    return match.start() + 1 if match else None


def _strip_ns(text: str) -> str:
    return _NS.sub("", text)


def _scrub_value(reason: str, value: object) -> str:
    """Remove the offending value (possibly personal data) from an xmlschema reason."""
    reason = _strip_ns(reason)
    if isinstance(value, str) and value.strip():
        for form in (repr(value), f'"{value}"', value):
            reason = reason.replace(form, "<value>")
    return reason.splitlines()[0][:300]


def _scrub_lxml(message: str) -> str:
    message = _strip_ns(message)
    message = re.sub(r"'[^']*' is not a valid value", "the value is not a valid value", message)
    return re.sub(r"The value '[^']*'", "The value", message)[:300]


def locate(element: etree._Element, doc: ParsedXml, message: str) -> ErrorLocation:
    """An `ErrorLocation` for `element` in `doc` (for semantic errors found after validation)."""
    return ErrorLocation(
        path=_element_path(element),
        line=element.sourceline,
        column=_column(element, doc),
        message=message,
    )
