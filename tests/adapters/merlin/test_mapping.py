"""MERLIN to canonical: event type and time, status, councils, DfE type and code tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.base import InboundAdapter, SourceMessage
from adapters.merlin import ADAPTER, mapping
from adapters.merlin.model import MerlinMessage, NotificationType, PreventionInterview
from gateway import canonical as c
from gateway.errors import ConfigurationError, SemanticInvalid

VALID = Path(mapping.__file__).resolve().parent / "fixtures" / "valid"


def message(fixture: str, *changes: tuple[str, str]) -> MerlinMessage:
    """A valid fixture parsed, after each (old, new) text change applied once."""
    text = (VALID / f"{fixture}.xml").read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, f"{old!r} is not in {fixture}"
        text = text.replace(old, new, 1)
    parsed = ADAPTER.parse(text.encode("utf-8"))
    assert isinstance(parsed, MerlinMessage)
    return parsed


def event(fixture: str, *changes: tuple[str, str]) -> c.EpisodeEvent:
    """The one event a fixture maps to."""
    events = ADAPTER.to_events(message(fixture, *changes))
    assert len(events) == 1
    return events[0]


def utc(text: str) -> datetime:
    """A UTC instant from `YYYY-MM-DD HH:MM:SS`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_adapter_satisfies_the_inbound_protocol() -> None:
    """ADAPTER is an InboundAdapter named merlin whose schema file exists."""
    assert isinstance(ADAPTER, InboundAdapter)
    assert ADAPTER.name == "merlin"
    assert ADAPTER.schema_path.is_file()


def test_to_events_refuses_another_adapters_message() -> None:
    """A SourceMessage that is not a MerlinMessage is a programming error."""
    other = SourceMessage(
        source="compact",
        message_id="x",
        force="30",
        reference="r",
        version=1,
        sent_at=utc("2024-01-01 00:00:00"),
        c14n_sha256="0",
    )
    with pytest.raises(TypeError):
        ADAPTER.to_events(other)


@pytest.mark.parametrize(
    ("fixture", "kind", "at", "status"),
    [
        # reported at ReportedAt, 23:10 BST
        ("seq_1_missing_report", c.EventType.REPORTED, "2024-06-14 22:10:00", c.EpisodeStatus.OPEN),
        # risk_changed at the new RiskAssessedAt, 09:05 BST
        (
            "seq_2_risk_review",
            c.EventType.RISK_CHANGED,
            "2024-06-15 08:05:00",
            c.EpisodeStatus.OPEN,
        ),
        # updated at SentAt, given in UTC
        ("seq_3_update", c.EventType.UPDATED, "2024-06-15 13:20:00.250", c.EpisodeStatus.OPEN),
        # found at FoundAt, 20:10:00.5 BST
        ("seq_4_found", c.EventType.FOUND, "2024-06-15 19:10:00.500", c.EpisodeStatus.FOUND),
        # debriefed at ConductedAt, 15:00 BST
        (
            "seq_5_prevention_interview",
            c.EventType.DEBRIEFED,
            "2024-06-17 14:00:00",
            c.EpisodeStatus.FOUND,
        ),
        # closed and cancelled at SentAt
        ("seq_6_closure", c.EventType.CLOSED, "2024-06-18 09:00:00", c.EpisodeStatus.CLOSED),
        (
            "seq_7_cancellation",
            c.EventType.CANCELLED,
            "2024-06-18 10:30:00",
            c.EpisodeStatus.CANCELLED,
        ),
        # an UPDATE once the report has a Found section leaves the episode found
        ("update_after_found", c.EventType.UPDATED, "2024-07-21 11:00:00", c.EpisodeStatus.FOUND),
    ],
)
def test_event_type_time_and_status_per_notification_type(
    fixture: str, kind: c.EventType, at: str, status: c.EpisodeStatus
) -> None:
    """Each notification type gives its event type, its own event time and the episode status."""
    mapped = event(fixture)
    assert (mapped.type, mapped.at, mapped.episode.status) == (kind, utc(at), status)


