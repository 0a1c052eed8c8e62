"""Ingest's batches: many messages in one transaction, and what happens when that fails.

Much of what one ingest costs is paid per transaction (BEGIN, the commit's fsync, the audit
chain's head), so a lane (gateway/ingest/processes.py) hands over every message that arrived
while the batch before was committing. `Ingestor.store` writes them one after another in ONE
transaction, each seeing those before it as if they had committed. If the batch fails, each
of its messages is tried again in a transaction of its own, so whatever made it fail (a race
with another process, a deadlock, a fault in one message) touches only its own message. A
race between two copies of one message, or two first messages of one report, ends in a
unique-key violation; the loser retries and finds the winner's rows.

Errors are raised where they arise (`gateway.errors`); `store` is the one place that turns
them into one result per message, which its batch's callers are handed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from adapters.base import InboundAdapter
from gateway.canonical import utc_now
from gateway.delivery.deadlines import Deadlines
from gateway.errors import InboundRejected, StoreBusy
from gateway.ingest.prepare import Received, Submission, prepare, prepare_received
from gateway.ingest.write import Outcome, Writer
from gateway.keys import Principal
from gateway.logs import get_logger
from gateway.routing import RoutingTable
from gateway.store import locks
from gateway.store.work import unit_of_work

log = get_logger(__name__)
ATTEMPTS = 5  # transactions tried per message before answering 503 (StoreBusy)
INGEST_LOCKS = (locks.Level.CHILD, locks.Level.EPISODE)  # per message (gateway/store/locks.py)
Result = Outcome | Exception  # one per message of a batch: what its caller is answered


class Ingestor:
    """Stores prepared messages in batches, one transaction a batch."""

    def __init__(
        self,
        engine: Engine,
        routing: RoutingTable,
        *,
        deadlines: Deadlines | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Ingest into `engine`, routing by `routing`."""
        self.engine = engine
        self.routing = routing
        self.deadlines = deadlines or Deadlines()
        self.writer = Writer(routing, self.deadlines, clock)

    def ingest(self, adapter: InboundAdapter[Any], body: bytes, principal: Principal) -> Outcome:
        """Validate, map and durably store one message, alone (scripts and tests).

        Raises:
            InboundRejected: a subclass for every kind of bad input (nothing is stored).
            StoreBusy: the database kept aborting the transaction (nothing is stored).
        """
        (result,) = self.store([prepare(adapter, body, principal)])
        if isinstance(result, Exception):
            raise result
        return result

    def prepare_and_store(self, batch: Sequence[Received]) -> list[Result]:
        """Prepare each message, and store those prepared as one batch (see `store`).

        What a lane runs for each batch it is handed. Returns one result per message, in
        order: where `prepare` refused a message, its rejection.
        """
        results: list[Result | None] = []
        prepared: list[Submission] = []
        for received in batch:
            try:
                prepared.append(prepare_received(received))
                results.append(None)
            except Exception as error:  # noqa: BLE001 - handed to this message's caller
                results.append(error)
        stored = iter(self.store(prepared) if prepared else ())
        return [next(stored) if result is None else result for result in results]

    def store(self, batch: list[Submission]) -> list[Result]:
        """Store `batch` in one transaction, in order; if that fails, each message in its own.

        Returns one result per message: its outcome, or the error its caller should see
        (a rejection, `StoreBusy`, a fault).
        """
        if len(batch) > 1:
            try:
                return self._transaction(batch)
            except Exception as error:  # noqa: BLE001 - whatever it was, each is tried alone
                log.info("ingest_batch_split", messages=len(batch), error=type(error).__name__)
        results: list[Result] = []
        for submission in batch:
            try:
                results.append(self._alone(submission))
            except Exception as error:  # noqa: BLE001 - handed to this message's caller
                results.append(error)
        return results

    def _alone(self, submission: Submission) -> Result:
        """`submission` in a transaction of its own, tried again after a race or a deadlock.

        Raises:
            StoreBusy: every attempt was aborted (nothing is stored).
        """
        last: Exception | None = None
        for attempt in range(ATTEMPTS):
            try:
                return self._transaction([submission])[0]
            except (IntegrityError, OperationalError) as error:
                if isinstance(error, OperationalError) and not _transient(error):
                    raise
                # Another request stored this message or this report first: the next attempt
                # finds it (a copy of this message) or links to it (another of its report).
                # A deadlock's other side is let finish first (a short, jittered pause).
                log.info("ingest_retried", attempt=attempt + 1, error=type(error).__name__)
                last = error
                time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter, not a secret
        raise StoreBusy(
            f"the database aborted this message's transaction {ATTEMPTS} times under "
            "concurrent load; nothing was stored: send it again"
        ) from last

    def _transaction(self, batch: list[Submission]) -> list[Result]:
        """Write each message of `batch` in order, in one transaction, and commit it.

        A rejection has written nothing (`Writer.write`), so it is its message's result and
        the others commit; any other error aborts the whole transaction.
        """
        results: list[Result] = []
        with unit_of_work(self.engine, audits=True, locks=INGEST_LOCKS) as connection:
            for submission in batch:
                try:
                    results.append(self.writer.write(connection, submission))
                except InboundRejected as rejected:
                    results.append(rejected)
        return results


def _transient(error: OperationalError) -> bool:
    """A deadlock or serialisation failure that PostgreSQL resolved by aborting this attempt."""
    return getattr(error.orig, "sqlstate", None) in {"40P01", "40001"}
