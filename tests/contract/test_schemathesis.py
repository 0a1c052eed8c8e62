"""The running app honours its published contract, `openapi.yaml`, for every role.

Schemathesis reads the committed file (not the app's live schema) and drives every operation
in process, once per role: police, council, operator and no key at all. Each case is checked
for no server error, a status code the contract lists for the operation, a content type it
lists for that status, and a body matching the listed schema. The app runs on SQLite and on
PostgreSQL, seeded with one MERLIN and one COMPACT message so that reads of real episodes,
deliveries and receipts (and a replay) are exercised, not only 404s. `ST_EXAMPLES` raises the
number of generated cases per operation and role.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import schemathesis
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine, update

from gateway import keys
from gateway.api.app import build_services, create_app
from gateway.settings import Settings
from gateway.store import migrate
from gateway.store.engine import make_engine
from gateway.store.schema import deliveries
from gateway.store.work import unit_of_work
from tests.conftest import BACKENDS, empty, postgres_engine
from tests.messages import compact, merlin, new_id

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("ST_EXAMPLES", "12"))
# Derandomised by default: CI sees the same cases every run (a failure reproduces, the reach
# check below cannot flake). `ST_EXAMPLES=500 ST_RANDOM=1` explores afresh each time.
RANDOM = os.environ.get("ST_RANDOM")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ROLES = ["police", "council", "operator", "anonymous"]

config = schemathesis.Config.from_dict(
    {
        "generation": {
            # The role's key is added to each call below; a generated Authorization header
            # would replace it with noise and every case would be a 401.
            "with-security-parameters": False,
        },
    }
)
schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml", config=config)


@dataclass
class Live:
    """The app under test, its keys by role, the seeded ids and the statuses seen so far."""

    app: FastAPI
    headers: dict[str, dict[str, str]]
    ids: dict[str, list[str]] = field(default_factory=dict)
    seen: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))


def _engine(backend: str, request: pytest.FixtureRequest, tmp: Path) -> Engine:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / 'gateway.db'}")
        migrate.upgrade(engine)
        return engine
    engine = postgres_engine(request.getfixturevalue("postgres_schema"))
    empty(engine)
    return engine


def _seed(app: FastAPI, engine: Engine, headers: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Submit the two spec examples and dead-letter one delivery, so replay can succeed."""
    xml = {"Content-Type": "application/xml"}
    with TestClient(app) as client:
        receipts = [
            client.post(
                "/v1/inbound/merlin", content=merlin(), headers={**xml, **headers["police"]}
            ),
            client.post(
                "/v1/inbound/compact", content=compact(), headers={**xml, **headers["operator"]}
            ),
        ]
    for response in receipts:
        assert response.status_code == 202, response.text
    bodies = [r.json() for r in receipts]
    delivery_ids = [d["delivery_id"] for b in bodies for d in b["deliveries"]]
    with engine.begin() as connection:
        connection.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_ids[0])
            .values(status="dead", last_error="synthetic dead letter")
        )
    return {
        "episode_id": [b["episode_id"] for b in bodies],
        "delivery_id": delivery_ids,
        "message_id": [b["message_id"] for b in bodies],
        "source": ["merlin", "compact"],
    }


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The app on a seeded database of each backend, with a key for each role."""
    tmp = tmp_path_factory.mktemp(f"schemathesis-{request.param}")
    engine = _engine(request.param, request, tmp)
    # Every role calls from one test address, and the anonymous role's 401s would soon have
    # it answered 429 for every key (tests/gateway/test_auth_failures.py checks that limit).
    settings_ = Settings(  # type: ignore[call-arg]
        data_dir=tmp / "data", worker=False, auth_failure_limit=100_000, _env_file=None
    )
    # Built over the engine, so ingest runs in this process: an app with ingest processes
    # would start them for every test's lifespan. tests/gateway/test_ingest_processes.py
    # checks that the processes answer exactly as in-process ingest does.
    app = create_app(build_services(settings_, engine=engine, upgrade=False))
    with unit_of_work(engine, audits=True) as connection:
        issued = {
            "police": keys.create(connection, keys.Role.POLICE, force="01"),
            "council": keys.create(connection, keys.Role.COUNCIL, council="304"),
            "operator": keys.create(connection, keys.Role.OPERATOR),
        }
    headers = {role: {"Authorization": f"Bearer {key}"} for role, key in issued.items()}
    headers["anonymous"] = {}
    live = Live(app=app, headers=headers)
    live.ids = _seed(app, engine, headers)
    yield live
    engine.dispose()


def _xml_bodies(path: str, generated: object) -> st.SearchStrategy[object]:
    """A body for an inbound endpoint: mostly the spec example, sometimes the generator's.

    The example goes under a fresh id (202), again (200), altered (409), or to the wrong
    endpoint (422). The generator's body for `format: binary` is random bytes, which never
    get past the XML parser; the examples reach the schema, the rules and the database.
    """
    if path.endswith("/merlin"):
        fresh = st.builds(lambda: merlin(message_id=new_id()))
        own, other = merlin, compact
    else:
        fresh = st.builds(lambda: compact(export_id=new_id()))
        own, other = compact, merlin
    return st.one_of(
        fresh,
        st.sampled_from([own(), other(), own(("Example", "Altered"))]),
        st.just(generated),
    )


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=RANDOM is None,
    # One app per backend serves every example on purpose: state builds up as in production.
    suppress_health_check=list(HealthCheck),
)
def test_contract(case: schemathesis.Case, data: st.DataObject, live: Live, role: str) -> None:
    """Whatever is sent with this role's key, the answer is one the contract allows."""
    for name, generated in (case.path_parameters or {}).items():
        if name in live.ids:  # mostly ids that exist, so 200s are checked as well as 404s
            choices = [*live.ids[name], generated]
            case.path_parameters[name] = data.draw(st.sampled_from(choices), label=name)
    if case.media_type == "application/xml":
        case.body = data.draw(_xml_bodies(case.path, case.body), label="body")
    response = case.call(app=live.app, headers=live.headers[role])
    live.seen[(case.operation.label, role)].add(response.status_code)
    case.validate_response(response, checks=CHECKS)


