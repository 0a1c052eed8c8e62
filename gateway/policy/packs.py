"""Policy packs: one YAML file per council in `mappings/policies/`, validated into rules.

A pack may `extends` another (every council's pack extends `default`); its rules are added to
the parent's. Every problem is a `ConfigurationError` naming the file, the line and the rule.
"""

from __future__ import annotations

from datetime import time
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import mappings
from gateway import yamlconfig
from gateway.canonical import RiskLevel
from gateway.errors import ConfigurationError

RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
FlagCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class _Rule(BaseModel):
    """What every rule has: its id, the flag it raises and the conditions on the child."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: RuleId
    flag: FlagCode
    looked_after: bool | None = None  # only for (or never for) looked-after children
    child_protection_plan: bool | None = None
    max_age: int | None = Field(default=None, ge=0, le=25)  # age in whole years when reported
    from_home: bool | None = None  # missing from home, i.e. not a looked-after child


class OpenFor(_Rule):
    """The episode has been open (not found, closed or cancelled) for a duration.

    Exactly one of `hours`, `days`, `months`, `working_days`; `every_days` repeats the flag
    while the episode stays open; `due_within_working_days` adds a due date to the reason.
    """

    kind: Literal["open_for"]
    hours: int | None = Field(default=None, ge=0)
    days: int | None = Field(default=None, ge=1)
    months: int | None = Field(default=None, ge=1)
    working_days: int | None = Field(default=None, ge=1)
    every_days: int | None = Field(default=None, ge=1)
    due_within_working_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_duration(self) -> OpenFor:
        given = [d for d in ("hours", "days", "months", "working_days") if getattr(self, d)]
        if self.hours == 0:
            given.append("hours")
        if len(given) != 1:
            raise ValueError("give exactly one of hours, days, months, working_days")
        return self


class EpisodeCount(_Rule):
    """The child has had `count` episodes (this one included) in a window, or ever."""

    kind: Literal["episode_count"]
    count: int = Field(ge=2)
    window_days: int | None = Field(default=None, ge=1)
    ever: bool = False
    exclude_away: bool = False  # DfE type `A` ("away") episodes are not counted

    @model_validator(mode="after")
    def _one_window(self) -> EpisodeCount:
        if (self.window_days is None) == (not self.ever):
            raise ValueError("give either window_days or ever: true")
        return self


class RiskLevelIs(_Rule):
    """The police risk level is one of `levels`."""

    kind: Literal["risk_level"]
    levels: list[RiskLevel] = Field(min_length=1)


class RiskHeldFor(_Rule):
    """The risk level has stayed at `level` for `hours` while the episode is open."""

    kind: Literal["risk_held_for"]
    level: RiskLevel
    hours: int = Field(ge=1)


class Overnight(_Rule):
    """The episode was open at any time between `from` and `to`, UK local time."""

    kind: Literal["overnight"]
    start: time = Field(alias="from")
    end: time = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Overnight:
        if self.start >= self.end:
            raise ValueError("'from' must be before 'to' (the night window may not span midnight)")
        return self


Rule = Annotated[
    OpenFor | EpisodeCount | RiskLevelIs | RiskHeldFor | Overnight, Field(discriminator="kind")
]


KINDS = frozenset({"open_for", "episode_count", "risk_level", "risk_held_for", "overnight"})


class PackFile(BaseModel):
    """One pack file as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    council: str | None = Field(default=None, pattern=r"^[0-9]{3}$")
    return_interview_due_hours: int = Field(ge=1, le=24 * 14)
    extends: str | None = None
    rules: list[Rule] = Field(default_factory=list)


class Pack(BaseModel):
    """A pack with its parents' rules folded in: what the evaluator runs."""

    model_config = ConfigDict(frozen=True)

    name: str
    return_interview_due_hours: int
    rules: tuple[OpenFor | EpisodeCount | RiskLevelIs | RiskHeldFor | Overnight, ...]


def pack_path(name: str) -> Path:
    """Where the pack called `name` lives."""
    return mappings.path(f"policies/{name}.yaml")


@cache
def load(name: str) -> Pack:
    """The pack `name`, its parents' rules first, validated; cached per process.

    Raises:
        ConfigurationError: naming the file and line of the first problem.
    """
    return _load(name, ())


def _load(name: str, seen: tuple[str, ...]) -> Pack:
    if name in seen:
        raise ConfigurationError(f"packs extend each other in a loop: {' -> '.join(seen)}")
    path = pack_path(name)
    if not path.is_file():
        raise ConfigurationError(f"unknown policy pack {name!r}", file=str(path))
    written = _read(path)
    if written.pack != name:
        raise ConfigurationError(f"the file says pack {written.pack!r}", file=str(path), line=1)
    parent = _load(written.extends, (*seen, name)) if written.extends else None
    rules = (*(parent.rules if parent else ()), *written.rules)
    ids = [r.id for r in rules]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise ConfigurationError(f"rule id {duplicate!r} appears twice", file=str(path))
    return Pack(
        name=name, return_interview_due_hours=written.return_interview_due_hours, rules=rules
    )


def _read(path: Path) -> PackFile:
    document = yamlconfig.read(path, "policy pack")
    if not isinstance(document, dict):
        raise ConfigurationError("expected a mapping with pack and rules", file=str(path), line=1)
    lines = _strip_lines(document)
    try:
        return PackFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        line = lines.get(loc[:2]) if loc[:1] == ("rules",) else lines.get(())
        where = _describe(document, loc)
        raise ConfigurationError(f"{where}: {first['msg']}", file=str(path), line=line) from exc


def _strip_lines(document: dict[str, Any]) -> dict[tuple[Any, ...], int]:
    """Remove the `__line__` markers, keeping the line of the file and of each rule."""
    lines: dict[tuple[Any, ...], int] = {(): document.pop(yamlconfig.LINE, 1)}
    for index, rule in enumerate(document.get("rules") or []):
        if isinstance(rule, dict):
            lines[("rules", index)] = rule.pop(yamlconfig.LINE, lines[()])
    return lines


def _describe(document: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    if loc[:1] == ("rules",) and len(loc) > 1 and isinstance(loc[1], int):
        rules = document.get("rules") or []
        rule = rules[loc[1]] if loc[1] < len(rules) else {}
        rule_id = rule.get("id", f"#{loc[1] + 1}") if isinstance(rule, dict) else f"#{loc[1] + 1}"
        field = ".".join(str(p) for p in loc[2:] if p not in KINDS)  # drop the union's tag
        return f"rule {rule_id}" + (f": {field}" if field else "")
    return ".".join(str(p) for p in loc) or "pack"
