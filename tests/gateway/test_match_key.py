"""Child match keys fit their column however long a name folds, and never merge two children."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from gateway.canonical import utc_now
from gateway.episodes import MAX_MATCH_KEY, match_key
from gateway.store import migrate
from gateway.store.engine import make_engine
from gateway.store.schema import children
from tests.messages import merlin, new_id

XML = {"Content-Type": "application/xml"}
# 100 characters, the schema's most; each folds to four letters ('viii').
LONG_FAMILY = "\u2177" * 100
NO_NHS = ("<NhsNumber>9997654323</NhsNumber>", "")


class _Child:
    def __init__(self, family: str, given: str = "Alex", born: date = date(2010, 3, 4)) -> None:
        self.family_name, self.given_names, self.date_of_birth = family, given, born


class _Event:
    def __init__(self, child: _Child) -> None:
        self.child = child


def _key(family: str, given: str = "Alex") -> str:
    return match_key(_Event(_Child(family, given)))  # type: ignore[arg-type]


def test_a_short_key_is_readable_and_a_long_one_a_hash_that_fits() -> None:
    """Names that fold long are kept as a SHA-256; the same name gives the same key."""
    assert _key("O'Brien-Smith") == "obriensmith|alex|2010-03-04"
    long = _key(LONG_FAMILY, "\u2177" * 100)
    assert long.startswith("sha256:") and len(long) <= MAX_MATCH_KEY
    assert long == _key(LONG_FAMILY, "\u2177" * 100)
    assert long != _key(LONG_FAMILY, "\u2177" * 99 + "x")


def _report(client: TestClient, headers: dict[str, str], family: str, ref: str) -> Any:
    body = merlin(NO_NHS, ("Testchild", family), message_id=new_id(), ref=ref)
    response = client.post("/v1/inbound/merlin", content=body, headers={**XML, **headers})
    assert response.status_code == 202, response.text
    return response.json()


def test_a_name_that_folds_longer_than_the_column_is_stored_and_matched(
    client: TestClient, met: dict[str, str], operator: dict[str, str], engine: Engine
) -> None:
    """On both backends: accepted (not a 500), the same child matched, another kept apart."""
    _report(client, met, LONG_FAMILY, "24MIS000101")
    second = _report(client, met, LONG_FAMILY, "24MIS000102")
    other = _report(client, met, LONG_FAMILY[:-1] + "x", "24MIS000103")
    read = client.get(f"/v1/episodes/{second['episode_id']}", headers=operator).json()
    assert read["episodes_total"] == 2
    read = client.get(f"/v1/episodes/{other['episode_id']}", headers=operator).json()
    assert read["episodes_total"] == 1
    with engine.connect() as connection:
        keys = connection.execute(select(children.c.match_key)).scalars().all()
    assert len(keys) == 2 and all(len(k) <= MAX_MATCH_KEY for k in keys)


def test_the_migration_hashes_long_keys_sqlite_stored(tmp_path: Path) -> None:
    """SQLite never enforced the length: a longer key stored earlier still finds its child."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrate.upgrade(engine, "0002")
    folded = "viii" * 100 + "|alex|2010-03-04"
    with engine.begin() as connection:
        connection.execute(insert(children).values(id="c1", match_key=folded, created_at=utc_now()))
        connection.execute(
            insert(children).values(
                id="c2", match_key="short|alex|2010-03-04", created_at=utc_now()
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        stored = dict(connection.execute(select(children.c.id, children.c.match_key)).all())
    engine.dispose()
    assert stored == {"c1": _key(LONG_FAMILY), "c2": "short|alex|2010-03-04"}
