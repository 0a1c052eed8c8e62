"""`gateway export ssda903-missing`: a council's SSDA903 Missing table, checked by its rules."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from gateway.canonical import utc_now
from gateway.cli import main
from gateway.delivery.outbox import save_case_record
from gateway.exports.ssda903 import COLUMNS, LONDON, EpisodeFacts, Period, build_rows
from gateway.store.locks import Level
from gateway.store.schema import audit_log
from gateway.store.work import unit_of_work
from tests.gateway.onboarding import on_test_database
from tests.messages import merlin, new_id

YEAR = Period(date(2025, 4, 1), date(2026, 3, 31))
YEAR_ARGS = ["--from", "2025-04-01", "--to", "2026-03-31"]
XML = {"Content-Type": "application/xml"}


# --- the return's rules, written from the DfE validator independently of the export ----------


def _day(value: str) -> date | None:
    if not re.fullmatch(r"[0-9]{2}/[0-9]{2}/[0-9]{4}", value):
        return None
    try:
        return datetime.strptime(value, "%d/%m/%Y").replace(tzinfo=UTC).date()
    except ValueError:
        return None


def _row_errors(row: dict[str, str], period: Period) -> list[str]:
    start, end, dob = _day(row["MIS_START"]), _day(row["MIS_END"]), _day(row["DOB"])
    checks = {
        "1004 start is not a dd/mm/yyyy date": start is None,
        "1005 end is neither blank nor a dd/mm/yyyy date": row["MIS_END"] != "" and end is None,
        "1006/564-566 missing type is not M or A": row["MISSING"] not in {"M", "A"},
        "567 end before start": bool(start and end and end < start),
        "570 start after the period": bool(start and start > period.last),
        "571 end outside the period": bool(end and not period.first <= end <= period.last),
        "586 start not after the date of birth": bool(start and dob and start <= dob),
        "CHILD is blank": not row["CHILD"],
    }
    return [f"{row}: rule {rule}" for rule, broken in checks.items() if broken]


def return_errors(rows: list[dict[str, str]], period: Period) -> list[str]:
    """Every broken rule of the Missing table (1004-1006, 564-567, 570, 571, 574, 586)."""
    errors = [error for row in rows for error in _row_errors(row, period)]
    by_child: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_child.setdefault(row["CHILD"], []).append(row)
    for child, periods in by_child.items():
        ordered = sorted(periods, key=lambda r: _day(r["MIS_START"]) or date.min)
        for before, after in itertools.pairwise(ordered):
            ended = _day(before["MIS_END"])
            if ended is None or (_day(after["MIS_START"]) or date.min) < ended:
                errors.append(f"{child}: rule 574 {after} overlaps {before}")
    return errors


def read_csv(text_: str) -> list[dict[str, str]]:
    """The CSV rows, after checking the header is the return's."""
    reader = csv.DictReader(io.StringIO(text_))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def test_the_checker_catches_each_rule() -> None:
    """The rule checker itself fails overlapping, reversed, out-of-period and badly coded rows."""
    bad = [
        {"CHILD": "X", "DOB": "01/01/2010", "MISSING": "M", "MIS_START": "01/05/2025",
         "MIS_END": ""},
        {"CHILD": "X", "DOB": "01/01/2010", "MISSING": "Z", "MIS_START": "02/05/2025",
         "MIS_END": "01/05/2025"},
        {"CHILD": "Y", "DOB": "01/01/2010", "MISSING": "A", "MIS_START": "2025-05-01",
         "MIS_END": "01/05/2026"},
    ]  # fmt: skip
    found = " ".join(return_errors(bad, YEAR))
    for rule in ("574", "1006", "567", "1004", "571"):
        assert f"rule {rule}" in found


# --- the pure row builder -------------------------------------------------------------------


def fact(
    episode_id: str,
    start: str,
    end: str | None,
    *,
    child: str = "c1",
    person: str | None = "P1",
    kind: str | None = "M",
    status: str | None = None,
    dob: date = date(2010, 3, 4),
) -> EpisodeFacts:
    """An episode's facts with ISO times."""
    found = datetime.fromisoformat(end) if end else None
    return EpisodeFacts(
        episode_id=episode_id,
        child_id=child,
        person_id=person,
        date_of_birth=dob,
        missing_type=kind,
        status=status or ("found" if found else "open"),
        last_seen_at=datetime.fromisoformat(start),
        found_at=found,
    )