def test_every_notification_type_maps_as_the_lead_decided() -> None:
    """The notification type table gives the agreed event type for each of the seven types."""
    table = mapping.tables().notification_type.rows
    assert {NotificationType(k): v for k, v in table.items()} == {
        NotificationType.MISSING_REPORT: c.EventType.REPORTED,
        NotificationType.RISK_REVIEW: c.EventType.RISK_CHANGED,
        NotificationType.UPDATE: c.EventType.UPDATED,
        NotificationType.FOUND: c.EventType.FOUND,
        NotificationType.PREVENTION_INTERVIEW: c.EventType.DEBRIEFED,
        NotificationType.CLOSURE: c.EventType.CLOSED,
        NotificationType.CANCELLATION: c.EventType.CANCELLED,
    }


def test_the_source_reference_is_the_reports() -> None:
    """The event's source names MERLIN, force 01, the MerlinRef, version and message id."""
    source = event("seq_3_update").source
    assert source == c.SourceRef(
        source="merlin",
        force="01",
        reference="24MIS013579",
        version=3,
        message_id="2d8c3b40-8e3f-4e60-8c73-3f4051627383",
    )


# --- councils and DfE missing type --------------------------------------------------------


def test_child_placed_out_of_borough_tells_host_and_placing_councils() -> None:
    """Home 310 placed in 304 by 310: home council 304 (host), responsible council 310."""
    episode = event("placed_out_of_borough").episode
    assert (episode.home_council, episode.responsible_council) == ("304", "310")
    assert episode.council_roles() == [
        ("304", c.CouncilRole.HOST),
        ("310", c.CouncilRole.RESPONSIBLE),
    ]


def test_spec_example_is_placed_in_brent_by_derbyshire() -> None:
    """The spec's child lives and is placed in 304, placed by 830."""
    episode = event("spec_example").episode
    assert (episode.home_council, episode.responsible_council) == ("304", "830")
    assert episode.council_roles() == [
        ("304", c.CouncilRole.HOST),
        ("830", c.CouncilRole.RESPONSIBLE),
    ]


def test_child_without_care_status_has_only_a_home_council() -> None:
    """No CareStatus: no care record, HomeBorough is home, no responsible council."""
    episode = event("not_looked_after_minimal").episode
    assert episode.care is None
    assert (episode.home_council, episode.responsible_council) == ("304", None)
    assert episode.dfe_missing_type is None


@pytest.mark.parametrize(
    ("fixture", "changes", "category", "dfe"),
    [
        ("spec_example", (), c.PoliceCategory.MISSING, c.DfeMissingType.MISSING),
        ("whereabouts_known_looked_after", (), c.PoliceCategory.MISSING, c.DfeMissingType.AWAY),
        # police ABSENT is not DfE away: whereabouts unknown, so M
        (
            "spec_example",
            (("<Category>MISSING<", "<Category>ABSENT<"),),
            c.PoliceCategory.ABSENT,
            c.DfeMissingType.MISSING,
        ),
        ("absent_category", (), c.PoliceCategory.ABSENT, None),  # not looked after
        ("aliases", (), c.PoliceCategory.MISSING, None),  # known to care, not looked after
    ],
)
def test_dfe_missing_type_comes_from_whereabouts_known_not_the_category(
    fixture: str,
    changes: tuple[tuple[str, str], ...],
    category: c.PoliceCategory,
    dfe: c.DfeMissingType | None,
) -> None:
    """A looked-after child is A only when WhereaboutsKnown is true; others have none."""
    episode = event(fixture, *changes).episode
    assert (episode.police_category, episode.dfe_missing_type) == (category, dfe)


# --- the rest of the snapshot -------------------------------------------------------------


def test_very_low_risk_is_no_apparent_risk_with_its_assessment() -> None:
    """VERY_LOW maps to no_apparent_risk; the history holds that one assessment."""
    episode = event("very_low_risk").episode
    assert episode.risk_level is c.RiskLevel.NO_APPARENT_RISK
    assert episode.risk_history == [
        c.RiskAssessment(
            level=c.RiskLevel.NO_APPARENT_RISK,
            at=utc("2024-07-09 18:50:00"),
            rationale="Has done this before and returned within hours.",
        )
    ]


