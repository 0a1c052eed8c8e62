"""COMPACT parsing: the typed export, identifiers, encodings and the semantic rules."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.compact import ADAPTER
from adapters.compact.model import CompactMessage
from gateway.errors import InboundRejected, MalformedXml, SemanticInvalid

FIXTURES = Path(__file__).resolve().parents[3] / "adapters" / "compact" / "fixtures"
INVALID = sorted((FIXTURES / "invalid").glob("*.xml"))


def body(name: str) -> bytes:
    """The bytes of a valid fixture."""
    return (FIXTURES / "valid" / f"{name}.xml").read_bytes()


def variant(name: str, *replacements: tuple[str, str]) -> bytes:
    """A valid fixture with each `old` (which must occur once) replaced by `new`."""
    text = body(name).decode("utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text.encode("utf-8")


def parse(data: bytes) -> CompactMessage:
    """Parse with the adapter."""
    return ADAPTER.parse(data)


def rejection(data: bytes) -> InboundRejected:
    """The rejection of `data` by parse or to_events (it must be rejected)."""
    with pytest.raises(InboundRejected) as caught:
        ADAPTER.to_events(ADAPTER.parse(data))
    return caught.value


def utc(text: str) -> datetime:
    """An aware UTC datetime from a naive ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_spec_example_times_are_converted_from_london_time() -> None:
    """The spec example's ambiguous 01:30 and 01:40 are the first (BST) occurrences."""
    message = parse(body("spec_example"))
    assert message.sent_at == utc("2024-10-27T00:40:00")
    assert message.case.current_risk.assessed_at == utc("2024-10-27T00:30:00")
    assert message.case.timeline.reported_at == utc("2024-10-27T00:05:00")
    assert message.case.timeline.last_seen_at == utc("2024-10-26T22:15:00")


def test_source_message_fields_come_from_header_and_case() -> None:
    """message_id is ExportId as sent, and the rest of SourceMessage is filled."""
    message = parse(body("wy_2_risk_change"))
    assert message.message_id == "7c2d1e4a-5b6f-4a70-8b91-0a1b2c3d4e02"
    assert (message.force, message.reference, message.version) == ("13", "MP/13/2024/000123", 2)
    assert message.event_type == "RISK_CHANGE"
    assert re.fullmatch("[0-9a-f]{64}", message.c14n_sha256)


def test_nhs_number_with_spaces_is_normalised() -> None:
    """`999 765 4323` becomes `9997654323`; the unspaced form is read the same."""
    assert parse(body("spec_example")).case.person.nhs_number == "9997654323"
    unspaced = variant("spec_example", ("999 765 4323", "9997654323"))
    assert parse(unspaced).case.person.nhs_number == "9997654323"


def test_nhs_number_with_a_wrong_check_digit_is_refused_without_echoing_it() -> None:
    """A bad check digit is `invalid-nhs-number` at NHSNo; the number is not in the error."""
    error = rejection(variant("spec_example", ("999 765 4323", "999 765 4324")))
    assert isinstance(error, SemanticInvalid)
    assert error.code == "invalid-nhs-number"
    assert error.errors[0].path == "/CaseExport/Case/Person/NHSNo"
    assert "4324" not in json.dumps([error.detail, [e.as_dict() for e in error.errors]])


def test_iso_8859_1_export_is_read_correctly() -> None:
    """A Latin-1 export gives the right accented names and free text."""
    raw = body("latin1_names")
    assert "Exampléchild".encode("iso-8859-1") in raw
    message = parse(raw)
    assert message.case.person.surname == "Exampléchild"
    assert message.case.person.forename == "Zoë"
    assert message.case.person.middle_names == "Renée"
    assert message.case.timeline.last_seen_location == "Café on Market Place, Belper"


def test_latin1_bytes_declared_as_utf8_are_malformed() -> None:
    """An encoding declaration that lies is a 400, not mojibake in a child's name."""
    raw = body("latin1_names").replace(b'encoding="ISO-8859-1"', b'encoding="UTF-8"')
    error = rejection(raw)
    assert isinstance(error, MalformedXml)
    assert (error.status, error.code) == (400, "malformed-xml")