def cells(facts: list[EpisodeFacts], **known: set[str]) -> list[list[str]]:
    """The rows built for the reporting year, as CSV cells."""
    return [row.cells() for row in build_rows(facts, YEAR, known).rows]


def test_overlapping_reports_of_one_absence_merge_into_one_missing_period() -> None:
    """Two reports overlapping in time become one row, M when either part was M."""
    result = build_rows(
        [
            fact("e1", "2025-09-05T16:00:00Z", "2025-09-07T11:00:00Z", kind="A"),
            fact("e2", "2025-09-05T17:00:00Z", "2025-09-08T10:00:00Z", kind="M"),
        ],
        YEAR,
    )
    assert [r.cells() for r in result.rows] == [
        ["P1", "04/03/2010", "M", "05/09/2025", "08/09/2025"]
    ]
    assert result.merged[0].episode_ids == ("e1", "e2")


def test_a_period_may_start_on_the_day_the_previous_one_ended() -> None:
    """Rule 574 allows a new period on the day the last ended: two rows, not merged."""
    assert cells(
        [
            fact("e1", "2025-05-10T19:00:00Z", "2025-05-11T08:00:00Z"),
            fact("e2", "2025-05-11T21:00:00Z", "2025-05-12T07:00:00Z"),
        ]
    ) == [
        ["P1", "04/03/2010", "M", "10/05/2025", "11/05/2025"],
        ["P1", "04/03/2010", "M", "11/05/2025", "12/05/2025"],
    ]


def test_an_open_episode_ends_when_the_next_report_last_saw_the_child() -> None:
    """Never found, then reported again: it ended at the next report's last seen, own row."""
    result = build_rows(
        [
            fact("e1", "2026-03-20T18:00:00Z", None),
            fact("e2", "2026-03-25T18:00:00Z", "2026-03-26T10:00:00Z", kind="A"),
        ],
        YEAR,
    )
    assert [r.cells() for r in result.rows] == [
        ["P1", "04/03/2010", "M", "20/03/2026", "25/03/2026"],  # not e2's end, 26/03
        ["P1", "04/03/2010", "A", "25/03/2026", "26/03/2026"],
    ]
    assert [r.ended_by_next for r in result.ended_by_next] == ["e1"]
    assert result.merged == []


def test_a_run_of_reports_never_found_keeps_one_row_each() -> None:
    """Three open reports in a row: two end at the next one, the last stays blank."""
    result = build_rows(
        [
            fact("e1", "2025-06-01T18:00:00Z", None),
            fact("e2", "2025-06-09T18:00:00Z", None),
            fact("e3", "2025-07-20T18:00:00Z", None),
        ],
        YEAR,
    )
    assert [r.cells()[3:] for r in result.rows] == [
        ["01/06/2025", "09/06/2025"],
        ["09/06/2025", "20/07/2025"],
        ["20/07/2025", ""],
    ]
    assert [r.ended_by_next for r in result.ended_by_next] == ["e1", "e2"]


def test_the_next_report_may_be_one_the_council_is_not_responsible_for() -> None:
    """A later report of the child placed by another council still ends the open episode."""
    later = datetime.fromisoformat("2025-10-03T09:00:00Z")
    result = build_rows([fact("e1", "2025-10-01T18:00:00Z", None)], YEAR, reports={"c1": [later]})
    assert [r.cells() for r in result.rows] == [
        ["P1", "04/03/2010", "M", "01/10/2025", "03/10/2025"]
    ]
    assert [r.ended_by_next for r in result.ended_by_next] == ["e1"]


def test_two_open_reports_of_one_absence_still_merge() -> None:
    """Two forces report the same last seen, neither found: one open row, not ended."""
    result = build_rows(
        [
            fact("e1", "2026-02-01T18:00:00Z", None),
            fact("e2", "2026-02-01T18:00:00Z", None, kind="A"),
        ],
        YEAR,
    )
    assert [r.cells() for r in result.rows] == [["P1", "04/03/2010", "M", "01/02/2026", ""]]
    assert result.ended_by_next == [] and result.merged[0].episode_ids == ("e1", "e2")


