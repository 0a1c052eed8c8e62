"""Ingest processes (gateway/ingest/processes.py): in-process answers, and a death handled.

Each backend's app runs as `gateway serve` runs it, over its own database: the settings name
the database, so `build_services` gives the routes ingest processes (one on SQLite, two on
PostgreSQL). A second app over the same database ingests in its own process, for comparison.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from gateway import keys
from gateway.api.app import build_services, create_app
from gateway.api.deps import Services
from gateway.errors import IngestFailed, IngestInterrupted, MalformedXml, SchemaInvalid, StoreBusy
from gateway.ingest.prepare import Received
from gateway.ingest.processes import Lanes
from gateway.ingest.write import Outcome
from gateway.settings import Settings
from gateway.store.schema import messages
from gateway.store.work import unit_of_work
from tests.conftest import BACKENDS, POSTGRES_URL
from tests.messages import merlin, new_id

XML = {"Content-Type": "application/xml"}
_BAD_BODIES = {
    "malformed-xml": b"<MerlinNotification><unclosed></MerlinNotification>",
    "schema-invalid": merlin(("<RiskLevel>MEDIUM<", "<RiskLevel>PURPLE<")),
    "invalid-nhs-number": merlin(("<NhsNumber>9997654323<", "<NhsNumber>9997654324<")),
}


@dataclass
class Served:
    """An app with ingest processes, and one over the same database without."""

    services: Services
    client: TestClient
    in_process: TestClient
    police: dict[str, str]
    principal: keys.Principal

    @property
    def processes(self) -> Lanes:
        """The app's ingest processes."""
        return self.services.ingest

    def post(self, body: bytes, *, client: TestClient | None = None) -> Any:
        """POST a MERLIN message as the Metropolitan Police."""
        return (client or self.client).post(
            "/v1/inbound/merlin", content=body, headers={**XML, **self.police}
        )


def _database(backend: str, tmp: Path) -> Iterator[str]:
    """A URL naming a new, empty database (PostgreSQL: a schema, dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'gateway.db'}"
        return
    schema = f"gw_processes_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The app of each backend with its ingest processes running."""
    tmp = tmp_path_factory.mktemp(f"processes-{request.param}")
    if request.param == "postgres":
        request.getfixturevalue("postgres_schema")  # fails in CI, skips elsewhere, when down
    for url in _database(request.param, tmp):
        settings = Settings(data_dir=tmp, database_url=url, worker=False, _env_file=None)
        services = build_services(settings)
        alone = build_services(settings.model_copy(update={"ingest_processes": 0}), upgrade=False)
        with unit_of_work(services.engine, audits=True) as connection:
            key = keys.create(connection, keys.Role.POLICE, force="01")
            principal = keys.authenticate(connection, key)
        assert principal is not None
        police = {"Authorization": f"Bearer {key}"}
        with TestClient(create_app(services)) as client, TestClient(create_app(alone)) as twin:
            assert all(services.ingest.pids) and alone.ingest.pids == [None]
            yield Served(services, client, twin, police, principal)
        services.engine.dispose()
        alone.engine.dispose()


