"""Policy packs load and validate with precise errors; UK days, working days and months."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import mappings
from gateway import routing
from gateway.errors import ConfigurationError
from gateway.policy import calendar, packs
from gateway.settings import DEMO_ROUTING

COUNCIL_PACKS = ["brent", "redbridge", "derbyshire", "derby", "wakefield", "slough"]
HEADER = (
    "pack: acme\nprotocol: {file: 009_0123456789abcdef.txt, title: Acme protocol}\n"
    "extends: default\nrules:\n"
)
SOURCE = "source: {protocol: 009_0123456789abcdef.txt, quote: a short quote from it}"


@pytest.mark.parametrize("name", ["default", "derby_derbyshire", *COUNCIL_PACKS])
def test_every_bundled_pack_loads_with_its_return_interview_first(name: str) -> None:
    """Each pack extends `default`: the return home interview, due 72 hours after found, first."""
    pack = packs.load(name)
    assert pack.rules[0].id == "return_home_interview"
    assert pack.return_interview_due_hours == 72
    assert all(rule.source.quote for rule in pack.rules)


def test_derby_has_every_rule_of_the_joint_protocol_as_derbyshire_does() -> None:
    """Derby (831) and Derbyshire (830) run the same joint protocol's rules."""
    assert packs.load("derby").rules == packs.load("derbyshire").rules
    assert packs.load("derby").protocol == packs.load("derbyshire").protocol


def test_the_demo_routing_names_a_pack_for_every_council() -> None:
    """Every onboarded council's pack loads (start-up fails otherwise)."""
    table = routing.load(DEMO_ROUTING)
    assert {packs.load(r.policy).name for r in table.councils.values()} == set(COUNCIL_PACKS)


@pytest.fixture
def pack_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Policy packs read from a scratch folder (with the real default pack in it)."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "default.yaml").write_text(mappings.path("policies/default.yaml").read_text())
    monkeypatch.setattr(packs, "pack_path", lambda name: folder / f"{name}.yaml")
    packs.load.cache_clear()
    yield folder
    packs.load.cache_clear()


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (f"{{id: r1, flag: f, kind: missing_for, {SOURCE}}}", "rule r1: Value error, give a"),
        (f"{{id: r1, flag: f, kind: missing_for, hours: 2, days: 1, {SOURCE}}}", "exactly one"),
        (
            f"{{id: r1, flag: f, kind: missing_for, hours: 2, schedule: [{{days: 1}}], {SOURCE}}}",
            "a schedule or one span, not both",
        ),
        (
            f"{{id: r1, flag: f, kind: missing_for, schedule: [{{days: 1, hours: 2}}], {SOURCE}}}",
            "rule r1: schedule.0: Value error, give exactly one of",
        ),
        (f"{{id: r1, flag: f, kind: episode_count, count: 3, {SOURCE}}}", "give one of window"),
        (f"{{id: r1, flag: f, kind: sometimes, {SOURCE}}}", "rule r1: Input tag 'sometimes'"),
        (f"{{id: r1, flag: f, kind: risk_level, levels: [severe], {SOURCE}}}", "levels.0"),
        (
            f'{{id: r1, flag: f, kind: overnight, from: "06:00", to: "00:00", {SOURCE}}}',
            "'from' must be",
        ),
        (f"{{id: r1, flag: f, kind: reported, colour: red, {SOURCE}}}", "colour: Extra inputs"),
        (f"{{id: r1, flag: f, kind: reported, applies_to: [nobody], {SOURCE}}}", "applies_to.0"),
        ("{id: r1, flag: f, kind: reported}", "rule r1: source: Field required"),
        (
            "{id: r1, flag: f, kind: reported, source: {protocol: the internet, quote: trust me}}",
            "rule r1: source.protocol: String should match pattern",
        ),
        (
            "{id: r1, flag: f, kind: reported, source: {protocol: 009_0123456789abcdef.txt}}",
            "rule r1: source.quote: Field required",
        ),
        (
            "{id: r1, flag: f, kind: reported,\n"
            "     source: {protocol: 004_664830c5f7401d1d.txt, quote: another council's words}}",
            "neither this pack's protocol (009_0123456789abcdef.txt) nor 'statutory guidance'",
        ),
        (f"{{id: r1, flag: f, kind: reported, replaces: r9, {SOURCE}}}", "replaces 'r9', which"),
    ],
)
def test_a_bad_rule_names_file_line_and_rule(pack_dir: Path, rule: str, problem: str) -> None:
    """The error says which file, which line and which rule is wrong, and how."""
    path = pack_dir / "acme.yaml"
    path.write_text(HEADER + f"  - {{id: fine, flag: f, kind: reported, {SOURCE}}}\n  - {rule}\n")
    with pytest.raises(ConfigurationError) as caught:
        packs.load("acme")
    assert caught.value.file == str(path)
    assert caught.value.line == 6
    assert problem in caught.value.problem


