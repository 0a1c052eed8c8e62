"""MERLIN parsing: the typed model and the spec's semantic rules at their boundaries."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from adapters import xml
from adapters.merlin import ADAPTER, parser, rules
from adapters.merlin.model import MerlinMessage, NotificationType
from gateway.errors import InboundRejected, SemanticInvalid

VALID = Path(parser.__file__).resolve().parent / "fixtures" / "valid"


def body(fixture: str = "spec_example", *changes: tuple[str, str]) -> bytes:
    """A valid fixture's bytes with each (old, new) text change applied once."""
    text = (VALID / f"{fixture}.xml").read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, f"{old!r} is not in {fixture}"
        text = text.replace(old, new, 1)
    return text.encode("utf-8")


def rejection(data: bytes) -> InboundRejected:
    """The rejection `parse` raises for `data`."""
    with pytest.raises(InboundRejected) as caught:
        ADAPTER.parse(data)
    return caught.value


def last_seen(value: str) -> tuple[str, str]:
    """A change of the spec example's LastSeenAt."""
    return "<LastSeenAt>2024-05-01T18:00:00+01:00<", f"<LastSeenAt>{value}<"


def born(value: str) -> tuple[str, str]:
    """A change of the spec example's DateOfBirth."""
    return "<DateOfBirth>2010-03-04<", f"<DateOfBirth>{value}<"


def test_spec_example_gives_the_gateway_identity_fields() -> None:
    """The source message carries the header's identity, SentAt in UTC and the C14N hash."""
    data = body()
    message = ADAPTER.parse(data)
    assert isinstance(message, MerlinMessage)
    assert (message.source, message.message_id, message.force, message.reference) == (
        "merlin",
        "6f1c9a52-3d7e-4d55-9a0e-2b8f7c1d0e44",
        "01",
        "24MIS012345",
    )
    assert message.version == 1
    assert message.sent_at == datetime(2024, 5, 1, 21, 5, 13, tzinfo=UTC)
    assert message.c14n_sha256 == xml.parse(data).c14n_sha256


def test_spec_example_builds_the_typed_notification() -> None:
    """Times keep their offset, dates, flags and counts are typed, codes stay as sent."""
    report = ADAPTER.parse(body()).notification.report
    assert report.missing.last_seen_at.isoformat() == "2024-05-01T18:00:00+01:00"
    assert report.subject.date_of_birth == date(2010, 3, 4)
    assert report.care_status is not None
    assert report.care_status.looked_after is True
    assert report.care_status.child_protection_plan is False
    assert report.missing.previous_reports_12m == 4
    assert report.missing.whereabouts_known is False
    assert [(f.code, f.detail) for f in report.missing.risk_factors] == [
        ("COUNTY_LINES", None),
        ("CSE", "Older associate"),
    ]
    assert report.subject.home_address.lines == ["1 Example Road", "Wembley"]
    assert report.officer.warrant_number == "000000"


def test_white_space_is_handled_as_the_schema_types_say() -> None:
    """Names collapse inner white space; numbers and flags may be padded."""
    data = body(
        "spec_example",
        ("<GivenNames>Alex Jordan<", "<GivenNames>  Alex \n   Jordan <"),
        ("<ReportVersion>1<", "<ReportVersion> 1 <"),
        ("<LookedAfter>true<", "<LookedAfter> true <"),
    )
    report = ADAPTER.parse(data).notification.report
    assert report.subject.given_names == "Alex Jordan"
    assert report.report_version == 1
    assert report.care_status is not None and report.care_status.looked_after


def test_notification_type_is_typed() -> None:
    """The header's NotificationType is the model's enum."""
    header = ADAPTER.parse(body("seq_4_found")).notification.header
    assert header.notification_type is NotificationType.FOUND


# --- LastSeenAt against ReportedAt (21:30 +01:00 in the spec example) ------------------------


def test_last_seen_exactly_five_minutes_after_reported_is_accepted() -> None:
    """Five minutes of clock skew between LastSeenAt and ReportedAt is tolerated."""
    ADAPTER.parse(body("spec_example", last_seen("2024-05-01T21:35:00+01:00")))


def test_last_seen_five_minutes_and_a_second_after_reported_is_rejected() -> None:
    """One second beyond the five minutes is a last-seen-after-reported error on LastSeenAt."""
    error = rejection(body("spec_example", last_seen("2024-05-01T21:35:01+01:00")))
    assert (error.status, error.code) == (422, "last-seen-after-reported")
    assert error.errors[0].path == "/MerlinNotification/Report/Missing/LastSeenAt"
    assert error.errors[0].line == 37


def test_last_seen_is_compared_as_an_instant_across_offsets() -> None:
    """A UTC LastSeenAt is compared with a BST ReportedAt as the same clock."""
    ADAPTER.parse(body("spec_example", last_seen("2024-05-01T20:35:00Z")))
    error = rejection(body("spec_example", last_seen("2024-05-01T20:35:01Z")))
    assert error.code == "last-seen-after-reported"


# --- age at LastSeenAt (2024-05-01 in the spec example) ------------------------------------


def test_eighteenth_birthday_on_the_last_seen_date_is_adult() -> None:
    """A subject who turns 18 on the day last seen is an adult: subject-adult on DateOfBirth."""
    error = rejection(body("spec_example", born("2006-05-01")))
    assert (error.status, error.code) == (422, "subject-adult")
    assert error.errors[0].path == "/MerlinNotification/Report/Subject/DateOfBirth"
    assert error.errors[0].line == 16