def _not_in_this_process(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the server's own ingestor fail, so a success proves a process did the work."""

    def refuse(*_args: object) -> None:
        raise AssertionError("ingested in the server's process")

    for name in ("store", "prepare_and_store"):
        monkeypatch.setattr(served.services.ingestor, name, refuse)


def test_an_ingest_process_stores_the_message_and_a_resend_gets_its_receipt(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 202 from a process is committed, and a resend is answered with its receipt."""
    _not_in_this_process(served, monkeypatch)
    body = merlin(message_id=new_id())
    first = served.post(body)
    assert first.status_code == 202, first.text
    receipt = first.json()
    assert receipt["status"] == "accepted" and len(receipt["deliveries"]) == 2
    with served.services.engine.connect() as connection:
        stored = connection.execute(
            select(messages.c.id, messages.c.body).where(
                messages.c.message_id == receipt["message_id"]
            )
        ).one()
    assert (stored.id, stored.body) == (receipt["receipt_id"], body)
    again = served.post(body)
    assert again.status_code == 200
    assert again.json()["receipt_id"] == receipt["receipt_id"]
    assert again.json()["status"] == "duplicate"


def test_every_process_answers(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """Successive messages go round the lanes; each lane's process stores its share."""
    _not_in_this_process(served, monkeypatch)
    lanes = len(served.processes.pids)
    assert lanes == (1 if served.services.engine.dialect.name == "sqlite" else 2)
    for _ in range(2 * lanes):
        assert served.post(merlin(message_id=new_id())).status_code == 202


@pytest.mark.parametrize("kind", sorted(_BAD_BODIES))
def test_a_rejection_crosses_from_the_process_whole(served: Served, kind: str) -> None:
    """The problem JSON, located errors and all, is what in-process ingest answers."""
    body = _BAD_BODIES[kind]
    answer, twin = served.post(body), served.post(body, client=served.in_process)
    assert answer.status_code == (400 if kind == "malformed-xml" else 422), answer.text
    assert answer.json()["code"] == kind
    assert (answer.status_code, answer.json()) == (twin.status_code, twin.json())
    if kind == "schema-invalid":
        assert answer.json()["errors"][0]["line"] is not None


def test_another_forces_message_and_a_conflicting_resend_are_refused(served: Served) -> None:
    """The checks that need the caller or the store run in the process too."""
    with unit_of_work(served.services.engine, audits=True) as connection:
        other = keys.create(connection, keys.Role.POLICE, force="30")
    wrong_force = served.client.post(
        "/v1/inbound/merlin",
        content=merlin(message_id=new_id()),
        headers={**XML, "Authorization": f"Bearer {other}"},
    )
    assert wrong_force.status_code == 403 and wrong_force.json()["code"] == "force-mismatch"
    message_id = new_id()
    assert served.post(merlin(message_id=message_id)).status_code == 202
    altered = served.post(merlin(("Example", "Altered"), message_id=message_id))
    assert altered.status_code == 409 and altered.json()["code"] == "conflicting-resend"


def test_an_unexpected_error_reaches_its_caller_by_type_only(served: Served) -> None:
    """A fault that is not the gateway's own error crosses as its type (a 500 either way)."""
    with pytest.raises(IngestFailed, match=r"^KeyError in the ingest process$"):
        asyncio.run(served.processes.submit(Received("no-such-source", b"", served.principal)))


class _Crash(str):
    """A source name that, unpickled in the ingest process, ends it at once (mid-batch)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os._exit, (70,))


def _submit_all(processes: Lanes, batch: list[Received]) -> list[Outcome | BaseException]:
    async def run() -> list[Outcome | BaseException]:
        return await asyncio.gather(
            *(processes.submit(received) for received in batch), return_exceptions=True
        )

    return asyncio.run(run())


def test_a_process_that_dies_mid_batch_fails_that_batch_with_503_and_is_replaced(
    served: Served,
) -> None:
    """Its callers hear 503 "send it again"; the lane's next batch has a new process."""
    before = served.processes.pids
    crash = Received(_Crash("merlin"), merlin(message_id=new_id()), served.principal)
    results = _submit_all(served.processes, [crash])
    assert len(results) == 1 and isinstance(results[0], IngestInterrupted)
    assert results[0].retry_after >= 1 and "send it again" in results[0].detail
    for _ in before:  # one message per lane: the dead one is replaced before its next batch
        assert served.post(merlin(message_id=new_id())).status_code == 202
    after = served.processes.pids
    assert all(pid is not None for pid in after)
    assert len(set(before) & set(after)) == len(before) - 1  # only the crashed one is new


def test_a_process_killed_between_batches_is_replaced_before_the_next_one(
    served: Served,
) -> None:
    """A process found dead before a batch is replaced first: that batch is not failed."""
    lanes = len(served.processes.pids)
    for pid in served.processes.pids:
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in served.processes.pids):
        assert time.monotonic() < deadline, "killed processes still running"
        time.sleep(0.05)
    for _ in range(lanes):  # no batch was in a pipe: nothing is answered 503
        assert served.post(merlin(message_id=new_id())).status_code == 202


def _gone(pid: int | None) -> bool:
    """Whether the process has exited (a zombie has: only its exit status is left)."""
    if pid is None:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_closing_lets_each_process_exit_and_a_failed_start_says_why(served: Served) -> None:
    """`close` ends every process; a process that cannot reach its database fails `start`.

    A lane that cannot start a process, or is closed, answers 503 without storing anything.
    """
    settings = served.services.settings
    deadlines = served.services.ingestor.deadlines
    processes = Lanes.in_processes(settings, served.services.routing, deadlines, 2)
    processes.start()
    pids = processes.pids
    assert all(pid is not None and not _gone(pid) for pid in pids)
    processes.close()
    assert processes.pids == [None, None]
    assert all(_gone(pid) for pid in pids)

    nowhere = Settings(database_url="sqlite:////no/such/dir/gateway.db", _env_file=None)
    broken = Lanes.in_processes(nowhere, served.services.routing, deadlines, 1)
    with pytest.raises(RuntimeError, match="could not start: OperationalError"):
        broken.start()
    assert broken.pids == [None]
    received = Received("merlin", merlin(message_id=new_id()), served.principal)
    with pytest.raises(StoreBusy, match="could not be started; nothing was stored"):
        asyncio.run(broken.submit(received))  # a lane whose process cannot be replaced
    with pytest.raises(StoreBusy, match="shutting down; nothing was stored"):
        asyncio.run(processes.submit(received))  # closed: no new process is started
    assert processes.pids == [None, None]


def test_errors_pickle_with_their_attributes() -> None:
    """Errors cross from the ingest processes by pickle, with what their callers read."""
    import pickle

    from gateway.errors import ConfigurationError, ErrorLocation

    located = SchemaInvalid("bad", [ErrorLocation("/a", 3, 4, "no")], code="schema-x")
    copy = pickle.loads(pickle.dumps(located))
    assert (type(copy), copy.detail, copy.errors, copy.code, copy.status) == (
        SchemaInvalid,
        "bad",
        located.errors,
        "schema-x",
        422,
    )
    assert str(pickle.loads(pickle.dumps(MalformedXml("not xml")))) == "not xml"
    busy = pickle.loads(pickle.dumps(IngestInterrupted("again", retry_after=7)))
    assert (type(busy), busy.detail, busy.retry_after) == (IngestInterrupted, "again", 7)
    config = pickle.loads(pickle.dumps(ConfigurationError("bad key", file="r.yaml", line=9)))
    assert (config.file, config.line, config.problem, str(config)) == (
        "r.yaml",
        9,
        "bad key",
        "r.yaml:9: bad key",
    )
    assert isinstance(pickle.loads(pickle.dumps(StoreBusy("x"))), StoreBusy)


def test_prepare_and_store_answers_each_message_in_order(
    services: Services, police_principal: keys.Principal
) -> None:
    """What a process runs: rejections where `prepare` refuses, the rest stored as one batch."""
    good = merlin(message_id=new_id())
    derbyshire = keys.Principal("k30", keys.Role.POLICE, force="30")
    batch = [
        Received("merlin", good, police_principal),
        Received("merlin", _BAD_BODIES["malformed-xml"], police_principal),
        Received("merlin", merlin(message_id=new_id()), derbyshire),  # the Met's message
        Received("merlin", good, police_principal),  # a copy, later in the same batch
    ]
    results = services.ingestor.prepare_and_store(batch)
    assert [type(r).__name__ for r in results] == [
        "Outcome",
        "MalformedXml",
        "ForceMismatch",
        "Outcome",
    ]
    first, copy = results[0], results[3]
    assert isinstance(first, Outcome) and isinstance(copy, Outcome)
    assert (first.status_code, copy.status_code) == (202, 200)
    assert copy.receipt["receipt_id"] == first.receipt["receipt_id"]
