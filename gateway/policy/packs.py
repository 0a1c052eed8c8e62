"""Policy packs: one YAML file per council in `mappings/policies/`, validated into rules.

A pack names the protocol its rules come from and may `extends` another pack (every council's
pack extends `default`, directly or through a joint protocol's pack); its rules are added to
the parent's, and a rule that `replaces` an inherited one takes its place. Every rule cites its
`source`; every pack has the return home interview (a `found` rule with id
`return_home_interview` and a deadline in hours). Every problem is a `ConfigurationError` naming
the file, the line and the rule.
"""

from __future__ import annotations

from functools import cache, cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import mappings
from gateway import yamlconfig
from gateway.canonical import CouncilRole
from gateway.errors import ConfigurationError
from gateway.policy.definitions import (
    KINDS,
    STATUTORY_GUIDANCE,
    AnyRule,
    Found,
    ProtocolName,
    RuleField,
)

RETURN_INTERVIEW = "return_home_interview"


class Protocol(BaseModel):
    """The document a pack's rules come from, by file name and by the title councils know."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: ProtocolName
    title: str = Field(min_length=3, max_length=200)


class PackFile(BaseModel):
    """One pack file as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    council: str | None = Field(default=None, pattern=r"^[0-9]{3}$")
    protocol: Protocol
    extends: str | None = None
    rules: list[RuleField] = Field(default_factory=list)


class Pack(BaseModel):
    """A pack with its parents' rules folded in: what the evaluator runs."""

    model_config = ConfigDict(frozen=True)

    name: str
    protocol: Protocol
    rules: tuple[AnyRule, ...]

    @cached_property
    def by_role(self) -> dict[CouncilRole, tuple[AnyRule, ...]]:
        """The rules that apply to a council told in each role, in the pack's order."""
        return {role: tuple(r for r in self.rules if role in r.applies_to) for role in CouncilRole}

    @property
    def return_interview_due_hours(self) -> int:
        """Hours after the child is found that the return home interview is due."""
        rule = next(r for r in self.rules if r.id == RETURN_INTERVIEW)
        assert rule.due_within is not None and rule.due_within.hours is not None  # `_load`
        return rule.due_within.hours


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
    written, lines = _read(path)
    if written.pack != name:
        raise ConfigurationError(f"the file says pack {written.pack!r}", file=str(path), line=1)
    parent = _load(written.extends, (*seen, name)) if written.extends else None
    rules = list(parent.rules if parent else ())
    for index, rule in enumerate(written.rules):
        line = lines.get(("rules", index))
        _check_source(rule, written.protocol, path, line)
        rules = _add(rules, rule, path, line)
    _check_return_interview(rules, path)
    return Pack(name=name, protocol=written.protocol, rules=tuple(rules))


def _add(rules: list[AnyRule], rule: AnyRule, path: Path, line: int | None) -> list[AnyRule]:
    """`rules` with `rule` added, or put in place of the inherited rule it replaces."""
    if rule.replaces is not None:
        at = next((i for i, r in enumerate(rules) if r.id == rule.replaces), None)
        if at is None:
            problem = f"rule {rule.id}: replaces {rule.replaces!r}, which no parent pack has"
            raise ConfigurationError(problem, file=str(path), line=line)
        rules = [*rules[:at], rule, *rules[at + 1 :]]
    else:
        rules = [*rules, rule]
    if [r.id for r in rules].count(rule.id) > 1:
        problem = f"rule id {rule.id!r} appears twice (say `replaces:` to override a parent's)"
        raise ConfigurationError(problem, file=str(path), line=line)
    return rules


def _check_source(rule: AnyRule, protocol: Protocol, path: Path, line: int | None) -> None:
    """A rule cites its pack's protocol or the statutory guidance, nothing else."""
    if rule.source.protocol not in {protocol.file, STATUTORY_GUIDANCE}:
        problem = (
            f"rule {rule.id}: source.protocol {rule.source.protocol!r} is neither this pack's "
            f"protocol ({protocol.file}) nor {STATUTORY_GUIDANCE!r}"
        )
        raise ConfigurationError(problem, file=str(path), line=line)


def _check_return_interview(rules: list[AnyRule], path: Path) -> None:
    """Every pack has the return home interview: a `found` rule with a deadline in hours."""
    rule = next((r for r in rules if r.id == RETURN_INTERVIEW), None)
    if (
        not isinstance(rule, Found)
        or rule.due_within is None
        or rule.due_within.hours is None
        or rule.due_within.since != "flag"
    ):
        problem = (
            f"the pack needs a rule {RETURN_INTERVIEW!r} of kind found with "
            "due_within: {hours: N} (inherited from default, or replacing it)"
        )
        raise ConfigurationError(problem, file=str(path))


def _read(path: Path) -> tuple[PackFile, dict[tuple[Any, ...], int]]:
    document = yamlconfig.read(path, "policy pack")
    if not isinstance(document, dict):
        raise ConfigurationError("expected a mapping with pack and rules", file=str(path), line=1)
    lines: dict[tuple[Any, ...], int] = {}
    _strip_lines(document, (), lines)
    try:
        return PackFile.model_validate(document), lines
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if p not in KINDS)  # drop the union's tag
        line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
        where = _describe(document, loc)
        raise ConfigurationError(f"{where}: {first['msg']}", file=str(path), line=line) from exc


def _strip_lines(node: Any, at: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> None:
    """Remove the `__line__` markers, keeping the line of every mapping by its path."""
    if isinstance(node, dict):
        lines[at] = node.pop(yamlconfig.LINE, lines.get(at[:-1], 1))
        for key, value in node.items():
            _strip_lines(value, (*at, key), lines)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _strip_lines(item, (*at, index), lines)


def _describe(document: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    if loc[:1] == ("rules",) and len(loc) > 1 and isinstance(loc[1], int):
        rules = document.get("rules") or []
        rule = rules[loc[1]] if loc[1] < len(rules) else {}
        rule_id = rule.get("id", f"#{loc[1] + 1}") if isinstance(rule, dict) else f"#{loc[1] + 1}"
        field = ".".join(str(p) for p in loc[2:])
        return f"rule {rule_id}" + (f": {field}" if field else "")
    return ".".join(str(p) for p in loc) or "pack"
