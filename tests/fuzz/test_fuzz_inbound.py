"""Fuzzing the inbound adapters with structured mutations of the specs' valid examples.

The hand-written hostile corpus (`tests/contract/hostile/`) covers known XML attacks one file
each; this covers what nobody thought to write: elements dropped, duplicated, reordered or
renamed, text replaced with arbitrary Unicode (control characters included), huge numbers,
impossible and ambiguous dates, attribute noise, then random bytes, truncation, byte-order marks
and other encoding declarations. The adapter must return events that validate as canonical,
or raise an `InboundRejected` subclass with a specific message; anything else is a bug. The
same mutations through `POST /v1/inbound/{source}` must answer 2xx or 4xx with problem JSON.

Bounded for CI; `FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/fuzz` runs longer (README).
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

import mappings
from adapters import compact as compact_adapter
from adapters import merlin as merlin_adapter
from adapters.base import InboundAdapter
from gateway.api.schemas import Receipt
from gateway.canonical import EpisodeEvent
from gateway.errors import InboundRejected
from tests.messages import COMPACT_EXAMPLE, MERLIN_EXAMPLE

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The HTTP target shares one app and database across examples on purpose: resends and
    # conflicts between examples are part of what is fuzzed.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Each injected value is spliced in after serialisation, so it may break well-formedness.
_SLOT = "\ue000{}\ue001"
BIG_NUMBERS = [
    "0",
    "-1",
    "+7",
    "007",
    "2147483648",
    "99999999999999999999999999999999999999",
    "1e309",
    "NaN",
    "٣",  # an Arabic-Indic digit: a digit to Python, not to XSD
    " 1 ",
]
BAD_DATES = [
    "2024-02-30",
    "2023-02-29",
    "2024-13-01T00:00:00Z",
    "2024-05-01T25:00:00+01:00",
    "2024-05-01T21:30:00",  # no offset
    "2024-05-01T21:30:00+15:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "-2024-05-01T21:30:00Z",
    "2099-01-01",
    "31/02/2024",
    "29/02/2023",
    "31/03/2024 01:30",  # the clocks-forward gap: does not exist in Europe/London
    "27/10/2024 01:30",  # the clocks-back hour: occurs twice
    "00/00/0000 00:00",
    "1/1/1 1:1",
    "99/99/9999 99:99:99",
    "01/01/2099 00:00",
    "14/09/1900",
]
ENCODINGS = [
    "UTF-8",
    "utf8",
    "ISO-8859-1",
    "latin1",
    "US-ASCII",
    "windows-1252",
    "UTF-16",
    "UTF-16LE",
    "UTF-32",
    "cp500",
    "UTF-7",
    "no-such-encoding",
]
# Plausible values weigh most: they get past the XSD to the spec's rules and the mapping.
OPS = ["plausible"] * 6 + ["drop", "duplicate", "reorder", "text", "number", "date"]
OPS += ["attribute", "rename"]
BOMS = [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"]


_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UK_DATETIME = re.compile(r"^\d{2}/\d{2}/\d{4} ")
_UK_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
_OFFSETS = [timezone(timedelta(hours=h)) for h in (0, 1, -5, 14)]
# Local times around the Europe/London changes: the gap (31 March) and the fold (27 October).
_DST_EDGES = [datetime(2024, 3, 31, 0, 59), datetime(2024, 3, 31, 1, 30)]
_DST_EDGES += [datetime(2024, 10, 27, 0, 59), datetime(2024, 10, 27, 1, 30)]
_DST_EDGES += [datetime(2024, 10, 27, 2, 0)]


@cache
def vocabulary(schema: str) -> list[str]:
    """Values a sender could plausibly write: the XSD's codes, council names and LA codes."""
    tree = etree.parse(schema)
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    words = {str(v) for v in tree.xpath("//xs:enumeration/@value", namespaces=ns)}
    councils = mappings.load("councils.yaml")["councils"]
    for code, council in councils.items():
        words |= {str(code), council["name"], *council.get("variants", [])}
    return sorted(words)


