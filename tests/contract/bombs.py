"""Full-size hostile documents, built on demand (the corpus files are small cousins of these).

Each is what an attacker with one police key can send under the default 1 MiB body limit, and
each costs more than in proportion to its size unless the parser's limits stop it first: C14N
over many namespaces or attributes, a schema's error log and xmlschema over many elements
(docs/decisions/0022 has the figures).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# How long the hardened parser may take to refuse one of these, in process. Refusals take
# milliseconds; the margin is for a loaded machine.
REFUSAL_BOUND_S = 2.0


def attribute_bomb(count: int = 50_000) -> bytes:
    """One element with `count` attributes (about 540 KB for 50 000)."""
    return ("<r " + " ".join(f'a{i}="x"' for i in range(count)) + "/>").encode()


def with_root_attributes(document: bytes, attributes: str) -> bytes:
    """`document` with `attributes` added to its root element's start tag."""
    match = re.search(rb"<(?![?!])[^\s/>]+", document)
    assert match is not None, "no root element"
    return document[: match.end()] + b" " + attributes.encode() + document[match.end() :]


def namespace_bomb(document: bytes, count: int = 30_000) -> bytes:
    """`document` (a valid message) whose root declares `count` more namespaces."""
    declarations = " ".join(f'xmlns:p{i}="urn:example:p{i}"' for i in range(count))
    return with_root_attributes(document, declarations)


def element_bomb(size: int = 1_040_000) -> bytes:
    """Empty elements filling a body just under the default 1 MiB limit."""
    return b"<r>" + b"<a/>" * ((size - 7) // 4) + b"</r>"


def relative_namespace(document: bytes) -> bytes:
    """`document` (a valid message) that also declares a prefix for a relative URI."""
    return with_root_attributes(document, 'xmlns:x="relative/uri"')


# name -> (build from a valid message of the source, expected status, problem code)
BOMBS: dict[str, tuple[Callable[[bytes], bytes], int, str]] = {
    "attribute_bomb": (lambda _valid: attribute_bomb(), 400, "too-many-attributes"),
    "namespace_bomb": (namespace_bomb, 400, "too-many-namespaces"),
    "element_bomb": (lambda _valid: element_bomb(), 400, "too-many-elements"),
    "relative_namespace": (relative_namespace, 400, "relative-namespace-uri"),
}
