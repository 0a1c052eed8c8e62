"""COMPACT to canonical: event times, status, risk, care, councils and code completeness."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

import mappings
from adapters.base import InboundAdapter, SourceMessage
from adapters.compact import ADAPTER, mapping
from adapters.compact.model import CompactMessage
from gateway import canonical as c
from gateway.errors import ConfigurationError, SemanticInvalid

FIXTURES = Path(__file__).resolve().parents[3] / "adapters" / "compact" / "fixtures"
XS = "{http://www.w3.org/2001/XMLSchema}"


def message(name: str) -> CompactMessage:
    """A valid fixture, parsed."""
    return ADAPTER.parse((FIXTURES / "valid" / f"{name}.xml").read_bytes())


def event(name: str) -> c.EpisodeEvent:
    """The one event of a valid fixture."""
    (only,) = ADAPTER.to_events(message(name))
    return only


def utc(text: str) -> datetime:
    """An aware UTC datetime from a naive ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("fixture", "event_type", "at", "status"),
    [
        # reported: Reported/@at (21:45 BST)
        ("wy_1_new", c.EventType.REPORTED, "2024-06-14T20:45:00", c.EpisodeStatus.OPEN),
        # risk_changed: the newest AssessedAt (02:15 BST)
        ("wy_2_risk_change", c.EventType.RISK_CHANGED, "2024-06-15T01:15:00", "open"),
        # updated: ExportedAt (09:00 BST)
        ("wy_3_update", c.EventType.UPDATED, "2024-06-15T08:00:00", "open"),
        # found: Located/@at (12:40 BST)
        ("wy_4_located", c.EventType.FOUND, "2024-06-15T11:40:00", "found"),
        # debriefed: PreventionInterview/Date (10:00 BST)
        ("wy_5_return_interview", c.EventType.DEBRIEFED, "2024-06-16T09:00:00", "found"),
        # closed: ExportedAt (09:15 BST)
        ("wy_6_closed", c.EventType.CLOSED, "2024-06-17T08:15:00", "closed"),
        # cancelled: ExportedAt (10:05 GMT)
        ("tv_cancelled_duplicate", c.EventType.CANCELLED, "2024-01-09T10:05:00", "cancelled"),
    ],
)
def test_event_type_time_and_status(
    fixture: str, event_type: c.EventType, at: str, status: str
) -> None:
    """Each EventType gives its canonical type, the time the spec names, and the status."""
    mapped = event(fixture)
    assert mapped.type is event_type
    assert mapped.at == utc(at)
    assert mapped.episode.status == status


def test_update_after_locate_keeps_the_episode_found() -> None:
    """An UPDATE whose timeline has Located describes a found episode."""
    located = message("wy_4_located")
    update = located.model_copy(update={"event_type": "UPDATE"})
    (mapped,) = ADAPTER.to_events(update)
    assert mapped.type is c.EventType.UPDATED
    assert mapped.at == located.sent_at
    assert mapped.episode.status is c.EpisodeStatus.FOUND


def test_source_reference() -> None:
    """The event's source names COMPACT, the force, the case and the export."""
    assert event("wy_2_risk_change").source == c.SourceRef(
        source="compact",
        force="13",
        reference="MP/13/2024/000123",
        version=2,
        message_id="7c2d1e4a-5b6f-4a70-8b91-0a1b2c3d4e02",
    )


def test_risk_history_is_oldest_first_and_the_newest_is_current() -> None:
    """Several assessments become the history, and the last one sets the risk level."""
    episode = event("risk_history").episode
    assert [(r.level, r.at) for r in episode.risk_history] == [
        (c.RiskLevel.LOW, utc("2024-11-10T20:00:00")),
        (c.RiskLevel.MEDIUM, utc("2024-11-11T08:00:00")),
        (c.RiskLevel.HIGH, utc("2024-11-11T15:45:00")),
    ]
    assert episode.risk_level is c.RiskLevel.HIGH
    assert episode.risk_history[-1].assessed_by == "Insp 0101 Example"


def test_grade_absent_is_police_absent_with_no_apparent_risk() -> None:
    """ABSENT is the police "absent" category, never DfE "away"."""
    episode = event("grade_absent_located").episode
    assert episode.police_category is c.PoliceCategory.ABSENT
    assert episode.risk_level is c.RiskLevel.NO_APPARENT_RISK
    assert episode.dfe_missing_type is c.DfeMissingType.MISSING


def test_grade_very_low_is_missing_with_no_apparent_risk() -> None:
    """VERY LOW is the current name for no apparent risk, in the missing category."""
    episode = event("grade_very_low").episode
    assert episode.police_category is c.PoliceCategory.MISSING
    assert episode.risk_level is c.RiskLevel.NO_APPARENT_RISK


