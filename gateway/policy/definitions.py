"""The rules a policy pack may hold, as written in `mappings/policies/*.yaml` (validated models).

Every rule names the flag it raises, the roles it applies to (`responsible` and `home` unless
it says otherwise: docs/council-it.md "Roles"), the conditions on the child,
and its `source`: the council's protocol (the file name of the published document) or the
statutory guidance, with a short verbatim quote. Durations are `Span`s: hours (elapsed time),
or calendar days, weeks, working days or calendar months in UK time (`calendar`).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.canonical import CouncilRole, RiskLevel, Vulnerability
from gateway.policy import calendar

RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
FlagCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
STATUTORY_GUIDANCE = "statutory guidance"
# A protocol is cited by the file name it is published under (e.g. `004_664830c5f7401d1d.txt`).
ProtocolName = Annotated[str, Field(pattern=r"^(statutory guidance|[0-9]{3}_[0-9a-f]{16}\.txt)$")]
UNITS = ("hours", "days", "weeks", "working_days", "months")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Source(_Model):
    """Where a rule comes from: the protocol's file name (or the guidance) and its words."""

    protocol: ProtocolName
    quote: str = Field(min_length=10, max_length=400)


class Span(_Model):
    """A duration in exactly one unit: hours, days, weeks, working days or calendar months."""

    hours: int | None = Field(default=None, ge=1)
    days: int | None = Field(default=None, ge=1)
    weeks: int | None = Field(default=None, ge=1)
    working_days: int | None = Field(default=None, ge=1)
    months: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_unit(self) -> Span:
        if len([unit for unit in UNITS if getattr(self, unit) is not None]) != 1:
            raise ValueError(f"give exactly one of {', '.join(UNITS)}")
        return self

    @cached_property
    def unit(self) -> tuple[str, int]:
        """(unit, count): read once, as every evaluation of the rule needs it."""
        return next((u, n) for u in UNITS if (n := getattr(self, u)) is not None)

    def after(self, start: datetime) -> datetime:
        """The moment this span after `start`: elapsed hours, else the same UK time of day."""
        unit, count = self.unit
        if unit == "hours":
            return start + timedelta(hours=count)
        if unit == "weeks":
            return calendar.add_days(start, 7 * count)
        if unit == "days":
            return calendar.add_days(start, count)
        if unit == "months":
            return calendar.add_months(start, count)
        return calendar.add_working_days(start, count)

    def text(self) -> str:
        """E.g. '24 hours', '20 working days', '1 month'."""
        unit, count = self.unit
        return f"{count} {unit.replace('_', ' ')[:-1]}" + ("" if count == 1 else "s")


class DueWithin(Span):
    """The deadline the flag's reason gives: a span after the flag falls due or after last seen."""

    since: Literal["flag", "last_seen"] = "flag"


class Rule(_Model):
    """What every rule has: id, flag, source, who it applies to and the conditions on the child.

    `vulnerabilities`: the rule applies when the episode has any of them. `age_under`: the
    child's age in whole years when reported is below it. `replaces`: the id of a rule of the
    pack this one extends, which this one takes the place of (Brent's 20 calendar days for the
    default's 20 working days). `action`: who must do what, added to the flag's reason.
    """

    id: RuleId
    flag: FlagCode
    source: Source
    action: str | None = Field(default=None, min_length=1, max_length=600)
    applies_to: tuple[CouncilRole, ...] = Field(
        default=(CouncilRole.RESPONSIBLE, CouncilRole.HOME), min_length=1
    )
    looked_after: bool | None = None
    child_protection_plan: bool | None = None
    age_under: int | None = Field(default=None, ge=1, le=25)
    vulnerabilities: tuple[Vulnerability, ...] = ()
    due_within: DueWithin | None = None
    replaces: RuleId | None = None


class Reported(Rule):
    """Due at the police report (the conditions may come true later: due then)."""

    kind: Literal["reported"]


class Found(Rule):
    """Due when the child is found."""

    kind: Literal["found"]


