"""Ingest, step 2: one message's part of its batch's transaction.

A message is looked up first: a resend is answered with its earlier receipt (even if it would
no longer map), or refused if its content differs. Otherwise the message is stored with its
hash and receipt, linked to its report's episode (created, with its child matched or created,
for a report's first message), and each event recorded (gateway/ingest/events.py). Everything
the caller's `202` promises is written here, in the caller's transaction: the batch commits it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from adapters.base import SourceMessage
from gateway import audit, receipts
from gateway.canonical import EpisodeEvent, utc_now
from gateway.delivery.deadlines import Deadlines
from gateway.episodes import match_key
from gateway.errors import ConflictingResend
from gateway.ids import new_id
from gateway.ingest import events
from gateway.ingest.prepare import Submission
from gateway.logs import get_logger
from gateway.routing import RoutingTable
from gateway.store import children, episodes, locks, messages

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer: `202` with a new receipt or `200` with the original one."""

    status_code: int
    receipt: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Writer:
    """Writes messages into the caller's transaction, routing by `routing`."""

    routing: RoutingTable
    deadlines: Deadlines
    clock: Callable[[], datetime] = utc_now

    def write(self, connection: Connection, submission: Submission) -> Outcome:
        """Write `submission` in `connection`'s transaction (not committed here).

        Raises:
            InboundRejected: a conflicting resend, or a new message that cannot be mapped;
                raised before anything is written, so the rest of the batch may commit.
        """
        found = _find_message(connection, submission.message)
        if found.c14n_sha256 is not None:
            return _resend(found, submission.message)
        if submission.unmappable is not None:
            raise submission.unmappable
        link = _Link(found.link_id, found.link_episode_id, found.link_last_version)
        return self._new_message(connection, submission, link if link.id is not None else None)

    def _new_message(
        self, connection: Connection, submission: Submission, link: _Link | None
    ) -> Outcome:
        message, principal = submission.message, submission.principal
        now = self.clock()
        receipt_id = new_id()
        stale = link is not None and message.version <= link.last_version
        receipt = _receipt(receipt_id, message, link, stale, now)
        messages.INSERT.run(
            connection,
            {
                "id": receipt_id,
                "source": str(message.source),
                "force": message.force,
                "message_id": message.message_id,
                "reference": message.reference,
                "version": message.version,
                "received_at": now,
                "c14n_sha256": message.c14n_sha256,
                "body": submission.body,
                "episode_id": receipt["episode_id"],
                "stale": stale,
                "receipt": receipt,
            },
        )
        audit.append(
            connection,
            actor=principal.actor,
            action=audit.Action.RECEIVED,
            subject=receipt_id,
            details={
                "source": str(message.source),
                "force": message.force,
                "stale": stale,
                "message_id": message.message_id,
            },
        )
        if not stale:
            txn = events.Txn(
                connection, self.routing, self.deadlines, receipt_id, receipt, now, principal
            )
            self._record(txn, submission, link)
        return Outcome(status_code=202, receipt=receipt)

    def _record(self, txn: events.Txn, submission: Submission, link: Any) -> None:
        """Link the message to its episode, record each of its events, finish its receipt."""
        episode_id, opened = _link(
            txn.connection, submission.message, submission.events, link, txn.now
        )
        for index, event in enumerate(submission.events):
            events.record(
                txn,
                episode_id,
                event,
                submission.canonical[index],
                new_episode=opened is not None,
                opened=opened if index == 0 else None,
            )
        receipt = txn.receipt
        receipt["episode_id"] = episode_id
        receipt["warnings"] = receipts.warnings(
            receipt, responsible_unknown=receipts.RESPONSIBLE_UNKNOWN in txn.warned
        )
        messages.UPDATE.run(
            txn.connection,
            {"row_id": txn.receipt_id, "episode_id": episode_id, "receipt": receipt},
        )


def log_outcome(outcome: Outcome) -> None:
    """Log a committed outcome (ids only), in the process that answers its caller."""
    receipt = outcome.receipt
    if outcome.status_code != 202:
        log.info("message_duplicate", receipt_id=receipt["receipt_id"])
        return
    log.info(
        "message_accepted",
        receipt_id=receipt["receipt_id"],
        episode_id=receipt["episode_id"],
        source=receipt["source"],
        stale=receipt["stale"],
        events=len(receipt["event_types"]),
    )


def _receipt(
    receipt_id: str, message: SourceMessage, link: Any, stale: bool, now: datetime
) -> dict[str, Any]:
    """The receipt as the message is stored: its episode and routing are added as found."""
    return {
        "receipt_id": receipt_id,
        "source": str(message.source),
        "message_id": message.message_id,
        "status": "accepted",
        "episode_id": link.episode_id if link is not None else None,
        "event_types": [],
        "deliveries": [],
        "unroutable_councils": [],
        "unresolved_councils": [],
        "warnings": [],
        "stale": stale,
        "received_at": now.isoformat().replace("+00:00", "Z"),
    }


def _link(
    connection: Connection,
    message: SourceMessage,
    mapped: Sequence[EpisodeEvent],
    link: Any,
    now: datetime,
) -> tuple[str, events.Opened | None]:
    """The report's episode, made (and returned as `Opened`) for its first message."""
    if link is not None:
        episodes.UPDATE_SOURCE.run(connection, {"row_id": link.id, "last_version": message.version})
        return str(link.episode_id), None
    child_id, new_child = _match_child(connection, mapped[0], now)
    source = {"source": str(message.source), "force": message.force, "reference": message.reference}
    # Its row and link are inserted with its first event (`events.record`).
    return new_id(), events.Opened(child_id, source, message.version, new_child)


@dataclass(frozen=True, slots=True)
class _Link:
    """A report's link to its episode (`episode_sources`), as found with the message."""

    id: int
    episode_id: str
    last_version: int


def _find_message(connection: Connection, message: SourceMessage) -> Any:
    """An earlier copy of the message and its report's link, locked (`FIND_WITH_LINK`).

    One row, always: the columns of what is not there are None.
    """
    return messages.FIND_WITH_LINK.one(
        connection,
        {
            "source": str(message.source),
            "force": message.force,
            "message_id": message.message_id,
            "reference": message.reference,
        },
    )


def _resend(earlier: Any, message: SourceMessage) -> Outcome:
    if earlier.c14n_sha256 != message.c14n_sha256:
        raise ConflictingResend(
            f"message id {message.message_id} was already accepted with "
            "different content; send changes as a new message with a new id "
            "and a higher version"
        )
    return Outcome(status_code=200, receipt={**earlier.receipt, "status": "duplicate"})


def _match_child(connection: Connection, event: EpisodeEvent, now: datetime) -> tuple[str, bool]:
    """The child's id and whether it is new.

    Matched by NHS number when both records have one, else by name and birth date, else created.
    """
    nhs = event.child.nhs_number
    key = match_key(event)
    # Two first reports of one child at once must find one child, not create two.
    locks.hold(connection, locks.Space.CHILD, key, *([f"nhs:{nhs}"] if nhs else []))
    if nhs:
        found = children.BY_NHS_OR_KEY.first(connection, {"nhs": nhs, "key": key})
        if found is not None and found.nhs_number is None:  # matched by name: now it has one
            children.UPDATE.run(connection, {"row_id": found.id, "nhs_number": nhs})
    else:
        found = children.BY_KEY.first(connection, {"key": key})
    if found is not None:
        return str(found.id), False
    child_id = new_id()
    children.INSERT.run(
        connection, {"id": child_id, "nhs_number": nhs, "match_key": key, "created_at": now}
    )
    return child_id, True