def _plausible(draw: st.DrawFn, original: str, words: list[str]) -> str:
    """A well-formed value of the same kind as `original`, to get past the XSD to the rules."""
    if _ISO_DATETIME.match(original):
        when = draw(st.datetimes(datetime(1990, 1, 1), datetime(2030, 12, 31)))
        return when.replace(tzinfo=draw(st.sampled_from(_OFFSETS))).isoformat()
    if _ISO_DATE.match(original):
        return draw(st.dates(date(1990, 1, 1), date(2030, 12, 31))).isoformat()
    if _UK_DATETIME.match(original):
        when = draw(st.sampled_from(_DST_EDGES) | st.datetimes(datetime(2000, 1, 1)))
        return when.strftime(draw(st.sampled_from(["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S"])))
    if _UK_DATE.match(original):
        return draw(st.dates(date(1990, 1, 1), date(2030, 12, 31))).strftime("%d/%m/%Y")
    if original.isdigit():
        return str(draw(st.integers(0, 10 ** len(original) - 1))).zfill(len(original))
    return draw(st.sampled_from(words))


@dataclass(frozen=True)
class Mutant:
    """A mutated message and the values spliced into it."""

    body: bytes
    injected: tuple[str, ...]


def _elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str)]


def _mutate_tree(draw: st.DrawFn, root: etree._Element, slots: list[str], words: list[str]) -> None:
    """One structural or textual mutation of the tree, in place."""
    elements = _elements(root)
    # An index, not sampled_from(elements): lxml proxies are recreated, and hypothesis caches
    # strategies by their arguments, which made generation differ between replays.
    target = elements[draw(st.integers(0, len(elements) - 1))]
    parent = target.getparent()
    op = draw(st.sampled_from(OPS))
    if op in {"drop", "duplicate", "reorder"} and parent is not None:
        index = parent.index(target)
        if op == "drop":
            parent.remove(target)
        elif op == "duplicate":
            parent.insert(index + 1, copy.deepcopy(target))
        else:
            parent.insert(draw(st.integers(0, len(parent) - 1)), target)
    elif op == "plausible" and target.text and target.text.strip():
        target.text = _plausible(draw, target.text, words)
    elif op == "plausible" and target.attrib:
        name = draw(st.sampled_from(sorted(target.attrib)))
        target.set(name, _plausible(draw, target.attrib[name], words))
    elif op == "number":
        target.text = draw(st.sampled_from(BIG_NUMBERS) | st.integers().map(str))
    elif op == "date":
        target.text = draw(st.sampled_from(BAD_DATES))
    elif op == "rename":
        namespace = draw(st.sampled_from([etree.QName(target).namespace, None, "urn:other"]))
        target.tag = etree.QName(namespace, draw(st.sampled_from(["Unexpected", "Header", "x"])))
    elif op == "attribute" and target.attrib:
        name = draw(st.sampled_from(sorted(target.attrib)))
        target.set(name, _SLOT.format(len(slots)))
        slots.append(draw(st.text(max_size=40)))
    else:  # text, and the fallback for the root and attribute-less elements
        target.text = _SLOT.format(len(slots))
        slots.append(draw(st.text(max_size=40)))


def _splice(body: bytes, slots: list[str], escape: bool) -> bytes:
    for index, value in enumerate(slots):
        text = value
        if escape:
            text = value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        body = body.replace(_SLOT.format(index).encode(), text.encode("utf-8", "surrogatepass"))
    return body


def _mutate_bytes(draw: st.DrawFn, body: bytes) -> bytes:
    """One byte-level mutation: truncation, noise, a BOM or another encoding declaration."""
    op = draw(st.sampled_from(["truncate", "insert", "overwrite", "declaration", "bom"]))
    at = draw(st.integers(0, len(body)))
    if op == "truncate":
        return body[:at]
    if op == "insert":
        return body[:at] + draw(st.binary(min_size=1, max_size=16)) + body[at:]
    if op == "overwrite":
        noise = draw(st.binary(min_size=1, max_size=16))
        return body[:at] + noise + body[at + len(noise) :]
    if op == "bom":
        return draw(st.sampled_from(BOMS)) + body
    encoding = draw(st.sampled_from(ENCODINGS))
    text = body.decode("utf-8", "replace")
    if text.startswith("<?xml"):  # drop the old declaration, or what a truncation left of it
        end = text.find("?>")
        text = text[end + 2 :] if end >= 0 else ""
    declared = f'<?xml version="1.0" encoding="{encoding}"?>{text}'
    try:  # encoded as declared when Python knows the codec; otherwise a lie about the bytes
        return declared.encode(encoding, "xmlcharrefreplace")
    except LookupError:
        return declared.encode("utf-8")


