"""Ingest's group commits: several messages in one transaction, each with its own outcome.

`Ingestor.store` (gateway/ingest/batching.py) is what a lane's group commit runs; calling it
with a batch puts messages in one transaction deterministically, where concurrent requests
would only do so by timing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from adapters import registry
from gateway import keys
from gateway.api.deps import Services
from gateway.canonical import EventType
from gateway.errors import ConflictingResend, SemanticInvalid
from gateway.ingest import events as ingest_events
from gateway.ingest.batching import Ingestor
from gateway.ingest.prepare import Submission, prepare
from gateway.ingest.write import Outcome
from gateway.store.schema import deliveries, episodes, events, messages
from tests.conftest import verified
from tests.gateway.delivery import counts
from tests.messages import MERLIN_FOUND, merlin, new_id

MERLIN = registry.INBOUND["merlin"]


def _batch(ingestor: Ingestor, principal: keys.Principal, *bodies: bytes) -> list[Submission]:
    return [prepare(MERLIN, body, principal) for body in bodies]


def _report(n: int) -> bytes:
    """A new report (its own MERLIN reference) of the example's child."""
    return merlin(message_id=new_id(), ref=f"24MIS{n:06d}")


def _accepted(result: Outcome | Exception) -> dict[str, Any]:
    assert isinstance(result, Outcome) and result.status_code == 202, result
    return result.receipt


def test_a_batch_commits_every_message_with_its_own_receipt(
    services: Services, engine: Engine, police_principal: keys.Principal
) -> None:
    """Three new reports in one transaction: three episodes, deliveries numbered from 1."""
    results = services.ingestor.store(
        _batch(services.ingestor, police_principal, *map(_report, (1, 2, 3)))
    )
    receipts = [_accepted(r) for r in results]
    assert len({r["episode_id"] for r in receipts}) == 3
    assert counts(engine)["messages"] == 3
    with engine.connect() as connection:
        seqs = connection.execute(select(deliveries.c.seq)).scalars().all()
        stored = {
            row.id: row.receipt for row in connection.execute(select(messages)).all()
        }  # what a receipt read later returns
        assert verified(connection, engine).entries > 0
    assert sorted(seqs) == [1] * 6  # two councils per episode, each stream starting at 1
    assert all(stored[r["receipt_id"]] == r for r in receipts)


def test_a_rejected_message_in_a_batch_leaves_the_others_to_commit(
    services: Services, engine: Engine, police_principal: keys.Principal
) -> None:
    """A resend with changed content is refused (409) before it writes; its batch commits."""
    message_id = new_id()
    first = services.ingestor.ingest(MERLIN, merlin(message_id=message_id), police_principal)
    changed = merlin(("Outside the home", "Outside the school"), message_id=message_id)
    results = services.ingestor.store(
        _batch(services.ingestor, police_principal, changed, _report(7))
    )
    assert isinstance(results[0], ConflictingResend)
    _accepted(results[1])
    assert counts(engine)["messages"] == 2
    assert first.status_code == 202


def test_a_message_twice_in_one_batch_is_stored_once(
    services: Services, engine: Engine, police_principal: keys.Principal
) -> None:
    """The second copy finds the first in the batch's transaction: 200 with its receipt."""
    body = _report(8)
    first, second = services.ingestor.store(_batch(services.ingestor, police_principal, body, body))
    receipt = _accepted(first)
    assert isinstance(second, Outcome) and second.status_code == 200
    assert second.receipt == {**receipt, "status": "duplicate"}
    assert counts(engine)["messages"] == 1


def test_two_messages_of_one_report_in_one_batch_keep_their_order(
    services: Services, engine: Engine, police_principal: keys.Principal
) -> None:
    """Report then found in one transaction: one episode, events and deliveries in order."""
    reported = merlin(message_id=new_id())
    found = merlin(MERLIN_FOUND, message_id=new_id(), version=2, notification="FOUND")
    results = services.ingestor.store(_batch(services.ingestor, police_principal, reported, found))
    first, second = (_accepted(r) for r in results)
    assert first["episode_id"] == second["episode_id"]
    assert second["event_types"] == ["found"]
    with engine.connect() as connection:
        status = connection.execute(select(episodes.c.status)).scalar_one()
        numbered = connection.execute(
            select(events.c.type, events.c.seq).order_by(events.c.seq)
        ).all()
        streams = connection.execute(
            select(deliveries.c.council, deliveries.c.seq, deliveries.c.event_id).order_by(
                deliveries.c.council, deliveries.c.seq
            )
        ).all()
    assert status == "found"
    assert [tuple(row) for row in numbered] == [("reported", 1), ("found", 2)]
    by_council: dict[str, list[int]] = {}
    for row in streams:
        by_council.setdefault(row.council, []).append(row.seq)
    assert by_council == {"304": [1, 2], "830": [1, 2]}


