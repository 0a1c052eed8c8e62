"""Named canonical deliveries every outbound adapter must render (synthetic data only).

Together they hold one case per event type, a looked-after child away (DfE type A) and one
missing (type M), a police "absent" report, a child who is not looked after, a delivery to
each council role (home, host, responsible) and to the host of a child whose responsible
authority is unknown, a child on a child protection plan, a found event per condition with its
return-interview due time, a debrief with disclosures and one with crime not known, every
vulnerability at least once, alerts, and `first_for_target` both true and false. Each name is
also the stem of the adapters' golden files (`adapters/<name>/fixtures/golden/<case>.<ext>`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from adapters.base import Alert, DeliveryRequest
from gateway.canonical import (
    Address,
    Care,
    Child,
    ClosureReason,
    Condition,
    Debrief,
    EpisodeEvent,
    EpisodeSnapshot,
    EpisodeStatus,
    EventType,
    Found,
    FoundBy,
    Gender,
    InterviewMethod,
    LegalStatus,
    PlacementType,
    PoliceCategory,
    PoliceContact,
    ReportedBy,
    RiskAssessment,
    RiskLevel,
    SourceRef,
    Vulnerability,
)

V = Vulnerability
REPORTED_AT = datetime(2024, 5, 1, 20, 30, tzinfo=UTC)
LAST_SEEN_AT = datetime(2024, 5, 1, 17, 45, tzinfo=UTC)
FOUND_AT = datetime(2024, 5, 2, 9, 15, tzinfo=UTC)
DEBRIEF_AT = datetime(2024, 5, 2, 15, 0, tzinfo=UTC)
CLOSED_AT = datetime(2024, 5, 3, 10, 0, tzinfo=UTC)
RETURN_INTERVIEW_DUE = FOUND_AT + timedelta(hours=72)


def _child(**changes: Any) -> Child:
    fields: dict[str, Any] = {
        "given_names": "Alex Jordan",
        "family_name": "Testchild",
        "date_of_birth": date(2010, 3, 4),
        "gender": Gender.FEMALE,
        "nhs_number": "9990000018",
        "home_address": Address(lines=["1 Example Road", "Testtown"], postcode="HA9 0ZZ"),
    }
    return Child(**{**fields, **changes})


def _episode(**changes: Any) -> EpisodeSnapshot:
    risk = changes.pop("risk_level", RiskLevel.MEDIUM)
    fields: dict[str, Any] = {
        "police_category": PoliceCategory.MISSING,
        "risk_level": risk,
        "risk_history": [RiskAssessment(level=risk, at=REPORTED_AT)],
        "status": EpisodeStatus.OPEN,
        "reported_at": REPORTED_AT,
        "reported_by": ReportedBy.PARENT,
        "last_seen_at": LAST_SEEN_AT,
        "last_seen_location": "Outside Example School",
        "circumstances": "Did not come home after school; phone switched off.",
        "vulnerabilities": [V.CSE, V.COUNTY_LINES],
        "home_council": "304",
        "police": PoliceContact(
            officer="PC Example Officer",
            unit="Testforce MPU",
            phone="01000 000000",
            email="mpu@police.example.org",
        ),
    }
    return EpisodeSnapshot(**{**fields, **changes})


def _request(
    name: str,
    event_type: EventType,
    at: datetime,
    *,
    first: bool,
    episode: EpisodeSnapshot,
    child: Child | None = None,
    source: str = "merlin",
    council: str | None = None,
    **extra: Any,
) -> DeliveryRequest:
    """The delivery of one event to `council` (the home or host council unless named)."""
    council = council or episode.home_council
    role = episode.role_of(council)
    assert role is not None, f"{name}: council {council} is not told of this episode"
    force = "01" if source == "merlin" else "30"
    event = EpisodeEvent(
        type=event_type,
        at=at,
        child=child or _child(),
        episode=episode,
        source=SourceRef(
            source=source, force=force, reference="24MIS000001", version=1, message_id=f"msg-{name}"
        ),
    )
    return DeliveryRequest(
        delivery_id=f"dlv-{name}",
        idempotency_key=f"key-{name}",
        council=council,
        council_role=role,
        return_interview_owner=episode.return_interview_owner,
        episode_id="EP-000001",
        first_for_target=first,
        event=event,
        cin_factors=["10A", "11A", "24A"],
        **extra,
    )


_LOOKED_AFTER = Care(
    looked_after=True, legal_status=LegalStatus.C2, placement_type=PlacementType.RESIDENTIAL
)
_FOUND = Found(
    at=FOUND_AT,
    location="Testtown bus station",
    found_by=FoundBy.POLICE,
    condition=Condition.SAFE_AND_WELL,
)
_DEBRIEF = Debrief(
    conducted_at=DEBRIEF_AT,
    method=InterviewMethod.FACE_TO_FACE,
    declined=False,
    harm_disclosed=True,
    crime_disclosed=True,
    summary="Disclosed contact with older associates.",
)
_DEBRIEF_CRIME_NOT_KNOWN = Debrief(
    conducted_at=DEBRIEF_AT,
    method=InterviewMethod.TELEPHONE_CHILD,
    declined=False,
    harm_disclosed=True,
    crime_disclosed=None,  # COMPACT Disclosures Y: harm disclosed, crime not known
    summary="Disclosed being hurt while away; would not say by whom.",
)
_AWAY_PLACED_BY_830: dict[str, Any] = {  # placed in 831 (host) by 830 (responsible)
    "whereabouts_known": True,
    "care": _LOOKED_AFTER,
    "home_council": "831",
    "responsible_council": "830",
    "vulnerabilities": [V.CCE, V.TRAFFICKING, V.RADICALISATION, V.FGM],
}
_STRATEGY = Alert(
    code="strategy_meeting_required",
    rule="missing_4_in_28_days",
    reason="missing 4 times in 28 days",
)


def _cases() -> dict[str, DeliveryRequest]:
    return {
        "reported_not_looked_after": _request(
            "reported_not_looked_after",
            EventType.REPORTED,
            REPORTED_AT,
            first=True,
            episode=_episode(risk_level=RiskLevel.HIGH),
        ),
        "reported_absent": _request(
            "reported_absent",
            EventType.REPORTED,
            REPORTED_AT,
            first=True,
            source="compact",
            child=_child(gender=Gender.MALE, nhs_number=None, given_names="Sam"),
            episode=_episode(
                police_category=PoliceCategory.ABSENT,
                circumstances=None,
                risk_level=RiskLevel.NO_APPARENT_RISK,
                vulnerabilities=[],
                home_council="830",
                care=Care(looked_after=False),
            ),
        ),
        "reported_looked_after_away": _request(
            "reported_looked_after_away",
            EventType.REPORTED,
            REPORTED_AT,
            first=True,
            child=_child(gender=Gender.OTHER),
            episode=_episode(**_AWAY_PLACED_BY_830),
            alerts=[
                Alert(
                    code="missing_from_care_notification",
                    rule="looked_after_24h",
                    reason="looked-after child missing over 24 hours",
                )
            ],
        ),
        "reported_looked_after_missing": _request(
            "reported_looked_after_missing",
            EventType.REPORTED,
            REPORTED_AT,
            first=True,
            child=_child(gender=Gender.NOT_KNOWN, nhs_number="9990000026"),
            episode=_episode(
                risk_level=RiskLevel.LOW,
                responsible_council="317",
                care=Care(looked_after=True, legal_status=LegalStatus.V2),
                vulnerabilities=[
                    V.FORCED_MARRIAGE,
                    V.MENTAL_HEALTH,
                    V.SUICIDE_RISK,
                    V.SUBSTANCE_MISUSE,
                ],
            ),
        ),
        "reported_looked_after_to_responsible": _request(
            "reported_looked_after_to_responsible",
            EventType.REPORTED,
            REPORTED_AT,
            first=True,
            child=_child(gender=Gender.OTHER),
            episode=_episode(**_AWAY_PLACED_BY_830),
            council="830",
        ),
        "reported_responsible_authority_unknown": _request(
            "reported_responsible_authority_unknown",
            EventType.REPORTED,
            REPORTED_AT,
            first=True,
            source="compact",
            episode=_episode(home_council="871", care=Care(looked_after=True)),
        ),
        "reported_child_protection_plan": _request(
            "reported_child_protection_plan",
            EventType.REPORTED,
            REPORTED_AT,
            first=True,
            episode=_episode(
                risk_level=RiskLevel.HIGH,
                care=Care(looked_after=False, child_protection_plan=True),
            ),
        ),
        **_found_cases(),
        "debriefed_crime_not_known": _request(
            "debriefed_crime_not_known",
            EventType.DEBRIEFED,
            DEBRIEF_AT,
            first=False,
            source="compact",
            episode=_episode(
                status=EpisodeStatus.FOUND,
                found=_FOUND.model_copy(update={"condition": Condition.CONCERNS}),
                debrief=_DEBRIEF_CRIME_NOT_KNOWN,
                home_council="831",
            ),
            return_interview_due_by=RETURN_INTERVIEW_DUE,
        ),
        "risk_changed": _request(
            "risk_changed",
            EventType.RISK_CHANGED,
            REPORTED_AT + timedelta(hours=3),
            first=False,
            child=_child(gender=Gender.NOT_STATED),
            episode=_episode(
                risk_level=RiskLevel.HIGH,
                vulnerabilities=[V.PHYSICAL_DISABILITY, V.LEARNING_DISABILITY, V.MEDICAL_NEEDS],
            ),
        ),
        "updated_with_alerts": _request(
            "updated_with_alerts",
            EventType.UPDATED,
            REPORTED_AT + timedelta(hours=24),
            first=False,
            episode=_episode(
                vulnerabilities=[V.GANG_ASSOCIATION, V.DOMESTIC_ABUSE, V.MISSING_WITH_FAMILY]
            ),
            alerts=[
                _STRATEGY,
                Alert(code="cse_screening_required", rule="overnight", reason="missing overnight"),
            ],
        ),
        "updated_first_for_target": _request(
            "updated_first_for_target",
            EventType.UPDATED,
            REPORTED_AT + timedelta(hours=5),
            first=True,
            episode=_episode(vulnerabilities=[V.SELF_HARM]),
        ),
        "found": _request(
            "found",
            EventType.FOUND,
            FOUND_AT,
            first=False,
            episode=_episode(
                status=EpisodeStatus.FOUND,
                found=_FOUND,
                vulnerabilities=[V.UNACCOMPANIED_ASYLUM_SEEKER, V.CHILD_PROTECTION_PLAN, V.OTHER],
            ),
            return_interview_due_by=RETURN_INTERVIEW_DUE,
        ),
        "debriefed_with_disclosures": _request(
            "debriefed_with_disclosures",
            EventType.DEBRIEFED,
            DEBRIEF_AT,
            first=False,
            episode=_episode(status=EpisodeStatus.FOUND, found=_FOUND, debrief=_DEBRIEF),
            return_interview_due_by=RETURN_INTERVIEW_DUE,
        ),
        "closed": _request(
            "closed",
            EventType.CLOSED,
            CLOSED_AT,
            first=False,
            episode=_episode(
                status=EpisodeStatus.CLOSED,
                found=_FOUND,
                debrief=_DEBRIEF,
                closure_reason=ClosureReason.FOUND_SAFE,
            ),
            return_interview_due_by=RETURN_INTERVIEW_DUE,
        ),
        "cancelled": _request(
            "cancelled",
            EventType.CANCELLED,
            REPORTED_AT + timedelta(hours=1),
            first=False,
            episode=_episode(
                status=EpisodeStatus.CANCELLED, closure_reason=ClosureReason.CREATED_IN_ERROR
            ),
        ),
    }


def _found_cases() -> dict[str, DeliveryRequest]:
    """A found event per condition other than safe and well (the `found` case has that one)."""
    cases: dict[str, DeliveryRequest] = {}
    for condition in Condition:
        if condition is Condition.SAFE_AND_WELL:
            continue
        name = f"found_{condition}"
        cases[name] = _request(
            name,
            EventType.FOUND,
            FOUND_AT,
            first=False,
            source="compact" if condition is Condition.CONCERNS else "merlin",
            episode=_episode(
                status=EpisodeStatus.FOUND,
                found=_FOUND.model_copy(update={"condition": condition}),
            ),
            return_interview_due_by=RETURN_INTERVIEW_DUE,
        )
    return cases


CASES: dict[str, DeliveryRequest] = _cases()
CASE_NAMES: list[str] = sorted(CASES)


def with_alert_code(request: DeliveryRequest, code: str) -> DeliveryRequest:
    """A copy of `request` whose only alert has `code` (to make a render break its schema)."""
    alert = Alert(code=code, rule="contract", reason="contract check")
    return request.model_copy(update={"alerts": [alert]})