def test_an_end_by_the_next_report_after_the_period_leaves_mis_end_blank() -> None:
    """The next report came after 31 March: still missing at the end, MIS_END blank, unlisted."""
    result = build_rows(
        [fact("e1", "2026-03-28T18:00:00Z", None), fact("e2", "2026-04-04T18:00:00Z", None)],
        YEAR,
    )
    assert [r.cells()[3:] for r in result.rows] == [["28/03/2026", ""]]
    assert result.ended_by_next == []


def test_a_looked_after_child_with_an_unknown_responsible_authority_is_listed() -> None:
    """The host's export lists the episode (with why) when it is in the period, not otherwise."""
    result = build_rows(
        [],
        YEAR,
        unknown_responsible=[
            fact("u1", "2025-05-01T10:00:00Z", "2025-05-02T10:00:00Z", person=None),
            fact("u2", "2024-05-01T10:00:00Z", "2024-05-02T10:00:00Z", person=None),
        ],
    )
    assert result.rows == []
    assert [item.episode_id for item in result.left_out] == ["u1"]
    assert "responsible authority is unknown" in result.left_out[0].reason


def test_dates_are_uk_calendar_dates_and_cut_to_the_period() -> None:
    """23:30 UTC in summer is the next UK day; found after 31 March leaves MIS_END blank."""
    assert cells(
        [
            fact("e1", "2025-03-30T22:30:00Z", "2025-04-02T09:00:00Z"),
            fact("e2", "2025-06-30T23:30:00Z", "2025-07-01T10:00:00Z", kind="A"),
            fact("e3", "2026-03-30T19:00:00Z", "2026-04-02T09:00:00Z"),
            fact("e4", "2025-01-10T19:00:00Z", "2025-01-11T09:00:00Z"),  # before the period
            fact("e5", "2026-04-05T19:00:00Z", None),  # after it
        ]
    ) == [
        ["P1", "04/03/2010", "M", "30/03/2025", "02/04/2025"],
        ["P1", "04/03/2010", "A", "01/07/2025", "01/07/2025"],
        ["P1", "04/03/2010", "M", "30/03/2026", ""],
    ]


def test_person_ids_are_borrowed_from_the_child_or_the_episode_is_left_out() -> None:
    """One known id is borrowed; none or several leave the episode out, with its reason."""
    facts = [
        fact("e1", "2025-05-01T10:00:00Z", "2025-05-01T20:00:00Z", child="c1", person=None),
        fact("e2", "2025-05-01T10:00:00Z", "2025-05-01T20:00:00Z", child="c2", person=None),
        fact("e3", "2025-05-01T10:00:00Z", "2025-05-01T20:00:00Z", child="c3", person=None),
        fact("e4", "2024-05-01T10:00:00Z", "2024-05-01T20:00:00Z", child="c4", person=None),
    ]
    result = build_rows(facts, YEAR, {"c1": {"P9"}, "c3": {"P7", "P8"}})
    assert [r.cells()[0] for r in result.rows] == ["P9"]
    reasons = {item.episode_id: item.reason for item in result.left_out}
    assert set(reasons) == {"e2", "e3"}  # e4 is outside the period: not listed
    assert "no person id" in reasons["e2"]
    assert "2 person ids" in reasons["e3"]


def test_episodes_that_would_break_a_rule_are_left_out_with_the_rule() -> None:
    """No found time on a closed episode, found before last seen, or a start before birth."""
    result = build_rows(
        [
            fact("e1", "2025-05-01T10:00:00Z", None, status="closed"),
            fact("e2", "2025-06-01T10:00:00Z", "2025-05-31T10:00:00Z", child="c2", person="P2"),
            fact("e3", "2025-07-01T10:00:00Z", None, child="c3", person="P3", dob=date(2025, 7, 1)),
            fact("e4", "2025-08-01T10:00:00Z", None, child="c4", person="P4", kind=None),
        ],
        YEAR,
    )
    assert result.rows == []
    reasons = {item.episode_id: item.reason for item in result.left_out}
    assert "without a found time" in reasons["e1"]
    assert "567" in reasons["e2"]
    assert "586" in reasons["e3"]
    assert "missing type" in reasons["e4"]


