"""The Mosaic renderer: the body exactly as docs/council-it.md describes it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.mosaic import renderer
from gateway.errors import PermanentDelivery
from tests.contract.canonical_cases import CASES


def body(case: str) -> dict[str, Any]:
    """The rendered body of a canonical case, decoded."""
    decoded: dict[str, Any] = json.loads(renderer.render(CASES[case]).body)
    return decoded


def test_episode_type_is_away_only_for_a_looked_after_child_of_dfe_type_a():
    """AWAY_WITHOUT_AUTHORISATION for DfE type A; MISSING for type M and for other children."""
    assert body("reported_looked_after_away")["episode"]["type"] == "AWAY_WITHOUT_AUTHORISATION"
    assert body("reported_looked_after_missing")["episode"]["type"] == "MISSING"
    assert body("reported_not_looked_after")["episode"]["type"] == "MISSING"


def test_police_absent_is_not_dfe_away():
    """A police "absent" report keeps its category and is a MISSING episode type."""
    episode = body("reported_absent")["episode"]
    assert (episode["policeCategory"], episode["type"]) == ("ABSENT", "MISSING")


def test_debrief_is_sent_on_the_debriefed_event_only():
    """DEBRIEFED carries the debrief with its disclosures; a later CLOSED sends null."""
    debrief = body("debriefed_with_disclosures")["debrief"]
    assert debrief["harmDisclosed"] is True and debrief["crimeDisclosed"] is True
    assert debrief["method"] == "FACE_TO_FACE"
    assert body("closed")["debrief"] is None


def test_debriefed_event_without_a_debrief_is_permanent():
    """A DEBRIEFED event whose snapshot lacks the debrief cannot be expressed."""
    request = CASES["debriefed_with_disclosures"]
    episode = request.event.episode.model_copy(update={"debrief": None})
    event = request.event.model_copy(update={"episode": episode})
    with pytest.raises(PermanentDelivery, match="no debrief"):
        renderer.render(request.model_copy(update={"event": event}))


def test_found_event_carries_found_details_and_return_interview_due():
    """FOUND sends found time, place and the return interview deadline in UTC with Z."""
    episode = body("found")["episode"]
    assert episode["foundTime"] == "2024-05-02T09:15:00Z"
    assert episode["foundLocation"] == "Testtown bus station"
    assert episode["returnInterviewDueBy"] == "2024-05-05T09:15:00Z"


def test_person_without_nhs_number_sends_null_and_codes_are_upper_case():
    """No NHS number is null; gender, alerts and vulnerabilities use upper-case codes."""
    absent = body("reported_absent")
    assert absent["person"]["nhsNumber"] is None
    assert absent["person"]["gender"] == "M"
    alerts = body("updated_with_alerts")["alerts"]
    assert alerts[0] == {
        "code": "STRATEGY_MEETING_REQUIRED",
        "reason": "missing 4 times in 28 days",
    }
    assert body("reported_not_looked_after")["episode"]["vulnerabilities"] == [
        "CSE",
        "COUNTY_LINES",
    ]


def test_cin_factors_are_added_only_when_known():
    """The cinFactors appear when the delivery has them and are left out otherwise."""
    request = CASES["risk_changed"]
    assert body("risk_changed")["episode"]["cinFactors"] == ["10A", "11A", "24A"]
    bare = json.loads(renderer.render(request.model_copy(update={"cin_factors": []})).body)
    assert "cinFactors" not in bare["episode"]


def test_a_mapping_gap_is_permanent_and_named(monkeypatch):
    """A canonical code missing from mappings/mosaic.yaml names the table and the value."""
    tables = {k: dict(v) for k, v in renderer.CODES.tables().items()}
    del tables["gender"]["female"]
    monkeypatch.setattr(renderer.CODES, "tables", lambda: tables)
    with pytest.raises(PermanentDelivery, match="gender 'female'"):
        renderer.render(CASES["reported_not_looked_after"])


def test_schema_errors_name_paths_not_values():
    """Schema errors say where and which rule, never the offending personal value."""
    payload = body("reported_not_looked_after")
    payload["person"]["gender"] = "Testchild-secret-value"
    errors = renderer.schema_errors(payload)
    assert errors == ["$.person.gender: enum"]


def test_schema_errors_hold_inside_shared_definitions():
    """The shared definitions (`$defs`) are checked wherever they are used, as the file says."""
    payload = body("reported_not_looked_after")
    payload["person"]["surname"] = ""
    payload["eventTime"] = "yesterday"
    payload["externalReference"] = "has spaces"
    payload["person"]["address"]["lines"] = ["x" * 4001]
    assert renderer.schema_errors(payload) == [
        "$.eventTime: pattern",
        "$.externalReference: pattern",
        "$.person.address.lines[0]: maxLength",
        "$.person.surname: minLength",
    ]


def _broken_bodies() -> list[dict[str, Any]]:
    broken = []
    for path, value in [
        (("person", "gender"), "Testchild-secret-value"),
        (("person", "surname"), ""),
        (("eventTime",), "yesterday"),
        (("episode",), None),
        (("alerts",), [{"code": 1}]),
    ]:
        payload = body("reported_not_looked_after")
        node = payload
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        broken.append(payload)
    return broken


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fast_validator_accepts_what_jsonschema_accepts(case):
    """Every canonical case passes both validators (the hot path checks with the fast one)."""
    payload = body(case)
    assert renderer.schema_errors(payload) == []
    assert renderer._fast_validator().is_valid(payload)


@pytest.mark.parametrize("payload", _broken_bodies())
def test_the_fast_validator_refuses_what_jsonschema_refuses(payload):
    """A broken body is refused by both, and the fast one's errors name the same places."""
    assert not renderer._fast_validator().is_valid(payload)
    precise = renderer.schema_errors(payload)
    assert precise
    assert renderer._fast_errors(payload) == precise


@pytest.fixture
def empty_surname(monkeypatch):
    """The renderer builds every body with an empty surname, which the schema refuses."""
    original = renderer.build

    def broken(request):
        payload = original(request)
        payload["person"]["surname"] = ""
        return payload

    monkeypatch.setattr(renderer, "build", broken)


def test_render_refuses_a_body_the_fast_validator_refuses_with_the_precise_error(empty_surname):
    """A body breaking the schema is permanent, reported as jsonschema locates it."""
    with pytest.raises(PermanentDelivery, match=r"first \$\.person\.surname: minLength"):
        renderer.render(CASES["reported_not_looked_after"])


def test_when_the_validators_disagree_the_body_is_still_refused(empty_surname, monkeypatch):
    """Should jsonschema find nothing the fast validator refused, the refusal stands, located."""
    monkeypatch.setattr(renderer, "schema_errors", lambda payload: [])
    with pytest.raises(PermanentDelivery, match=r"first \$\.person\.surname: minLength"):
        renderer.render(CASES["reported_not_looked_after"])
