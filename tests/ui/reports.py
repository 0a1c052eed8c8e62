"""Synthetic MERLIN episodes for the open-episodes page: any child, risk, times and condition."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tests.messages import merlin, new_id


def nhs_number(serial: int) -> str:
    """A valid NHS number in the 999 test range (modulus 11 check digit)."""
    while True:
        body = f"999{serial:06d}"
        check = 11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            return body + str(check % 11)
        serial += 1


@dataclass(frozen=True)
class Episode:
    """One synthetic child's episode, as the Met would send it (report, found, closure).

    A looked-after child is placed in `placed` by `responsible`; a child who is not looked
    after lives in Brent (304), whatever the care status's leftover responsible authority says.
    """

    given: str
    family: str
    serial: int
    last_seen: datetime
    risk: str = "MEDIUM"
    looked_after: bool = True
    responsible: str = "830"
    placed: str = "304"
    found: datetime | None = None
    condition: str = "SAFE_WELL"
    closed: bool = False
    cancelled: bool = False

    def _changes(self, sent: datetime) -> list[tuple[str, str]]:
        reported = self.last_seen + timedelta(minutes=50)
        iso = lambda moment: moment.isoformat()  # noqa: E731
        changes = [
            ("<FamilyName>Testchild<", f"<FamilyName>{self.family}<"),
            ("<GivenNames>Alex Jordan<", f"<GivenNames>{self.given}<"),
            ("<NhsNumber>9997654323<", f"<NhsNumber>{nhs_number(self.serial * 37)}<"),
            ("<ResponsibleAuthority>830<", f"<ResponsibleAuthority>{self.responsible}<"),
            ("<PlacementBorough>304<", f"<PlacementBorough>{self.placed}<"),
            ("<RiskLevel>MEDIUM<", f"<RiskLevel>{self.risk}<"),
            ("<SentAt>2024-05-01T22:05:13+01:00<", f"<SentAt>{iso(sent)}<"),
            ("<LastSeenAt>2024-05-01T18:00:00+01:00<", f"<LastSeenAt>{iso(self.last_seen)}<"),
            ("<ReportedAt>2024-05-01T21:30:00+01:00<", f"<ReportedAt>{iso(reported)}<"),
            ("<RiskAssessedAt>2024-05-01T21:55:00+01:00<", f"<RiskAssessedAt>{iso(reported)}<"),
        ]
        if not self.looked_after:
            changes.append(("<LookedAfter>true<", "<LookedAfter>false<"))
        return changes

    def _found(self, reason: str | None) -> tuple[str, str]:
        assert self.found is not None
        closure = f"<ClosureReason>{reason}</ClosureReason>\n    " if reason else ""
        return (
            "    <OfficerInCase>",
            f"    <Found><FoundAt>{self.found.isoformat()}</FoundAt><FoundLocation>A park"
            "</FoundLocation><FoundBy>POLICE</FoundBy><ReturnedTo>Home</ReturnedTo>"
            f"<Condition>{self.condition}</Condition></Found>\n    {closure}<OfficerInCase>",
        )

    def messages(self) -> list[bytes]:
        """The MERLIN notifications of the episode, in order."""
        ref = f"25MIS{self.serial:06d}"
        first = self.last_seen + timedelta(hours=1)
        bodies = [merlin(*self._changes(first), message_id=new_id(), ref=ref)]
        if self.found is not None:
            sent = self.found + timedelta(minutes=5)
            later = [*self._changes(sent), self._found(None)]
            bodies.append(
                merlin(*later, message_id=new_id(), ref=ref, version=2, notification="FOUND")
            )
            if self.closed:
                closing = [*self._changes(sent), self._found("FOUND_SAFE")]
                bodies.append(
                    merlin(
                        *closing, message_id=new_id(), ref=ref, version=3, notification="CLOSURE"
                    )
                )
        if self.cancelled:
            withdrawn = [
                *self._changes(first),
                ("    <OfficerInCase>", "    <ClosureReason>CREATED_IN_ERROR</ClosureReason>\n"
                 "    <OfficerInCase>"),
            ]  # fmt: skip
            bodies.append(
                merlin(*withdrawn, message_id=new_id(), ref=ref, version=2,
                       notification="CANCELLATION")
            )  # fmt: skip
        return bodies

    def send(self, post: Callable[[bytes], dict[str, Any]]) -> str:
        """Post every message of the episode; its episode id."""
        receipts = [post(body) for body in self.messages()]
        return str(receipts[0]["episode_id"])