def test_child_placed_by_another_council_with_whereabouts_known() -> None:
    """Host council is home_council, placing council responsible; whereabouts known is `A`."""
    episode = event("placed_elsewhere_whereabouts_known").episode
    assert (episode.home_council, episode.responsible_council) == ("831", "891")
    assert episode.whereabouts_known is True
    assert episode.dfe_missing_type is c.DfeMissingType.AWAY
    assert episode.council_roles() == [
        ("831", c.CouncilRole.HOST),
        ("891", c.CouncilRole.RESPONSIBLE),
    ]
    assert episode.care == c.Care(looked_after=True, placement_type=c.PlacementType.FOSTER)


def test_home_council_is_the_local_authority_without_a_placement() -> None:
    """Without a PlacementLocalAuthority the home council is Person/LocalAuthority."""
    episode = event("wy_1_new").episode
    assert (episode.home_council, episode.responsible_council) == ("384", None)
    assert episode.dfe_missing_type is None


def test_child_fields() -> None:
    """Forename and MiddleNames make the given names; Sex, NHS number and URN map."""
    child = event("wy_1_new").child
    assert child.given_names == "Riley Jordan"
    assert child.family_name == "Testchild"
    assert child.gender is c.Gender.FEMALE
    assert child.ethnicity is c.Ethnicity.W1
    assert child.nhs_number == "9992345683"
    assert child.police_person_ref == "13P0456123"
    assert child.home_address == c.Address(lines=["14 Example Close", "Ossett"], postcode="WF5 9ZZ")


@pytest.mark.parametrize(
    ("fixture", "condition"),
    [
        ("wy_4_located", c.Condition.SAFE_AND_WELL),
        ("council_variants_interview_declined", c.Condition.INJURED),
        ("grade_absent_located", c.Condition.CONCERNS),
    ],
)
def test_found_condition(fixture: str, condition: c.Condition) -> None:
    """SafeAndWell Y is safe and well; N with Injuries injured; N alone concerns."""
    found = event(fixture).episode.found
    assert found is not None
    assert found.condition is condition


def test_debrief_from_the_prevention_interview() -> None:
    """Disclosures Y is harm disclosed with crime not known; Account is the summary."""
    debrief = event("wy_5_return_interview").episode.debrief
    assert debrief == c.Debrief(
        conducted_at=utc("2024-06-16T09:00:00"),
        method=c.InterviewMethod.FACE_TO_FACE,
        declined=False,
        harm_disclosed=True,
        crime_disclosed=None,
        summary="Stayed with an older friend in Leeds; met adults she did not know.",
    )


def test_no_disclosures_is_neither_harm_nor_crime() -> None:
    """Disclosures N says both: no harm and no crime disclosed."""
    debrief = event("council_variants_interview_declined").episode.debrief
    assert debrief is not None
    assert (debrief.harm_disclosed, debrief.crime_disclosed) == (False, False)


def test_police_contact_and_closure() -> None:
    """The OIC is the police contact (no rank in COMPACT); closure reason maps."""
    episode = event("wy_6_closed").episode
    assert episode.police == c.PoliceContact(
        officer="DC Example",
        unit="Wakefield CID",
        phone="0300 000 0013",
        email="wakefield.mpu@example.police.uk",
    )
    assert episode.incident_number == "13-INC-20240614-0777"
    assert episode.closure_reason is c.ClosureReason.FOUND_SAFE


def test_vulnerabilities_are_mapped_and_deduplicated_in_order() -> None:
    """Wording maps case-insensitively; duplicates collapse in document order."""
    assert event("council_variants_interview_declined").episode.vulnerabilities == [
        c.Vulnerability.CCE,
        c.Vulnerability.COUNTY_LINES,
        c.Vulnerability.UNACCOMPANIED_ASYLUM_SEEKER,
    ]
    assert c.Vulnerability.CHILD_PROTECTION_PLAN in event("wy_1_new").episode.vulnerabilities


def test_unmapped_wording_in_a_constructed_message_is_refused() -> None:
    """to_events refuses a wording with no row even when parse was bypassed."""
    original = message("wy_1_new")
    broken = original.model_copy(
        update={"case": original.case.model_copy(update={"vulnerabilities": ("X", "CSE RISK")})}
    )
    with pytest.raises(SemanticInvalid) as caught:
        ADAPTER.to_events(broken)
    assert caught.value.code == "unmapped-code"
    assert caught.value.errors[0].path == "/CaseExport/Case/Vulnerabilities/Vulnerability[1]"


# --- completeness --------------------------------------------------------------------------

# XSD simple type -> the table of mappings/compact.yaml that must cover its enumeration.
TABLE_OF_TYPE = {
    "EventTypeType": "event_types",
    "GradeType": "grades",
    "SexType": "sex",
    "EthnicityType": "ethnicity",
    "FlagType": "flags",
    "PlacementKindType": "placement_kinds",
    "ReportedByType": "reported_by",
    "LocatedByType": "located_by",
    "InterviewMethodType": "interview_methods",
    "ClosureReasonType": "closure_reasons",
}
NOT_CODES = {"VersionType"}  # the fixed version attribute


