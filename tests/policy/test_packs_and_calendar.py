"""Policy packs load and validate with precise errors; UK working days and months."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import mappings
from gateway import routing
from gateway.errors import ConfigurationError
from gateway.policy import calendar, packs
from gateway.settings import DEMO_ROUTING

COUNCIL_PACKS = ["brent", "redbridge", "derbyshire", "derby", "wakefield", "slough"]


@pytest.mark.parametrize("name", ["default", *COUNCIL_PACKS])
def test_every_bundled_pack_loads_with_the_default_rules_first(name: str) -> None:
    """Each council pack extends `default`, so the child protection escalation comes first."""
    pack = packs.load(name)
    assert pack.rules[0].id == "cp_not_found_20_working_days"
    assert pack.return_interview_due_hours == 72


def test_the_demo_routing_names_a_pack_for_every_council() -> None:
    """Every onboarded council's pack loads (start-up fails otherwise)."""
    table = routing.load(DEMO_ROUTING)
    assert {packs.load(r.policy).name for r in table.councils.values()} == set(COUNCIL_PACKS)


@pytest.fixture
def pack_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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
        ("{id: r1, flag: f, kind: open_for}", "rule r1: Value error, give exactly one of"),
        ("{id: r1, flag: f, kind: open_for, hours: 2, days: 1}", "give exactly one of"),
        ("{id: r1, flag: f, kind: episode_count, count: 3}", "give either window_days or ever"),
        ("{id: r1, flag: f, kind: sometimes}", "rule r1: Input tag 'sometimes' found"),
        ("{id: r1, flag: f, kind: risk_level, levels: [severe]}", "rule r1: levels.0"),
        ('{id: r1, flag: f, kind: overnight, from: "06:00", to: "00:00"}', "'from' must be"),
        ("{id: r1, flag: f, kind: open_for, hours: 2, colour: red}", "colour: Extra inputs"),
    ],
)
def test_a_bad_rule_names_file_line_and_rule(pack_dir: Path, rule: str, problem: str) -> None:
    """The error says which file, which line and which rule is wrong, and how."""
    path = pack_dir / "acme.yaml"
    path.write_text(
        "pack: acme\nreturn_interview_due_hours: 72\nextends: default\nrules:\n"
        "  - {id: fine, flag: f, kind: open_for, hours: 1}\n"
        f"  - {rule}\n"
    )
    with pytest.raises(ConfigurationError) as caught:
        packs.load("acme")
    assert caught.value.file == str(path)
    assert caught.value.line == 6
    assert problem in caught.value.problem


def test_duplicate_rule_ids_and_loops_are_refused(pack_dir: Path) -> None:
    """A rule id twice (here, one inherited) and packs extending each other both fail."""
    (pack_dir / "acme.yaml").write_text(
        "pack: acme\nreturn_interview_due_hours: 72\nextends: default\nrules:\n"
        "  - {id: cp_not_found_20_working_days, flag: f, kind: open_for, hours: 1}\n"
    )
    with pytest.raises(ConfigurationError, match="appears twice"):
        packs.load("acme")
    (pack_dir / "a.yaml").write_text("pack: a\nreturn_interview_due_hours: 72\nextends: b\n")
    (pack_dir / "b.yaml").write_text("pack: b\nreturn_interview_due_hours: 72\nextends: a\n")
    with pytest.raises(ConfigurationError, match="loop: a -> b"):
        packs.load("a")


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