@pytest.mark.parametrize(
    ("day", "first"),
    [(date(2026, 3, 31), date(2025, 4, 1)), (date(2026, 4, 1), date(2026, 4, 1))],
)
def test_the_reporting_year_runs_from_1_april_to_31_march(day: date, first: date) -> None:
    """31 March closes a reporting year; 1 April opens the next."""
    assert Period.reporting_year(day) == Period(first, date(first.year + 1, 3, 31))


# --- a generated year of episodes through the API, exported through the CLI ----------------


def nhs_number(serial: int) -> str:
    """A valid NHS number in the 999 test range (modulus 11 check digit)."""
    while True:
        body = f"999{serial:06d}"
        check = 11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            return body + str(check % 11)
        serial += 1


@dataclass(frozen=True)
class Child:
    """A synthetic child of the generated year."""

    family_name: str
    serial: int
    responsible: str | None = "830"  # None: the police name no responsible authority
    looked_after: bool = True
    placed: str = "304"

    def replacements(self) -> list[tuple[str, str]]:
        """Text replacements of the MERLIN example that make it about this child."""
        authority = "<ResponsibleAuthority>830</ResponsibleAuthority>\n      "
        changes = [
            ("<FamilyName>Testchild<", f"<FamilyName>{self.family_name}<"),
            ("<NhsNumber>9997654323<", f"<NhsNumber>{nhs_number(self.serial)}<"),
            ("<PlacementBorough>304<", f"<PlacementBorough>{self.placed}<"),
            (
                authority,
                f"<ResponsibleAuthority>{self.responsible}</ResponsibleAuthority>\n      "
                if self.responsible
                else "",
            ),
        ]
        if not self.looked_after:
            changes.append(("<LookedAfter>true<", "<LookedAfter>false<"))
        return changes


def _at(moment: datetime) -> str:
    return moment.isoformat()


def _times(last_seen: datetime, sent: datetime) -> list[tuple[str, str]]:
    reported = last_seen + timedelta(hours=1)
    return [
        ("<SentAt>2024-05-01T22:05:13+01:00<", f"<SentAt>{_at(sent)}<"),
        ("<LastSeenAt>2024-05-01T18:00:00+01:00<", f"<LastSeenAt>{_at(last_seen)}<"),
        ("<ReportedAt>2024-05-01T21:30:00+01:00<", f"<ReportedAt>{_at(reported)}<"),
        ("<RiskAssessedAt>2024-05-01T21:55:00+01:00<", f"<RiskAssessedAt>{_at(reported)}<"),
    ]


def _found(at: datetime) -> tuple[str, str]:
    return (
        "    <OfficerInCase>",
        f"    <Found><FoundAt>{_at(at)}</FoundAt><FoundLocation>A park</FoundLocation>"
        "<FoundBy>POLICE</FoundBy><ReturnedTo>The Example Home</ReturnedTo>"
        "<Condition>SAFE_WELL</Condition></Found>\n    <OfficerInCase>",
    )


class Year:
    """Posts the year's MERLIN notifications and plays the council's case system."""

    def __init__(self, client: TestClient, engine: Engine, headers: dict[str, str]) -> None:
        self.client, self.engine, self.headers = client, engine, headers
        self.serial = 0

    def _post(self, body: bytes) -> str:
        response = self.client.post(
            "/v1/inbound/merlin", content=body, headers={**XML, **self.headers}
        )
        assert response.status_code == 202, response.text
        return str(response.json()["episode_id"])

    def episode(
        self,
        child: Child,
        last_seen: str,
        found: str | None = None,
        *,
        away: bool = False,
        cancelled: bool = False,
    ) -> str:
        """Report an episode (then its finding or cancellation); its episode id."""
        self.serial += 1
        ref, seen = f"25MIS{self.serial:06d}", datetime.fromisoformat(last_seen)
        base = child.replacements()
        if away:
            base.append(("<Category>MISSING</Category>", "<Category>MISSING</Category>\n      "
                         "<WhereaboutsKnown>true</WhereaboutsKnown>"))  # fmt: skip
        report = [*base, *_times(seen, seen + timedelta(hours=2))]
        episode_id = self._post(merlin(*report, message_id=new_id(), ref=ref))
        if found is not None:
            at = datetime.fromisoformat(found)
            later = [*base, *_times(seen, at + timedelta(minutes=5)), _found(at)]
            self._post(
                merlin(*later, message_id=new_id(), ref=ref, version=2, notification="FOUND")
            )
        if cancelled:
            withdrawn = [*report, ("    <OfficerInCase>", "    <ClosureReason>CREATED_IN_ERROR"
                                   "</ClosureReason>\n    <OfficerInCase>")]  # fmt: skip
            self._post(merlin(*withdrawn, message_id=new_id(), ref=ref, version=2,
                              notification="CANCELLATION"))  # fmt: skip
        return episode_id

    def answered(self, episode_id: str, council: str, person_id: str) -> None:
        """The council's case system has answered a delivery of the episode with its ids."""
        with unit_of_work(self.engine, locks=(Level.CASE_RECORD,)) as connection:
            save_case_record(connection, episode_id, council, "fwi", person_id=person_id,
                             case_episode_id=f"EP-{episode_id[:8]}", now=utc_now())  # fmt: skip


