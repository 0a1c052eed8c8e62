"""The open-episodes page: who sees which episode, the triage order, the words, paging, audit."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from gateway.canonical import utc_now
from gateway.store.schema import audit_log, policy_flags
from gateway.ui import episodes
from tests.gateway.delivery import post
from tests.ui.conftest import set_episode_state, sign_in
from tests.ui.reports import Episode

EPISODE_ROW = re.compile(r'data-episode-id="([^"]+)"')
SECTION = re.compile(r'<table class="govuk-table" id="episodes-(\d)"')


def rows(html: str) -> list[str]:
    """The episode ids listed on a page, in order."""
    return EPISODE_ROW.findall(html)


def row_html(html: str, episode_id: str) -> str:
    """The table row of one episode."""
    start = html.index(f'data-episode-id="{episode_id}"')
    return html[start : html.index("</tr>", start)]


def consultations(engine: Engine) -> list[dict[str, Any]]:
    """The audit log's consultation entries, oldest first."""
    with engine.connect() as connection:
        entries = connection.execute(
            select(audit_log.c.entry)
            .where(audit_log.c.action == "consulted")
            .order_by(audit_log.c.seq)
        ).scalars()
        return [json.loads(entry) for entry in entries]


@pytest.fixture
def poster(client: TestClient, met: dict[str, str]) -> Any:
    """Posts a MERLIN body as the Met; returns the receipt."""
    return lambda body: post(client, "merlin", body, met)


def _flag(engine: Engine, episode_id: str, council: str, code: str, reason: str) -> None:
    now = utc_now()
    with engine.begin() as connection:
        connection.execute(
            insert(policy_flags).values(
                episode_id=episode_id,
                council=council,
                rule=code,
                period=0,
                code=code,
                reason=reason,
                due_at=now,
                raised_at=now,
            )
        )


# --- who sees which episode -------------------------------------------------------------------


def test_a_council_named_but_not_told_does_not_see_the_child(
    poster: Any, brent: TestClient, derbyshire: TestClient
) -> None:
    """A child not looked after, whose care status still names 830, is Brent's alone."""
    now = utc_now()
    child = Episode("Riley", "Notlookedafter", 1, now - timedelta(hours=3), looked_after=False)
    episode_id = child.send(poster)
    assert rows(brent.get("/ui/episodes").text) == [episode_id]
    page = derbyshire.get("/ui/episodes")
    assert rows(page.text) == []
    assert "Notlookedafter" not in page.text


# --- the order and the words ------------------------------------------------------------------


@pytest.fixture
def caseload(poster: Any) -> dict[str, str]:
    """Missing children of every risk, found ones (one overdue, one closed), cancelled, old."""
    now = utc_now()
    ago = lambda hours: now - timedelta(hours=hours)  # noqa: E731
    brents = {"looked_after": False}  # Brent (304) is the home council and owes the interview
    episodes_ = {
        "high": Episode("Jamie", "Highrisk", 1, ago(2), risk="HIGH"),
        "medium_long": Episode("Casey", "Mediumlong", 2, ago(30)),
        "medium_short": Episode("Drew", "Mediumshort", 3, ago(5)),
        "low_old": Episode("Ellis", "Lowold", 4, ago(72), risk="LOW"),
        "nar": Episode("Frankie", "Norisk", 5, ago(24), risk="NO_APPARENT_RISK"),
        "overdue": Episode("Harper", "Overdue", 6, ago(90), found=ago(80), condition="INJURED",
                           **brents),
        "due_later": Episode("Indy", "Duelater", 7, ago(12), found=ago(10), **brents),
        "closed_due": Episode("Jordan", "Closeddue", 8, ago(3), found=ago(1),
                              condition="HOSPITAL", closed=True, **brents),
        "closed_old": Episode("Kai", "Closedold", 9, ago(24 * 21), found=ago(24 * 20),
                              closed=True, **brents),
        "hosted": Episode("Logan", "Hosted", 10, ago(6), found=ago(2), condition="CUSTODY"),
        "cancelled": Episode("Morgan", "Cancelled", 11, ago(4), cancelled=True),
    }  # fmt: skip
    return {name: episode.send(poster) for name, episode in episodes_.items()}


