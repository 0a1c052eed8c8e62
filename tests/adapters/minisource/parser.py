"""Parse a minisource report: hardened parse, XSD, then two rules of its own; pure."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from lxml import etree

from adapters import xml
from adapters.base import SourceMessage
from gateway.canonical import normalise_postcode
from gateway.errors import ErrorLocation, SemanticInvalid

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "minisource-1.xsd"
_NS = "{urn:minisource:report:1}"


class MinisourceMessage(SourceMessage):
    """A parsed minisource report: the header fields and the report's values, as written."""

    fields: dict[str, str]
    address_lines: list[str]


def parse(body: bytes) -> MinisourceMessage:
    """Parse, validate and check one report.

    Raises:
        gateway.errors.InboundRejected: a subclass saying what is wrong and where.
    """
    parsed = xml.parse(body)
    xml.load_schema(SCHEMA_PATH).validate(parsed)
    elements = {e.tag.removeprefix(_NS): e for e in parsed.root.iter() if isinstance(e.tag, str)}
    fields = {name: (e.text or "").strip() for name, e in elements.items() if len(e) == 0}
    _check(fields, elements, parsed)
    return MinisourceMessage(
        source="minisource",
        message_id=fields["MessageId"],
        force=fields["Force"],
        reference=fields["Reference"],
        version=int(fields["Version"]),
        sent_at=datetime.fromisoformat(fields["SentAt"]).astimezone(UTC),
        c14n_sha256=parsed.c14n_sha256,
        fields=fields,
        address_lines=[(e.text or "").strip() for e in parsed.root.iter(f"{_NS}AddressLine")],
    )


def _check(
    fields: dict[str, str], elements: dict[str, etree._Element], parsed: xml.ParsedXml
) -> None:
    sent = datetime.fromisoformat(fields["SentAt"])
    problems: list[tuple[str, str, str]] = []
    if date.fromisoformat(fields["DateOfBirth"]) > sent.date():
        problems.append(("date-of-birth-in-future", "DateOfBirth", "DateOfBirth is after SentAt"))
    if datetime.fromisoformat(fields["LastSeenAt"]) > sent:
        problems.append(("last-seen-after-sent", "LastSeenAt", "LastSeenAt is after SentAt"))
    if normalise_postcode(fields["Postcode"]) is None:
        problems.append(("invalid-postcode", "Postcode", "Postcode is not a UK postcode"))
    if problems:
        located: list[ErrorLocation] = [
            xml.locate(elements[name], parsed, message) for _, name, message in problems
        ]
        raise SemanticInvalid(
            f"{len(located)} semantic error(s); first at {located[0].path}",
            located,
            code=problems[0][0],
        )