ALPHA, BRAVO, CHARLIE = Child("Alphatest", 1), Child("Bravotest", 2), Child("Charlietest", 3)
DELTA, ECHO = Child("Deltatest", 4), Child("Echotest", 5)
FOXTROT = Child("Foxtrottest", 6, responsible="304")  # looked after by Brent, not Derbyshire
GOLF = Child("Golftest", 7, looked_after=False)
HOTEL = Child("Hoteltest", 8)  # one report never found, then reported again
INDIA = Child("Indiatest", 9, responsible=None, placed="830")  # placed in 830 by nobody named
EXPECTED = [
    ["FWI-A", "04/03/2010", "M", "10/05/2025", "11/05/2025"],
    ["FWI-A", "04/03/2010", "M", "11/05/2025", "12/05/2025"],  # starts the day the last ended
    ["FWI-A", "04/03/2010", "A", "01/07/2025", "01/07/2025"],  # 23:30 UTC is 00:30 in the UK
    ["FWI-B", "04/03/2010", "M", "30/03/2025", "02/04/2025"],  # began in the previous year
    ["FWI-B", "04/03/2010", "M", "20/03/2026", ""],  # still missing on 31 March
    ["FWI-C", "04/03/2010", "M", "05/09/2025", "07/09/2025"],  # two reports, merged
    ["FWI-D", "04/03/2010", "M", "30/03/2026", ""],  # found after 31 March
    ["FWI-H", "04/03/2010", "M", "01/08/2025", "10/08/2025"],  # ended by the next report
    ["FWI-H", "04/03/2010", "M", "10/08/2025", "11/08/2025"],
]