@st.composite
def mutants(draw: st.DrawFn, adapter: InboundAdapter, example: str) -> Mutant:
    """The example with one to three tree mutations and, sometimes, byte-level damage."""
    root = etree.fromstring(example.encode("utf-8"))  # trusted: the spec's own example
    words = vocabulary(str(adapter.schema_path))
    slots: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        _mutate_tree(draw, root, slots, words)
    declaration = draw(st.booleans())
    serialised = etree.tostring(root, xml_declaration=declaration, encoding="UTF-8")
    body = _splice(serialised, slots, escape=draw(st.booleans()))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # mostly intact bytes: reach the rules
        body = _mutate_bytes(draw, body)
    return Mutant(body, tuple(slots))


def _echoed(value: str) -> bool:
    """Whether an injected value is distinctive enough to look for in an error message."""
    return len(value.strip()) >= 12 and len(set(value)) >= 6


def check_adapter(adapter: InboundAdapter, mutant: Mutant) -> None:
    """Canonical events out, or a specific `InboundRejected` that quotes nothing injected."""
    try:
        message = adapter.parse(mutant.body)
        events = adapter.to_events(message)
    except InboundRejected as exc:
        event(f"rejected: {exc.code}")  # shown by --hypothesis-show-statistics
        assert type(exc) is not InboundRejected, "rejected without saying what kind of problem"
        assert exc.detail.strip(), f"{type(exc).__name__} with an empty detail"
        if exc.status == 422:
            assert exc.errors, f"a 422 ({exc.code}) without located errors"
            assert all(e.path.startswith("/") and e.message.strip() for e in exc.errors)
        said = " ".join([exc.detail, *(e.message for e in exc.errors)])
        leaked = [v for v in mutant.injected if _echoed(v) and v in said]
        assert not leaked, f"the error quotes values from the message: {leaked!r}"
        return
    event("accepted")
    assert events, "an accepted message mapped to no events"
    for mapped in events:
        assert EpisodeEvent.model_validate_json(mapped.model_dump_json()) == mapped


@FUZZ
@given(mutant=mutants(merlin_adapter.ADAPTER, MERLIN_EXAMPLE))
def test_merlin_adapter_survives_mutations(mutant: Mutant) -> None:
    """Mutated MERLIN notifications map to canonical events or are rejected precisely."""
    check_adapter(merlin_adapter.ADAPTER, mutant)


@FUZZ
@given(mutant=mutants(compact_adapter.ADAPTER, COMPACT_EXAMPLE))
def test_compact_adapter_survives_mutations(mutant: Mutant) -> None:
    """Mutated COMPACT exports map to canonical events or are rejected precisely."""
    check_adapter(compact_adapter.ADAPTER, mutant)


def check_endpoint(client: TestClient, source: str, body: bytes, key: dict[str, str]) -> None:
    """The endpoint answers a receipt (2xx) or problem JSON (4xx), never a server error."""
    response = client.post(
        f"/v1/inbound/{source}", content=body, headers={"Content-Type": "application/xml", **key}
    )
    assert response.status_code < 500, response.text
    if response.status_code < 300:
        Receipt.model_validate(response.json())
        return
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == response.status_code and problem["detail"].strip()


@pytest.mark.parametrize(
    ("adapter", "example"),
    [(merlin_adapter.ADAPTER, MERLIN_EXAMPLE), (compact_adapter.ADAPTER, COMPACT_EXAMPLE)],
    ids=["merlin", "compact"],
)
def test_inbound_endpoint_survives_mutations(
    client: TestClient, operator: dict[str, str], adapter: InboundAdapter, example: str
) -> None:
    """Mutated messages through HTTP get 2xx or a 4xx problem, on SQLite and PostgreSQL."""

    @settings(FUZZ, max_examples=max(10, EXAMPLES // 3))
    @given(mutant=mutants(adapter, example))
    def post(mutant: Mutant) -> None:
        check_endpoint(client, adapter.name, mutant.body, operator)

    post()