def test_risk_assessments_are_ordered_oldest_first() -> None:
    """Assessments sent newest first are still history oldest first, newest current."""
    text = body("risk_history").decode("utf-8")
    blocks = re.findall(r"      <RiskAssessment>.*?</RiskAssessment>\n", text, flags=re.S)
    shuffled = text.replace("".join(blocks), "".join(reversed(blocks)))
    assert shuffled != text
    case = parse(shuffled.encode("utf-8")).case
    assert [r.grade for r in case.risk_assessments] == ["LOW", "MEDIUM", "HIGH"]
    assert case.current_risk.grade == "HIGH"


def test_whitespace_around_tokens_is_collapsed() -> None:
    """XSD tokens may carry surrounding whitespace; the typed values do not."""
    message = parse(
        variant(
            "wy_1_new",
            ("<EventType>NEW</EventType>", "<EventType>\n  NEW \n</EventType>"),
            ('by="PARENT"', 'by=" PARENT "'),
            ("<LookedAfter>N</LookedAfter>", "<LookedAfter> N </LookedAfter>"),
        )
    )
    assert message.event_type == "NEW"
    assert message.case.timeline.reported_by == "PARENT"
    assert message.case.care is not None
    assert message.case.care.looked_after is False


def test_council_names_resolve_in_all_three_fields() -> None:
    """Home, placing and host councils each carry the name as sent and its LA code."""
    case = parse(body("placed_elsewhere_whereabouts_known")).case
    assert case.person.local_authority.code == "891"
    assert case.care is not None
    assert case.care.placing_authority is not None
    assert case.care.placing_authority.code == "891"
    assert case.care.placement_local_authority is not None
    assert case.care.placement_local_authority.name == "Derby City Council"
    assert case.care.placement_local_authority.code == "831"


@pytest.mark.parametrize(
    ("old", "councils", "unresolved"),
    [
        (  # the home address's council: not the one told, as the child is placed in 831
            "<LocalAuthority>Nottinghamshire County Council</LocalAuthority>",
            ("831", "891"),
            [],
        ),
        (
            "<PlacingAuthority>Nottinghamshire County Council</PlacingAuthority>",
            ("831", None),
            [("Midshire   Council", "responsible")],
        ),
        (
            "<PlacementLocalAuthority>Derby City Council</PlacementLocalAuthority>",
            (None, "891"),
            [("Midshire   Council", "host")],
        ),
    ],
)
def test_an_unknown_council_name_is_kept_verbatim_with_its_role(
    old: str, councils: tuple[str | None, str | None], unresolved: list[tuple[str, str]]
) -> None:
    """A name that matches no council is accepted, kept (spaces collapsed) with its role."""
    tag = old[1 : old.index(">")]
    data = variant(
        "placed_elsewhere_whereabouts_known", (old, f"<{tag}> Midshire   Council </{tag}>")
    )
    snap = ADAPTER.to_events(parse(data))[0].episode
    assert (snap.home_council, snap.responsible_council) == councils
    assert [(u.name, str(u.role)) for u in snap.unresolved_councils] == [
        (" ".join(name.split()), role) for name, role in unresolved
    ]


def test_one_unknown_name_for_placing_and_placement_council_is_the_responsible_one() -> None:
    """Placed in its placing authority's own area, by a name that matches none: told once."""
    data = variant(
        "placed_elsewhere_whereabouts_known",
        (
            "<PlacingAuthority>Nottinghamshire County Council</PlacingAuthority>",
            "<PlacingAuthority>Midshire Council</PlacingAuthority>",
        ),
        (
            "<PlacementLocalAuthority>Derby City Council</PlacementLocalAuthority>",
            "<PlacementLocalAuthority>Midshire Council</PlacementLocalAuthority>",
        ),
    )
    snap = ADAPTER.to_events(parse(data))[0].episode
    assert (snap.home_council, snap.responsible_council) == (None, None)
    assert [(u.name, str(u.role)) for u in snap.unresolved_councils] == [
        ("Midshire Council", "responsible")
    ]
    assert snap.council_roles() == []


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_a_blank_council_name_is_still_refused(blank: str) -> None:
    """An empty or blank council name is a 422 at its path (the XSD's token minLength)."""
    old = "<PlacingAuthority>Nottinghamshire County Council</PlacingAuthority>"
    error = rejection(
        variant(
            "placed_elsewhere_whereabouts_known",
            (old, f"<PlacingAuthority>{blank}</PlacingAuthority>"),
        )
    )
    assert error.status == 422
    assert error.errors[0].path == "/CaseExport/Case/Care/PlacingAuthority"