def test_day_before_the_eighteenth_birthday_is_a_child() -> None:
    """A subject whose 18th birthday is the day after LastSeenAt is still a child."""
    message = ADAPTER.parse(body("spec_example", born("2006-05-02")))
    assert message.notification.report.subject.date_of_birth == date(2006, 5, 2)


def test_age_uses_the_local_date_of_last_seen() -> None:
    """Last seen at 00:30 BST on the 18th birthday (still the day before in UTC) is adult."""
    error = rejection(
        body("spec_example", born("2006-05-01"), last_seen("2024-05-01T00:30:00+01:00"))
    )
    assert error.code == "subject-adult"


@pytest.mark.parametrize(
    ("on", "age"),
    [
        (date(2026, 2, 28), 17),
        (date(2026, 3, 1), 18),
        (date(2028, 2, 29), 20),
        (date(2028, 2, 28), 19),
    ],
)
def test_someone_born_on_29_february_ages_on_1_march(on: date, age: int) -> None:
    """A leap-day birthday counts as 1 March in common years."""
    assert rules.age_on(date(2008, 2, 29), on) == age


# --- date of birth against SentAt (2024-05-01 +01:00 in the spec example) -------------------


def test_date_of_birth_on_the_sent_date_is_not_in_the_future() -> None:
    """A child born on the day the message was sent is accepted."""
    ADAPTER.parse(body("spec_example", born("2024-05-01"), last_seen("2024-05-01T21:00:00+01:00")))


def test_date_of_birth_after_the_sent_date_is_in_the_future() -> None:
    """A date of birth after SentAt's date is date-of-birth-in-future, not subject-adult."""
    error = rejection(body("spec_example", born("2024-05-02")))
    assert (error.status, error.code) == (422, "date-of-birth-in-future")
    assert [e.path for e in error.errors] == ["/MerlinNotification/Report/Subject/DateOfBirth"]


# --- several problems ---------------------------------------------------------------------


def test_every_semantic_problem_is_reported_in_document_order() -> None:
    """All broken rules are listed, first in the document first; the code is the first one's."""
    error = rejection(
        body(
            "spec_example",
            last_seen("2024-05-01T22:00:00+01:00"),
            ("<Postcode>HA9 0ZY<", "<Postcode>HA9 ZY0<"),
            ("<NhsNumber>9997654323<", "<NhsNumber>9997654324<"),
        )
    )
    assert isinstance(error, SemanticInvalid)
    assert error.code == "invalid-nhs-number"
    assert [e.path.rsplit("/", 1)[-1] for e in error.errors] == [
        "NhsNumber",
        "Postcode",
        "LastSeenAt",
    ]
    assert error.errors[1].path == "/MerlinNotification/Report/CareStatus/PlacementAddress/Postcode"


@pytest.mark.parametrize(
    ("fixture", "section", "removed"),
    [
        ("seq_4_found", "Found", "Found"),
        ("seq_5_prevention_interview", "PreventionInterview", "PreventionInterview"),
        ("seq_6_closure", "ClosureReason", "ClosureReason"),
        ("seq_7_cancellation", "ClosureReason", "ClosureReason"),
    ],
)
def test_a_type_without_its_section_is_missing_required_section(
    fixture: str, section: str, removed: str
) -> None:
    """Each notification type that needs a section is rejected without it, naming it."""
    text = (VALID / f"{fixture}.xml").read_text(encoding="utf-8")
    start = text.index(f"    <{removed}>")
    end = text.index(f"</{removed}>", start) + len(f"</{removed}>\n")
    error = rejection((text[:start] + text[end:]).encode("utf-8"))
    assert error.code == "missing-required-section"
    assert error.errors[0].path == "/MerlinNotification/Report"
    assert section in error.errors[0].message


def test_update_and_risk_review_need_no_extra_section() -> None:
    """UPDATE and RISK_REVIEW carry only the base report."""
    ADAPTER.parse(body("seq_2_risk_review"))
    ADAPTER.parse(body("seq_3_update"))


# --- no personal data in errors -----------------------------------------------------------

PERSONAL_CHANGES = [
    pytest.param(("<NhsNumber>9997654323<", "<NhsNumber>9997654324<"), "9997654324", id="nhs"),
    pytest.param(("<NhsNumber>9997654323<", "<NhsNumber>99976543<"), "99976543", id="nhs-form"),
    pytest.param(("<Postcode>HA9 0ZZ<", "<Postcode>HA9 ZZZ<"), "HA9 ZZZ", id="postcode"),
    pytest.param(born("2024-05-02"), "2024-05-02", id="dob-future"),
    pytest.param(born("2006-05-01"), "2006-05-01", id="dob-adult"),
    pytest.param(born("2010-02-30"), "2010-02-30", id="dob-invalid"),
    pytest.param(
        ("<GivenNames>Alex Jordan<", "<GivenNames>" + "Alexandrina " * 9 + "<"),
        "Alexandrina",
        id="name-too-long",
    ),
    pytest.param(
        ("</GivenNames>", "</GivenNames><Alias> </Alias>"), "Alex Jordan", id="empty-alias"
    ),
]


@pytest.mark.parametrize(("change", "value"), PERSONAL_CHANGES)
def test_errors_never_contain_the_offending_personal_value(
    change: tuple[str, str], value: str
) -> None:
    """Detail, exception text and located messages name paths and rules, never the values."""
    error = rejection(body("spec_example", change))
    text = json.dumps([str(error), error.detail, [e.as_dict() for e in error.errors]])
    for personal in (value, "Testchild", "Alex Jordan", "2010-03-04", "9997654323"):
        assert personal not in text