# What each (operation, role) must have reached at least once: proof that the run got past
# authentication and the 404s to real records, rather than checking only error answers.
REACHED: dict[tuple[str, str], set[int]] = {
    ("POST /v1/inbound/merlin", "police"): {202},
    ("POST /v1/inbound/compact", "operator"): {202},
    ("POST /v1/inbound/compact", "police"): {403},  # the example is Derbyshire's, not the Met's
    ("GET /v1/receipts/{source}/{message_id}", "police"): {200},
    ("GET /v1/receipts", "police"): {200},
    ("GET /v1/receipts", "operator"): {200},
    ("GET /v1/receipts", "council"): {403},
    ("GET /v1/episodes/{episode_id}", "operator"): {200},
    ("GET /v1/episodes/{episode_id}", "council"): {200},
    ("GET /v1/deliveries", "council"): {200},
    ("GET /v1/deliveries/{delivery_id}", "operator"): {200},
    ("GET /v1/deliveries/{delivery_id}", "council"): {200},
    ("POST /v1/deliveries/{delivery_id}/replay", "operator"): {202, 409},
    ("GET /v1/audit/verify", "operator"): {200},
    ("GET /v1/unroutable", "anonymous"): {401},
}


def test_the_run_reached_real_records(live: Live) -> None:
    """The generated cases above got answers from real records, not only refusals."""
    ran = [key for key in REACHED if key in live.seen]
    if not ran:
        pytest.skip("no contract case ran on this backend (deselected)")
    missed = {key: sorted(live.seen[key]) for key in ran if not live.seen[key] & REACHED[key]}
    assert not missed, f"never answered as expected (statuses seen instead): {missed}"


# --- regressions for what this suite found --------------------------------------------------


def test_every_error_answer_is_documented_as_problem_json() -> None:
    """Each 4xx in openapi.yaml is problem JSON with the `Problem` schema, as the app answers.

    FastAPI had filed them under `application/json`, and its own `HTTPValidationError` under
    422, so no client (nor schemathesis) could validate an error body against the contract.
    """
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    expected = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    wrong = [
        f"{method.upper()} {path} {status}"
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if status.startswith("4") and response.get("content") != expected
    ]
    assert not wrong, f"error answers not documented as problem JSON: {wrong}"
    assert "HTTPValidationError" not in spec["components"]["schemas"]


@pytest.mark.parametrize(
    ("method", "url", "parameter"),
    [
        ("GET", "/v1/episodes/%00", "/path/episode_id"),
        ("GET", "/v1/deliveries/a%00b", "/path/delivery_id"),
        ("POST", "/v1/deliveries/%00/replay", "/path/delivery_id"),
        ("GET", "/v1/receipts/merlin/%00", "/path/message_id"),
        ("GET", "/v1/deliveries?episode_id=%00", "/query/episode_id"),
    ],
)
def test_a_nul_in_an_id_is_a_bad_parameter_not_a_server_error(
    client: TestClient, operator: dict[str, str], method: str, url: str, parameter: str
) -> None:
    """PostgreSQL cannot compare text with a NUL in it: the id is refused as a 422 naming it."""
    response = client.request(method, url, headers=operator)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["path"] for e in response.json()["errors"]] == [parameter]