def test_brent_sees_missing_first_by_risk_then_its_interviews_then_others(
    brent: TestClient, caseload: dict[str, str]
) -> None:
    """High, medium (longest first), the rest; Brent's interviews soonest first; then hosted."""
    page = brent.get("/ui/episodes")
    assert page.status_code == 200
    order = ["high", "medium_long", "medium_short", "low_old", "nar"]
    order += ["overdue", "due_later", "closed_due", "hosted"]
    assert rows(page.text) == [caseload[name] for name in order]
    assert SECTION.findall(page.text) == ["0", "1", "2"]
    assert "Still missing" in page.text
    assert "Found: your council&#39;s return home interview is due" in page.text


def test_found_children_show_their_condition_status_and_overdue_interviews(
    brent: TestClient, caseload: dict[str, str]
) -> None:
    """Injured and hospital are red, custody orange, safe and well green; closed says Closed."""
    page = brent.get("/ui/episodes").text
    overdue = row_html(page, caseload["overdue"])
    assert "Injured" in overdue and "govuk-tag--red" in overdue
    assert "Overdue" in overdue and "Found" in overdue
    due_later = row_html(page, caseload["due_later"])
    assert "Safe and well" in due_later and "govuk-tag--green" in due_later
    assert "Overdue" not in due_later
    closed = row_html(page, caseload["closed_due"])
    assert "In hospital" in closed and "Closed" in closed and "govuk-tag--green" not in closed
    hosted = row_html(page, caseload["hosted"])
    assert "In custody" in hosted and "govuk-tag--orange" in hosted
    assert "govuk-tag--green" not in hosted


def test_a_host_council_is_not_told_the_interview_is_its_own(
    brent: TestClient, caseload: dict[str, str]
) -> None:
    """Brent hosts Derbyshire's child: its row names Derbyshire as owner, with no due time."""
    page = brent.get("/ui/episodes").text
    hosted = row_html(page, caseload["hosted"])
    assert "Owed by Derbyshire County Council (830), not your council" in hosted
    assert "Host" in hosted and "<time" in hosted  # the found time, not a deadline
    assert hosted.count("<time") == 1 and "Due by" not in hosted and "Overdue" not in hosted
    assert "Home" in row_html(page, caseload["due_later"])
    missing = row_html(page, caseload["high"])
    assert "Due by" not in missing
    assert "Owed by Derbyshire County Council (830), not your council" in missing


def test_the_responsible_council_sees_its_own_interview_due(
    derbyshire: TestClient, caseload: dict[str, str]
) -> None:
    """Derbyshire sees its looked-after children only, the hosted one's interview as its own."""
    page = derbyshire.get("/ui/episodes").text
    order = ["high", "medium_long", "medium_short", "low_old", "nar", "hosted"]
    assert rows(page) == [caseload[name] for name in order]
    hosted = row_html(page, caseload["hosted"])
    assert "Responsible" in hosted and "Owed by your council" in hosted and "Due by" in hosted
    assert SECTION.findall(page) == ["0", "1"]


def test_an_operator_sees_every_council_and_its_role(
    client: TestClient, keyring: Any, caseload: dict[str, str]
) -> None:
    """An operator's page lists every open episode with each council told and its role."""
    assert sign_in(client, keyring.issue("operator")).status_code == 303
    page = client.get("/ui/episodes").text
    assert set(rows(page)) == set(caseload.values()) - {
        caseload["cancelled"],
        caseload["closed_old"],
    }
    hosted = row_html(page, caseload["hosted"])
    assert "304: Host" in hosted and "830: Responsible" in hosted