def test_a_fault_in_one_message_splits_the_batch_and_fails_that_message_only(
    services: Services,
    engine: Engine,
    police_principal: keys.Principal,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message that fails halfway through its writes fails alone.

    The batch is rolled back, then each message is stored alone; the faulty one gets its error
    and leaves no row behind.
    """
    ingestor = services.ingestor
    faulty = _report(9)
    batch = _batch(ingestor, police_principal, _report(10), faulty, _report(11))
    real = ingest_events.record

    def record_event(txn: Any, *args: Any, **kwargs: Any) -> None:
        real(txn, *args, **kwargs)  # its rows are written, then it fails
        if args[1].source.reference == "24MIS000009":
            raise RuntimeError("a fault storing this message")

    monkeypatch.setattr(ingest_events, "record", record_event)
    before = counts(engine)
    results = ingestor.store(batch)
    assert isinstance(results[1], RuntimeError)
    kept = [_accepted(results[0]), _accepted(results[2])]
    after = counts(engine)
    assert after["messages"] == before["messages"] + 2
    assert after["episodes"] == before["episodes"] + 2
    with engine.connect() as connection:
        stored = set(connection.execute(select(messages.c.id)).scalars())
        verified(connection, engine)
    assert stored == {r["receipt_id"] for r in kept}


class _TwoEvents:
    """MERLIN, but each message maps to its event and an `updated` after it.

    As a source that reports several events in one message would: the new episode's second
    event must be numbered after its first, not as if its episode were still empty.
    """

    name = MERLIN.name
    schema_path = MERLIN.schema_path
    parse = staticmethod(MERLIN.parse)

    @staticmethod
    def to_events(message: Any) -> list[Any]:
        (event,) = MERLIN.to_events(message)
        return [event, event.model_copy(update={"type": EventType.UPDATED})]


def test_a_new_episodes_later_events_follow_its_first(
    services: Services, engine: Engine, police_principal: keys.Principal
) -> None:
    """One message, two events, a new episode: events 1 and 2, each council's stream 1 and 2."""
    submission = prepare(_TwoEvents(), merlin(), police_principal)
    receipt = _accepted(services.ingestor.store([submission])[0])
    assert receipt["event_types"] == ["reported", "updated"]
    with engine.connect() as connection:
        numbered = connection.execute(select(events.c.seq).order_by(events.c.seq)).scalars()
        streams = connection.execute(
            select(deliveries.c.council, deliveries.c.seq).order_by(deliveries.c.seq)
        ).all()
        assert list(numbered) == [1, 2]
    assert sorted((row.council, row.seq) for row in streams) == [
        ("304", 1), ("304", 2), ("830", 1), ("830", 2)
    ]  # fmt: skip


class _Unmappable:
    """MERLIN, but every message's mapping fails (as after a code table lost a value)."""

    name = MERLIN.name
    schema_path = MERLIN.schema_path
    parse = staticmethod(MERLIN.parse)

    @staticmethod
    def to_events(message: Any) -> list[Any]:
        raise SemanticInvalid("the risk level has no canonical code")


def test_a_mapping_error_is_answered_in_the_batch_and_stores_nothing(
    services: Services, engine: Engine, police_principal: keys.Principal
) -> None:
    """Mapping runs in `prepare`; its rejection is that message's answer and the others commit."""
    unmappable = prepare(_Unmappable(), _report(7), police_principal)
    results = services.ingestor.store(
        [unmappable, *_batch(services.ingestor, police_principal, _report(8))]
    )
    assert isinstance(results[0], SemanticInvalid)
    _accepted(results[1])
    assert counts(engine)["messages"] == 1


def test_a_resend_is_a_duplicate_even_if_it_no_longer_maps(
    services: Services, police_principal: keys.Principal
) -> None:
    """A copy of an accepted message gets its original receipt, whatever mapping now says."""
    body = _report(9)
    (first,) = services.ingestor.store(_batch(services.ingestor, police_principal, body))
    again = prepare(_Unmappable(), body, police_principal)
    (second,) = services.ingestor.store([again])
    assert isinstance(second, Outcome) and second.status_code == 200
    assert second.receipt["receipt_id"] == _accepted(first)["receipt_id"]
