"""How long a delivery may wait, by the risk of its event, before it is overdue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.canonical import RiskLevel

if TYPE_CHECKING:
    from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long each risk level may wait for delivery before it is overdue."""

    high: timedelta = timedelta(minutes=15)
    medium: timedelta = timedelta(hours=1)
    other: timedelta = timedelta(hours=4)

    def for_risk(self, risk: RiskLevel) -> timedelta:
        """The deadline that applies to an event of this risk level."""
        if risk is RiskLevel.HIGH:
            return self.high
        return self.medium if risk is RiskLevel.MEDIUM else self.other

    @classmethod
    def from_settings(cls, settings: Settings) -> Deadlines:
        """The deadlines the settings give."""
        return cls(
            high=timedelta(seconds=settings.deadline_high_s),
            medium=timedelta(seconds=settings.deadline_medium_s),
            other=timedelta(seconds=settings.deadline_other_s),
        )