def test_vulnerabilities_are_deduplicated_in_document_order() -> None:
    """CP_PLAN, CSE, MENTAL_HEALTH, CSE gives three vulnerabilities in that order."""
    assert event("aliases").episode.vulnerabilities == [
        c.Vulnerability.CHILD_PROTECTION_PLAN,
        c.Vulnerability.CSE,
        c.Vulnerability.MENTAL_HEALTH,
    ]


def test_child_identity_aliases_and_normalised_postcode() -> None:
    """Aliases are kept in order, X is other, a lower-case postcode is normalised."""
    child = event("aliases").child
    assert child.aliases == ["Ave Testchild", "Quinn Samplename"]
    assert child.gender is c.Gender.OTHER
    assert child.police_person_ref is None
    assert event("not_looked_after_minimal").child.home_address.postcode == "HA9 7ZZ"


@pytest.mark.parametrize(
    ("code", "gender"),
    [
        ("M", c.Gender.MALE),
        ("F", c.Gender.FEMALE),
        ("X", c.Gender.OTHER),
        ("U", c.Gender.NOT_KNOWN),
    ],
)
def test_gender_codes(code: str, gender: c.Gender) -> None:
    """Each MERLIN gender code maps to its canonical value."""
    assert event("spec_example", ("<Gender>F<", f"<Gender>{code}<")).child.gender is gender


def test_police_contact_and_incident_number() -> None:
    """OfficerInCase becomes the police contact; CadRef the incident number."""
    episode = event("spec_example").episode
    assert episode.police == c.PoliceContact(
        officer="PC Example",
        rank="PC",
        unit="NW BCU MPU",
        phone="020 0000 0000",
        email="mpu@example.police.uk",
    )
    assert episode.incident_number == "CAD4521/01MAY24"


def test_debrief_summary_joins_only_the_parts_present() -> None:
    """Absent parts are left out of the summary; with none it is None."""
    interview = PreventionInterview(
        conducted_at=datetime(2024, 1, 1, tzinfo=UTC),
        method="VIDEO",
        declined=True,
        where_went="A park",
        harm_disclosed=False,
        crime_disclosed=False,
        welfare_concerns="Tired",
    )
    assert mapping.debrief_summary(interview) == "Where: A park; Welfare: Tired"
    bare = interview.model_copy(update={"where_went": None, "welfare_concerns": None})
    assert mapping.debrief_summary(bare) is None


# --- unmapped codes -----------------------------------------------------------------------


def _with_report(msg: MerlinMessage, **report: object) -> MerlinMessage:
    notification = msg.notification
    changed = notification.report.model_copy(update=report)
    return msg.model_copy(
        update={"notification": notification.model_copy(update={"report": changed})}
    )


def test_unmapped_code_names_its_path_and_value() -> None:
    """A code with no table row is unmapped-code with the element's path and the code."""
    msg = message("spec_example")
    subject = msg.notification.report.subject.model_copy(update={"gender": "Q"})
    with pytest.raises(SemanticInvalid) as caught:
        mapping.to_events(_with_report(msg, subject=subject))
    error = caught.value
    assert (error.status, error.code) == (422, "unmapped-code")
    assert error.errors[0].path == "/MerlinNotification/Report/Subject/Gender"
    assert "'Q'" in error.errors[0].message


def test_unmapped_risk_factor_names_which_factor() -> None:
    """An unmapped Factor code is located by its position among the factors."""
    msg = message("spec_example")
    missing = msg.notification.report.missing
    factors = [missing.risk_factors[0], missing.risk_factors[1].model_copy(update={"code": "NEW"})]
    with pytest.raises(SemanticInvalid) as caught:
        mapping.to_events(
            _with_report(msg, missing=missing.model_copy(update={"risk_factors": factors}))
        )
    assert caught.value.errors[0].path == (
        "/MerlinNotification/Report/Missing/RiskFactors/Factor[2]/@code"
    )


def test_a_table_mapping_to_a_non_canonical_value_is_a_configuration_error() -> None:
    """A YAML row whose value is not in the canonical list stops the process."""
    with pytest.raises(ConfigurationError):
        mapping.code_table({"gender": {"M": "bloke"}}, "gender", c.Gender)
    with pytest.raises(ConfigurationError):
        mapping.code_table({}, "gender", c.Gender)
