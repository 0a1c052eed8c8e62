"""Map a minisource report to its one canonical event; pure and deterministic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from gateway import canonical as c
from tests.adapters.minisource.parser import MinisourceMessage

CODES: dict[str, dict[str, str]] = yaml.safe_load(
    (Path(__file__).resolve().parent / "codes.yaml").read_text(encoding="utf-8")
)
# Minisource carries no officer: its control room is the police contact.
CONTROL_ROOM = c.PoliceContact(
    officer="Duty officer",
    unit="Minisource control room",
    phone="01632 960000",
    email="control@minisource.example.org",
)


def to_events(message: MinisourceMessage) -> list[c.EpisodeEvent]:
    """The one event the report describes, with the episode as it now stands."""
    f = message.fields
    risk = c.RiskLevel(CODES["risk"][f["Risk"]])
    return [
        c.EpisodeEvent(
            type=c.EventType(CODES["event"][f["Event"]]),
            at=message.sent_at,
            source=c.SourceRef(
                source=message.source,
                force=message.force,
                reference=message.reference,
                version=message.version,
                message_id=message.message_id,
            ),
            child=c.Child(
                given_names=f["GivenNames"],
                family_name=f["FamilyName"],
                date_of_birth=date.fromisoformat(f["DateOfBirth"]),
                gender=c.Gender(CODES["gender"][f["Gender"]]),
                home_address=c.Address(lines=message.address_lines, postcode=f["Postcode"]),
            ),
            episode=_episode(message, risk),
        )
    ]


def _episode(message: MinisourceMessage, risk: c.RiskLevel) -> c.EpisodeSnapshot:
    f = message.fields
    snapshot: dict[str, Any] = {
        "police_category": c.PoliceCategory.MISSING,
        "risk_level": risk,
        "risk_history": [c.RiskAssessment(level=risk, at=message.sent_at)],
        "status": c.EpisodeStatus.OPEN,
        "reported_at": message.sent_at,
        "reported_by": c.ReportedBy.OTHER,
        "last_seen_at": datetime.fromisoformat(f["LastSeenAt"]).astimezone(UTC),
        "last_seen_location": f["LastSeenPlace"],
        "home_council": f["Council"],
        "police": CONTROL_ROOM,
    }
    return c.EpisodeSnapshot(**snapshot)