@pytest.mark.parametrize(
    ("condition", "text", "colour"),
    [
        ("concerns", "Not safe and well", "orange"),
        ("deceased", "Deceased", "red"),
        ("not_known", "Condition not known", "grey"),
        (None, "Condition not recorded", "grey"),
    ],
)
def test_conditions_without_a_message_of_their_own_never_read_as_fine(
    brent: TestClient,
    engine: Engine,
    poster: Any,
    condition: str | None,
    text: str,
    colour: str,
) -> None:
    """Concerns, deceased, not known and a state without a condition each get their own tag."""
    found = utc_now() - timedelta(hours=1)
    episode_id = Episode(
        "Nico", "Condition", 20, found - timedelta(hours=2), found=found, looked_after=False
    ).send(poster)
    set_episode_state(engine, episode_id, found_condition=condition)
    cell = row_html(brent.get("/ui/episodes").text, episode_id)
    assert f'data-condition="{condition or ""}"' in cell
    assert text in cell and f"govuk-tag--{colour}" in cell and "govuk-tag--green" not in cell


def test_only_the_councils_own_flags_are_shown(
    brent: TestClient, engine: Engine, caseload: dict[str, str]
) -> None:
    """Brent sees the flag raised for Brent, never Derbyshire's."""
    _flag(engine, caseload["hosted"], "304", "responsible_authority_liaison", "Brent: write")
    _flag(engine, caseload["hosted"], "830", "iro_notification", "Derbyshire's own protocol")
    hosted = row_html(brent.get("/ui/episodes").text, caseload["hosted"])
    assert "Brent: write" in hosted and "Derbyshire&#39;s own protocol" not in hosted


# --- paging and the audit ---------------------------------------------------------------------


def test_pages_show_every_episode_once_and_each_view_is_one_consultation(
    brent: TestClient,
    engine: Engine,
    caseload: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four to a page: three pages in triage order, GOV.UK pagination, one audit entry each."""
    everything = rows(brent.get("/ui/episodes").text)
    monkeypatch.setattr(episodes, "PAGE_SIZE", 4)
    before = len(consultations(engine))
    seen: list[str] = []
    for number in (1, 2, 3):
        page = brent.get("/ui/episodes", params={"page": number})
        assert page.status_code == 200 and "govuk-pagination" in page.text
        assert 'aria-current="page"' in page.text
        seen += rows(page.text)
    assert seen == everything and len(set(seen)) == 9
    entries = consultations(engine)[before:]
    assert len(entries) == 3
    assert [e["details"]["episode_ids"] for e in entries] == [seen[:4], seen[4:8], seen[8:]]
    assert {e["details"]["page"] for e in entries} == {1, 2, 3}
    assert all(e["details"]["what"] == "episodes" and e["subject"] == "304" for e in entries)
    assert all(e["details"]["purpose"] == "safeguarding" for e in entries)


def test_a_page_past_the_end_shows_the_last_and_a_bad_number_is_refused(
    brent: TestClient, caseload: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page 99 of three is page 3; 'two', 0 or -1 answer 400 with a message."""
    monkeypatch.setattr(episodes, "PAGE_SIZE", 4)
    last = brent.get("/ui/episodes", params={"page": 3}).text
    assert rows(brent.get("/ui/episodes", params={"page": 99}).text) == rows(last)
    for bad in ("two", "0", "-1", "1.5"):
        answer = brent.get("/ui/episodes", params={"page": bad})
        assert answer.status_code == 400 and "That page number is not valid" in answer.text


def test_an_empty_page_consults_nothing(brent: TestClient, engine: Engine) -> None:
    """With nothing to show the page says so and no consultation is logged."""
    page = brent.get("/ui/episodes")
    assert page.status_code == 200 and 'id="no-episodes"' in page.text
    assert "govuk-pagination" not in page.text
    assert consultations(engine) == []