def test_a_rule_without_a_source_is_named_with_its_line_in_block_style(pack_dir: Path) -> None:
    """Written over several lines, a rule without `source:` is pointed at by its first line."""
    path = pack_dir / "acme.yaml"
    path.write_text(HEADER + "  - id: r1\n    flag: f\n    kind: found\n")
    with pytest.raises(ConfigurationError) as caught:
        packs.load("acme")
    assert (caught.value.line, caught.value.problem) == (5, "rule r1: source: Field required")


def test_duplicate_rule_ids_loops_and_a_missing_interview_are_refused(pack_dir: Path) -> None:
    """A rule id twice (here, one inherited), packs extending each other, no interview: all fail."""
    (pack_dir / "acme.yaml").write_text(
        HEADER + f"  - {{id: cp_not_found_20_working_days, flag: f, kind: reported, {SOURCE}}}\n"
    )
    with pytest.raises(ConfigurationError, match=r"appears twice \(say `replaces:`"):
        packs.load("acme")
    header = "protocol: {file: statutory guidance, title: The guidance}\n"
    (pack_dir / "a.yaml").write_text(f"pack: a\n{header}extends: b\n")
    (pack_dir / "b.yaml").write_text(f"pack: b\n{header}extends: a\n")
    with pytest.raises(ConfigurationError, match="loop: a -> b"):
        packs.load("a")
    (pack_dir / "alone.yaml").write_text(f"pack: alone\n{header}")
    with pytest.raises(ConfigurationError, match="needs a rule 'return_home_interview'"):
        packs.load("alone")


def test_a_rule_replaces_the_inherited_one_in_its_place(pack_dir: Path) -> None:
    """`replaces:` puts the pack's own rule where the parent's was, and drops the parent's."""
    (pack_dir / "acme.yaml").write_text(
        HEADER + "  - {id: cp_not_found_20_days, replaces: cp_not_found_20_working_days,\n"
        f"     flag: child_protection_escalation, kind: missing_for, days: 20, {SOURCE}}}\n"
    )
    assert [r.id for r in packs.load("acme").rules] == [
        "return_home_interview",
        "cp_not_found_20_days",
    ]


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 12, 24), True),
        (date(2026, 12, 25), False),  # Christmas Day, a Friday
        (date(2026, 12, 28), False),  # Boxing Day (observed): the 26th is a Saturday
        (date(2026, 12, 29), True),
        (date(2025, 8, 25), False),  # late summer bank holiday (England and Wales)
        (date(2025, 8, 4), True),  # Scotland's summer holiday is not England's
        (date(2025, 8, 2), False),  # a Saturday
    ],
)
def test_working_days_follow_england_and_wales_bank_holidays(day: date, working: bool) -> None:
    """Weekends and the England and Wales bank holidays are not working days."""
    assert calendar.is_working_day(day) is working


def test_working_days_keep_the_uk_time_of_day_across_the_clock_change() -> None:
    """Friday 28 March 2025 10:00 GMT + 2 working days is Tuesday 1 April 10:00 BST."""
    start = datetime(2025, 3, 28, 10, 0, tzinfo=UTC)
    assert calendar.add_working_days(start, 2) == datetime(2025, 4, 1, 9, 0, tzinfo=UTC)


def test_months_end_on_the_last_day_of_a_shorter_month() -> None:
    """31 January + 1 month is 28 February; + 3 months is 30 April (UK time kept)."""
    start = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
    assert calendar.add_months(start, 1) == datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
    assert calendar.add_months(start, 3) == datetime(2025, 4, 30, 11, 0, tzinfo=UTC)


def test_calendar_days_keep_the_uk_time_of_day_across_the_clock_change() -> None:
    """Friday 28 March 2025 10:00 GMT + 7 days is Friday 4 April 10:00 BST (09:00 UTC)."""
    start = datetime(2025, 3, 28, 10, 0, tzinfo=UTC)
    assert calendar.add_days(start, 7) == datetime(2025, 4, 4, 9, 0, tzinfo=UTC)
    assert calendar.add_days(start, -7) == datetime(2025, 3, 21, 10, 0, tzinfo=UTC)