def test_vulnerability_wording_matches_whatever_the_case_and_spacing() -> None:
    """The force's wording is matched after trimming, ignoring case."""
    case = parse(body("council_variants_interview_declined")).case
    assert case.vulnerabilities == (
        "criminal exploitation",
        "County Lines",
        "COUNTY LINES",
        "Asylum Seeker",
    )


LAST_SEEN = 'LastSeen at="14/06/2024 15:30"'


@pytest.mark.parametrize(
    ("replacement", "code"),
    [
        ('LastSeen at="14/06/2024 21:50"', None),
        ('LastSeen at="14/06/2024 21:50:01"', "last-seen-after-reported"),
    ],
)
def test_last_seen_may_follow_reported_by_five_minutes_at_most(
    replacement: str, code: str | None
) -> None:
    """Exactly five minutes after Reported is accepted; one second more is refused."""
    data = variant("wy_1_new", (LAST_SEEN, replacement))
    if code is None:
        parse(data)
    else:
        assert rejection(data).code == code


@pytest.mark.parametrize(
    ("dob", "code"),
    [
        ("15/06/2006", None),  # 18 the day after last seen
        ("14/06/2006", "subject-adult"),  # 18 on the day last seen
        ("14/06/2024", None),  # born on the export date: not in the future
        ("15/06/2024", "date-of-birth-in-future"),
    ],
)
def test_age_and_date_of_birth_boundaries(dob: str, code: str | None) -> None:
    """An 18th birthday on the last-seen date makes an adult; a DOB after export is future."""
    data = variant("wy_1_new", ("<DOB>03/02/2011</DOB>", f"<DOB>{dob}</DOB>"))
    if code is None:
        parse(data)
    else:
        error = rejection(data)
        assert error.code == code
        assert error.errors[0].path == "/CaseExport/Case/Person/DOB"


def test_found_at_the_moment_last_seen_is_accepted() -> None:
    """Located at exactly LastSeen is not "before" it."""
    data = variant(
        "wy_4_located", ('Located at="15/06/2024 12:40"', 'Located at="14/06/2024 15:30"')
    )
    assert parse(data).case.timeline.located is not None


def test_nonexistent_time_in_a_header_field_names_its_element() -> None:
    """ExportedAt in the skipped hour is refused at its own path and line."""
    error = rejection(
        variant(
            "wy_1_new",
            (
                "<ExportedAt>14/06/2024 22:10</ExportedAt>",
                "<ExportedAt>31/03/2024 01:15</ExportedAt>",
            ),
        )
    )
    assert error.code == "nonexistent-local-time"
    assert error.errors[0].path == "/CaseExport/ExportHeader/ExportedAt"
    assert error.errors[0].line == 6


# Elements and attributes whose values are personal data (or free text that may contain it).
PERSONAL = (
    "PersonURN|Forename|MiddleNames|Surname|DOB|NHSNo|AddressLine|Postcode|Rationale"
    "|LastSeen|Located|ReturnedTo|Injuries|Account"
)


def personal_values(raw: bytes) -> set[str]:
    """The personal values (at least four characters) in a fixture, even a broken one."""
    text = raw.decode("utf-8", "replace")
    values = {m.strip() for m in re.findall(rf"<(?:{PERSONAL})(?: [^>]*)?>([^<]+)<", text)}
    values |= set(re.findall(r'(?:LastSeen|Located) at="([^"]+)"', text))
    return {v for v in values if len(v) >= 4}


@pytest.mark.parametrize("fixture", INVALID, ids=[p.stem for p in INVALID])
def test_error_messages_never_contain_personal_values(fixture: Path) -> None:
    """No name, date, identifier, address or free text of the message is in its error."""
    raw = fixture.read_bytes()
    error = rejection(raw)
    text = json.dumps([str(error), error.detail, [e.as_dict() for e in error.errors]])
    leaked = sorted(v for v in personal_values(raw) if v in text)
    assert not leaked, f"{fixture.name}: personal values in the error: {leaked}"