def xsd_enumerations() -> dict[str, list[str]]:
    """Enumerated simple types of the XSD and their values."""
    tree = etree.parse(str(ADAPTER.schema_path))
    return {
        str(simple.get("name")): [str(e.get("value")) for e in simple.iter(f"{XS}enumeration")]
        for simple in tree.getroot().iter(f"{XS}simpleType")
        if simple.find(f"{XS}restriction/{XS}enumeration") is not None
    }


def test_every_enumerated_type_has_a_table() -> None:
    """Each enumerated simple type of the XSD is paired with a mapping table here."""
    unpaired = sorted(set(xsd_enumerations()) - set(TABLE_OF_TYPE) - NOT_CODES)
    assert not unpaired, f"XSD enumerations with no mapping table: {unpaired}"


def test_every_xsd_enumeration_value_has_a_mapping() -> None:
    """Every value the XSD allows has a row in mappings/compact.yaml (missing ones named)."""
    data = mappings.load("compact.yaml")
    missing = [
        f"{TABLE_OF_TYPE[type_name]}: {value!r}"
        for type_name, values in xsd_enumerations().items()
        if type_name in TABLE_OF_TYPE
        for value in values
        if value not in data.get(TABLE_OF_TYPE[type_name], {})
    ]
    assert not missing, f"values with no row in mappings/compact.yaml: {missing}"


def test_every_table_row_is_a_value_the_xsd_allows() -> None:
    """No dead rows: each key of an enumeration-backed table is allowed by the XSD."""
    data = mappings.load("compact.yaml")
    enumerations = xsd_enumerations()
    dead = [
        f"{table}: {key!r}"
        for type_name, table in TABLE_OF_TYPE.items()
        for key in data[table]
        if str(key) not in enumerations[type_name]
    ]
    assert not dead, f"rows no export can use: {dead}"


def test_every_event_type_has_a_status_rule_or_defaults_to_open() -> None:
    """Status rows only name real event types."""
    assert set(mapping.TABLES.statuses) <= set(mapping.TABLES.event_types)


SPEC_WORDINGS = [
    "CSE RISK",
    "CRIMINAL EXPLOITATION",
    "COUNTY LINES",
    "SELF HARM",
    "MENTAL HEALTH",
    "DRUGS/ALCOHOL",
    "LEARNING DIFFICULTY",
    "TRAFFICKED",
    "MISSING WITH FAMILY",
    "ASYLUM SEEKER",
    "ON CP PLAN",
    "OTHER",
]


@pytest.mark.parametrize("wording", SPEC_WORDINGS)
def test_every_vulnerability_wording_in_the_spec_is_mapped(wording: str) -> None:
    """The wordings docs/police-it.md lists all have a canonical vulnerability."""
    assert mapping.vulnerability(wording) is not None
    assert mapping.vulnerability(f"  {wording.lower()} ") == mapping.vulnerability(wording)


def test_on_cp_plan_is_the_child_protection_plan_vulnerability() -> None:
    """The wording "ON CP PLAN" maps to child_protection_plan."""
    assert mapping.vulnerability("ON CP PLAN") is c.Vulnerability.CHILD_PROTECTION_PLAN


# --- the tables file -------------------------------------------------------------------------


def test_a_non_canonical_value_in_the_tables_is_a_configuration_error() -> None:
    """A table row pointing at no canonical code stops start-up, naming the file."""
    data = dict(mappings.load("compact.yaml"))
    data["sex"] = {"1": "man"}
    with pytest.raises(ConfigurationError) as caught:
        mapping.load_tables(data, "mappings/compact.yaml")
    assert caught.value.file == "mappings/compact.yaml"


@pytest.mark.parametrize("table", ["grades", "flags", "event_types", "vulnerabilities"])
def test_a_missing_or_broken_table_is_a_configuration_error(table: str) -> None:
    """A missing table, or a malformed grades/flags row, is reported against the file."""
    data = dict(mappings.load("compact.yaml"))
    data[table] = {"Y": "maybe"} if table == "flags" else None
    with pytest.raises(ConfigurationError):
        mapping.load_tables(data, "compact.yaml")


def test_the_shipped_tables_load() -> None:
    """The tables file in the repository is valid."""
    assert mapping.load_tables(mappings.load("compact.yaml")) == mapping.TABLES


# --- the adapter -------------------------------------------------------------------------------


def test_adapter_satisfies_the_inbound_protocol() -> None:
    """ADAPTER is an InboundAdapter named compact with its absolute schema path."""
    assert isinstance(ADAPTER, InboundAdapter)
    assert ADAPTER.name == "compact"
    assert ADAPTER.schema_path.is_absolute()
    assert ADAPTER.schema_path.is_file()


def test_adapter_refuses_another_sources_message() -> None:
    """to_events takes only what this adapter's parse returned."""
    other = SourceMessage(
        source="merlin",
        message_id="x",
        force="01",
        reference="24MIS000001",
        version=1,
        sent_at=utc("2024-01-01T00:00:00"),
        c14n_sha256="0" * 64,
    )
    with pytest.raises(TypeError):
        ADAPTER.to_events(other)