@pytest.fixture
def cli(
    services: Any, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    """A CLI runner on the test database with the demo routing (Derbyshire, 830, onboarded)."""
    on_test_database(engine, tmp_path, monkeypatch)
    monkeypatch.delenv("GATEWAY_ROUTING_FILE", raising=False)
    return CliRunner()


@pytest.fixture
def year(client: TestClient, engine: Engine, met: dict[str, str]) -> dict[str, list[str]]:
    """A generated year: repeats, away, open at year end, cancelled, other councils, no ids."""
    y = Year(client, engine, met)
    ids = {
        "alpha": [
            y.episode(ALPHA, "2025-05-10T20:00:00+01:00", "2025-05-11T09:00:00+01:00"),
            y.episode(ALPHA, "2025-05-11T22:00:00+01:00", "2025-05-12T08:00:00+01:00"),
            y.episode(ALPHA, "2025-06-30T23:30:00+00:00", "2025-07-01T10:00:00+00:00", away=True),
            y.episode(ALPHA, "2025-01-10T19:00:00+00:00", "2025-01-11T09:00:00+00:00"),
            y.episode(ALPHA, "2026-04-05T19:00:00+01:00"),  # after the year
        ],
        "bravo": [
            y.episode(BRAVO, "2025-03-30T23:30:00+01:00", "2025-04-02T10:00:00+01:00"),
            y.episode(BRAVO, "2026-03-20T18:00:00+00:00"),
        ],
        "charlie": [
            y.episode(CHARLIE, "2025-09-05T17:00:00+01:00", "2025-09-07T12:00:00+01:00"),
            y.episode(CHARLIE, "2025-09-05T18:00:00+01:00", "2025-09-07T11:00:00+01:00", away=True),
        ],
        "delta": [
            y.episode(DELTA, "2026-03-30T20:00:00+01:00", "2026-04-02T09:00:00+01:00"),
            y.episode(DELTA, "2025-06-01T15:00:00+01:00", cancelled=True),
        ],
        "echo": [y.episode(ECHO, "2025-10-01T16:00:00+01:00", "2025-10-02T10:00:00+01:00")],
        "foxtrot": [y.episode(FOXTROT, "2025-11-01T16:00:00+00:00", "2025-11-02T10:00:00+00:00")],
        "golf": [y.episode(GOLF, "2025-12-01T16:00:00+00:00", "2025-12-02T10:00:00+00:00")],
        "hotel": [
            y.episode(HOTEL, "2025-08-01T16:00:00+01:00"),  # no found message, ever
            y.episode(HOTEL, "2025-08-10T21:00:00+01:00", "2025-08-11T10:00:00+01:00"),
        ],
        "india": [y.episode(INDIA, "2025-09-01T16:00:00+01:00", "2025-09-02T10:00:00+01:00")],
    }
    for name in ("alpha", "bravo", "delta", "hotel", "india"):
        for episode_id in ids[name]:
            y.answered(episode_id, "830", f"FWI-{name[0].upper()}")
    y.answered(ids["charlie"][0], "830", "FWI-C")  # the second report was never answered
    y.answered(ids["foxtrot"][0], "304", "MOS-F")
    y.answered(ids["golf"][0], "304", "MOS-G")
    return ids


def disclosures(engine: Engine) -> list[dict[str, Any]]:
    """The audit log's disclosure entries, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_log.c.entry)
            .where(audit_log.c.action == "disclosed")
            .order_by(audit_log.c.seq)
        )
        return [json.loads(r.entry) for r in rows]


def test_the_generated_year_exports_rows_that_pass_the_returns_rules(
    cli: CliRunner, engine: Engine, year: dict[str, list[str]]
) -> None:
    """Only Derbyshire's looked-after children, M/A, UK dates, no overlaps, one child listed."""
    result = cli.invoke(main, ["export", "ssda903-missing", "--council", "830", *YEAR_ARGS])
    assert result.exit_code == 0, result.output
    rows = read_csv(result.stdout)
    assert return_errors(rows, YEAR) == []
    assert [list(row.values()) for row in rows] == EXPECTED
    assert f"left out episode {year['echo'][0]}: no person id" in result.stderr
    assert f"left out episode {year['india'][0]}: a looked-after child whose responsible " in (
        result.stderr
    )
    assert f"merged episodes {', '.join(year['charlie'])}" in result.stderr
    assert (
        f"episode {year['hotel'][0]} ended by the next report: no found message, so MIS_END "
        "10/08/2025 is when"
    ) in result.stderr
    assert result.stderr.count("ended by the next report:") == 1
    assert (
        "9 row(s) for council 830, 2025-04-01 to 2026-03-31; 2 episode(s) left out; "
        "1 ended by the next report"
    ) in result.stderr
    (entry,) = disclosures(engine)
    assert entry["actor"] == "operator:cli" and entry["subject"] == "830"
    assert entry["details"] == {
        "what": "ssda903_missing",
        "recipient": "830",
        "period_from": "2025-04-01",
        "period_to": "2026-03-31",
        "rows": 9,
        "left_out": 2,
        "ended_by_next_report": 1,
        "purpose": "ssda903_return",
        "via": "cli",
    }


def test_another_council_sees_only_its_own_children(
    cli: CliRunner, engine: Engine, year: dict[str, list[str]]
) -> None:
    """Brent's export holds the child it looks after, not those it only hosts."""
    result = cli.invoke(main, ["export", "ssda903-missing", "--council", "304", *YEAR_ARGS])
    assert result.exit_code == 0, result.output
    assert [list(row.values()) for row in read_csv(result.stdout)] == [
        ["MOS-F", "04/03/2010", "M", "01/11/2025", "02/11/2025"]
    ]


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask (group and others may read new files) for the test's duration."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def export_to(cli: CliRunner, target: Path, *extra: str) -> Any:
    """Derbyshire's export of the year to `target`."""
    args = ["export", "ssda903-missing", "--council", "830", *YEAR_ARGS, "--output", str(target)]
    return cli.invoke(main, [*args, *extra])


def test_output_file_is_written_for_its_owner_only(
    cli: CliRunner, engine: Engine, year: dict[str, list[str]], tmp_path: Path, umask_022: None
) -> None:
    """--output writes the same CSV to a file only its owner can read, not to stdout."""
    target = tmp_path / "missing.csv"
    args = ["export", "ssda903-missing", "--council", "830", *YEAR_ARGS, "--output", str(target)]
    result = cli.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert target.read_bytes().startswith(b"CHILD,DOB,MISSING,MIS_START,MIS_END\r\n")
    assert [list(row.values()) for row in read_csv(target.read_text(encoding="utf-8"))] == EXPECTED
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_existing_file_is_refused_unless_overwrite_which_leaves_it_0600(
    cli: CliRunner, engine: Engine, year: dict[str, list[str]], tmp_path: Path, umask_022: None
) -> None:
    """Exit 2 and nothing disclosed for a file already there; --overwrite replaces it, 0600."""
    target = tmp_path / "missing.csv"
    target.write_text("an older return\n", encoding="utf-8")
    target.chmod(0o644)
    refused = export_to(cli, target)
    assert refused.exit_code == 2, refused.output
    assert "already exists" in refused.stderr and "--overwrite" in refused.stderr
    assert target.read_text(encoding="utf-8") == "an older return\n"
    assert disclosures(engine) == []
    replaced = export_to(cli, target, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert [list(row.values()) for row in read_csv(target.read_text(encoding="utf-8"))] == EXPECTED
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no temporary left
    assert len(disclosures(engine)) == 1


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_a_link_at_the_output_path_is_never_followed(
    cli: CliRunner,
    engine: Engine,
    year: dict[str, list[str]],
    tmp_path: Path,
    umask_022: None,
    dangling: bool,
) -> None:
    """A symlink is refused, then with --overwrite replaced by a file; its target is untouched."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    precious = elsewhere / "precious.txt"
    if not dangling:
        precious.write_text("not the export's to touch\n", encoding="utf-8")
        precious.chmod(0o644)
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "missing.csv"
    link.symlink_to(precious)

    def untouched() -> None:
        if dangling:
            assert not precious.exists()
        else:
            assert precious.read_text(encoding="utf-8") == "not the export's to touch\n"
            assert stat.S_IMODE(precious.stat().st_mode) == 0o644

    refused = export_to(cli, link)
    assert refused.exit_code == 2, refused.output
    assert link.is_symlink() and "already exists" in refused.stderr
    untouched()
    replaced = export_to(cli, link, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert not link.is_symlink() and stat.S_IMODE(link.lstat().st_mode) == 0o600
    assert [list(row.values()) for row in read_csv(link.read_text(encoding="utf-8"))] == EXPECTED
    untouched()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--council", "83"], "three-digit"),
        (["--council", "999"], "not onboarded"),
        (["--council", "830", "--from", "1 April 2025"], "is not a date"),
        (["--council", "830", "--from", "2026-04-01", "--to", "2026-03-31"], "is after --to"),
        (["--council", "830", "--output", "/no/such/folder/x.csv"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2_and_disclose_nothing(
    cli: CliRunner, engine: Engine, args: list[str], fragment: str
) -> None:
    """An unknown council, a bad date or period, or a missing folder is bad usage."""
    result = cli.invoke(main, ["export", "ssda903-missing", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert disclosures(engine) == []


def test_default_period_is_the_current_reporting_year(cli: CliRunner, engine: Engine) -> None:
    """Without --from and --to the export covers the reporting year containing today."""
    result = cli.invoke(main, ["export", "ssda903-missing", "--council", "830"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b"CHILD,DOB,MISSING,MIS_START,MIS_END\r\n"
    expected = Period.reporting_year(datetime.now(LONDON).date())
    (entry,) = disclosures(engine)
    assert entry["details"]["period_from"] == expected.first.isoformat()
    assert entry["details"]["rows"] == 0
