"""Row ids are UUIDv7: valid, unique across threads, and ordered as they were made."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, select

from adapters import registry
from gateway import keys
from gateway.api.deps import Services
from gateway.ids import new_id
from gateway.store.schema import children, deliveries, episodes, events, messages
from tests.messages import merlin


def test_an_id_is_a_version_7_uuid_in_canonical_form() -> None:
    """Version 7, the RFC variant, and the lower-case hyphenated form."""
    made = new_id()
    parsed = uuid.UUID(made)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert made == str(parsed)  # what the API has always returned


def test_ids_sort_in_the_order_they_were_made() -> None:
    """String order is what the indexes see; 10 000 ids span several milliseconds."""
    made = [new_id() for _ in range(10_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_made_in_many_threads_at_once_are_all_distinct() -> None:
    """Request threads make ids side by side: 16 000 from 8 threads, none repeated."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(lambda _: [new_id() for _ in range(2_000)], range(8)))
    made = [i for batch in batches for i in batch]
    assert len(set(made)) == len(made)


def test_an_ingested_report_gets_time_ordered_ids_for_every_row(
    services: Services, engine: Engine, police_principal: keys.Principal
) -> None:
    """Message, child, episode, event and deliveries: each a UUIDv7, in the order written."""
    outcome = services.ingestor.ingest(registry.INBOUND["merlin"], merlin(), police_principal)
    assert outcome.status_code == 202
    with engine.connect() as connection:
        ids = [
            connection.execute(select(messages.c.id)).scalar_one(),
            connection.execute(select(children.c.id)).scalar_one(),
            connection.execute(select(episodes.c.id)).scalar_one(),
            connection.execute(select(events.c.id)).scalar_one(),
            *connection.execute(select(deliveries.c.id).order_by(deliveries.c.id)).scalars(),
        ]
    assert len(ids) >= 5  # the example's child is looked after: two councils are told
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert ids == sorted(ids)
    assert outcome.receipt["receipt_id"] == ids[0]