class MissingFor(Rule):
    """The child has been missing a span since last seen; again at each later moment.

    One span (`hours`, `days`, `weeks`, `working_days` or `months`), optionally repeated
    `every_days` while missing, or a `schedule` of spans (Brent: 7, 21 and 35 days, then 2 and 3
    months). `or_overnight`: due at the first night moment (00:00-06:00 UK time) if earlier.
    """

    kind: Literal["missing_for"]
    hours: int | None = Field(default=None, ge=1)
    days: int | None = Field(default=None, ge=1)
    weeks: int | None = Field(default=None, ge=1)
    working_days: int | None = Field(default=None, ge=1)
    months: int | None = Field(default=None, ge=1)
    schedule: tuple[Span, ...] = ()
    every_days: int | None = Field(default=None, ge=1)
    or_overnight: bool = False

    @model_validator(mode="after")
    def _one_clock(self) -> MissingFor:
        given = {unit: getattr(self, unit) for unit in UNITS if getattr(self, unit) is not None}
        if self.schedule and given:
            raise ValueError("give a schedule or one span, not both")
        if not self.schedule and len(given) != 1:
            raise ValueError(f"give a schedule or exactly one of {', '.join(UNITS)}")
        if self.schedule and self.every_days:
            raise ValueError("every_days repeats one span: a schedule lists its own moments")
        if self.or_overnight and (self.schedule or self.every_days):
            raise ValueError("or_overnight is for one span")
        return self

    @cached_property
    def spans(self) -> tuple[Span, ...]:
        """The moments, as spans after last seen: the schedule, or the one span."""
        if self.schedule:
            return self.schedule
        return (Span(**{u: getattr(self, u) for u in UNITS if getattr(self, u) is not None}),)


class ReportDayEnds(Rule):
    """Still missing at `at` (UK time) on the day the police report was made (Redbridge)."""

    kind: Literal["report_day_ends"]
    at: time


class Overnight(Rule):
    """Missing at any moment between `from` and `to` UK time, counting from last seen."""

    kind: Literal["overnight"]
    start: time = Field(alias="from")
    end: time = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Overnight:
        if self.start >= self.end:
            raise ValueError("'from' must be before 'to' (the night window may not span midnight)")
        return self


class EpisodeCount(Rule):
    """The child has had `count` episodes (this one included) in a window, or ever.

    The window is `window_days` calendar days or `window_months` calendar months back from
    this episode's report, or `ever`. `exclude_away`: DfE type `A` episodes are not counted;
    `from_home`: only episodes of a child who was not looked after then. For a window of 12
    months or more, and ever, the count is at least 1 + the police's previous reports in 12
    months when the message gives them (docs/policy-packs.md "Clocks").
    """

    kind: Literal["episode_count"]
    count: int = Field(ge=2)
    window_days: int | None = Field(default=None, ge=1)
    window_months: int | None = Field(default=None, ge=1)
    ever: bool = False
    exclude_away: bool = False
    from_home: bool = False

    @model_validator(mode="after")
    def _one_window(self) -> EpisodeCount:
        windows = [self.window_days is not None, self.window_months is not None, self.ever]
        if windows.count(True) != 1:
            raise ValueError("give one of window_days, window_months or ever: true")
        return self

    @cached_property
    def counts_police_history(self) -> bool:
        """Whether the window reaches back 12 months, so the police's 12-month count applies."""
        return (
            self.ever
            or (self.window_days is not None and self.window_days >= 365)
            or (self.window_months is not None and self.window_months >= 12)
        )


class RiskLevelIs(Rule):
    """The police risk level is one of `levels`."""

    kind: Literal["risk_level"]
    levels: tuple[RiskLevel, ...] = Field(min_length=1)


class RiskHeldFor(Rule):
    """The risk level has stayed at `level` for `hours` while the child is missing."""

    kind: Literal["risk_held_for"]
    level: RiskLevel
    hours: int = Field(ge=1)


AnyRule = (
    Reported
    | Found
    | MissingFor
    | ReportDayEnds
    | Overnight
    | EpisodeCount
    | RiskLevelIs
    | RiskHeldFor
)
RuleField = Annotated[AnyRule, Field(discriminator="kind")]
KINDS = frozenset(
    {
        "reported",
        "found",
        "missing_for",
        "report_day_ends",
        "overnight",
        "episode_count",
        "risk_level",
        "risk_held_for",
    }
)
