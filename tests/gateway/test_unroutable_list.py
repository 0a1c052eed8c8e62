"""`GET /v1/unroutable`: both kinds, oldest first, paged; its gauges; `gateway replay` on names."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

import mappings
from adapters.compact import councils
from gateway.canonical import utc_now
from gateway.cli import main
from gateway.metrics import UnroutableCollector
from gateway.store.schema import deliveries, unroutable
from tests.gateway.delivery import post
from tests.gateway.onboarding import HARROW
from tests.gateway.unresolved_messages import UNKNOWN, export, looked_after
from tests.messages import merlin, new_id


def harrow_reports(client: TestClient, met: dict[str, str], count: int, first: int = 0) -> None:
    """`count` reports of Harrow children: two rows each (Harrow 310, Hillingdon 312)."""
    for n in range(first, first + count):
        post(client, "merlin", merlin(*HARROW, message_id=new_id(), ref=f"24MIS04{n:04d}"), met)


def edited_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *variants: str) -> Path:
    """The names file, with Derbyshire's variants replaced, as the one the gateway reads."""
    data = mappings.load(councils.FILE)
    edited = {"councils": {**data["councils"]}}
    edited["councils"]["830"] = {"name": "Derbyshire County Council", "variants": [*variants]}
    names_file = tmp_path / "councils.yaml"
    names_file.write_text(yaml.safe_dump(edited), encoding="utf-8")
    # An absolute name: `mappings.path` then gives it as is (the bundled table stays loaded).
    monkeypatch.setattr(councils, "FILE", str(names_file))
    return names_file


def listing(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    """GET /v1/unroutable."""
    return client.get("/v1/unroutable", params=params, headers=headers)


def test_pages_cover_both_kinds_oldest_first_once_each(
    client: TestClient,
    met: dict[str, str],
    derbys: dict[str, str],
    operator: dict[str, str],
    engine: Engine,
) -> None:
    """Pages of 3 over 7 rows, with a cursor each, return every row once, oldest first."""
    harrow_reports(client, met, 2)
    post(client, "compact", export(1, looked_after(UNKNOWN)), derbys)
    harrow_reports(client, met, 1, first=2)
    with engine.connect() as connection:
        expected = [
            r.id
            for r in connection.execute(
                select(unroutable.c.id).order_by(unroutable.c.created_at, unroutable.c.id)
            )
        ]
    assert len(expected) == 7
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = listing(client, operator, **params).json()
        seen += body["items"]
        cursor = body["next_cursor"]
    assert cursor is None
    assert [item["event_id"] for item in seen] == [
        item["event_id"] for item in listing(client, operator, limit=500).json()["items"]
    ]
    assert len({(i["event_id"], i["council"], i["name"]) for i in seen}) == 7
    kinds = [(i["kind"], i["council"], i["name"], i["role"]) for i in seen]
    assert kinds[4] == ("unresolved_name", None, UNKNOWN, "responsible")
    assert kinds[:2] == [
        ("not_onboarded", "310", None, "host"),
        ("not_onboarded", "312", None, "responsible"),
    ]
    assert all(i["created_at"] and i["resolved_at"] is None for i in seen)


def test_resolved_rows_show_only_when_asked(
    client: TestClient, met: dict[str, str], operator: dict[str, str], engine: Engine
) -> None:
    """A resolved row leaves the list, and comes back with `include_resolved`."""
    harrow_reports(client, met, 1)
    with engine.begin() as connection:
        connection.execute(
            update(unroutable).where(unroutable.c.council == "310").values(resolved_at=utc_now())
        )
    assert [i["council"] for i in listing(client, operator).json()["items"]] == ["312"]
    both = listing(client, operator, include_resolved="true").json()["items"]
    assert [i["council"] for i in both] == ["310", "312"]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "MjAyNHwxfGJhZA"])
def test_a_cursor_not_issued_here_is_a_422_naming_it(
    client: TestClient, operator: dict[str, str], cursor: str
) -> None:
    """A made-up or edited cursor is refused, naming the parameter."""
    response = listing(client, operator, cursor=cursor)
    assert response.status_code == 422
    assert "cursor" in response.text


@pytest.mark.parametrize("limit", [0, 501])
def test_the_page_size_is_bounded(client: TestClient, operator: dict[str, str], limit: int) -> None:
    """No page of more than 500 items, nor an empty one."""
    assert listing(client, operator, limit=limit).status_code == 422


def test_only_operators_read_the_list(
    client: TestClient, met: dict[str, str], keyring: Any
) -> None:
    """Police and council keys are refused."""
    assert listing(client, met).status_code == 403
    assert listing(client, keyring.headers("council", council="304")).status_code == 403
    assert client.get("/v1/unroutable").status_code == 401


def test_gauges_give_each_kinds_count_and_oldest_age(
    client: TestClient, met: dict[str, str], derbys: dict[str, str], engine: Engine
) -> None:
    """Counts per kind, and the age of the oldest waiting row of each (0 when none waits)."""
    harrow_reports(client, met, 1)
    with engine.begin() as connection:
        connection.execute(update(unroutable).values(created_at=utc_now() - timedelta(hours=2)))
    collected = {
        (sample.name, sample.labels["kind"]): sample.value
        for family in UnroutableCollector(engine).collect()
        for sample in family.samples
    }
    assert collected[("gateway_unroutable_waiting", "not_onboarded")] == 2
    assert collected[("gateway_unroutable_waiting", "unresolved_name")] == 0
    age = collected[("gateway_unroutable_oldest_age_seconds", "not_onboarded")]
    assert 7200 <= age < 7300
    assert collected[("gateway_unroutable_oldest_age_seconds", "unresolved_name")] == 0


def test_gateway_replay_reads_the_names_table_as_it_is_now(
    cli: CliRunner,
    client: TestClient,
    derbys: dict[str, str],
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A variant added to the file after start-up resolves the name; replay delivers to 830."""
    post(client, "compact", export(1, looked_after(UNKNOWN)), derbys)
    post(client, "compact", export(2, looked_after(UNKNOWN)), derbys)
    edited_names(tmp_path, monkeypatch, "Borsetshire")
    result = cli.invoke(main, ["replay", "--reason", "names table fixed"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "resolved 2 waiting council name(s); 0 still match no council"
    assert "queued 2 unroutable event(s)" in lines[-1]
    with engine.connect() as connection:
        told = connection.execute(
            select(deliveries.c.seq, deliveries.c.council_role)
            .where(deliveries.c.council == "830")
            .order_by(deliveries.c.seq)
        ).all()
    assert [tuple(r) for r in told] == [(1, "responsible"), (2, "responsible")]


def test_gateway_replay_stops_on_a_broken_names_table(
    cli: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two councils meeting in the edited file: exit 2 naming the file, nothing replayed."""
    names_file = edited_names(tmp_path, monkeypatch, "Derby")
    result = cli.invoke(main, ["replay", "--reason", "names table fixed"])
    assert result.exit_code == 2
    assert str(names_file) in result.output
