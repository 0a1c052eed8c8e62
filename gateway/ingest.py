"""Ingest: from accepted bytes to a committed message, episode, events, deliveries and audit.

`Ingestor.ingest` parses and maps outside the transaction (pure, may reject with 4xx), then
in ONE transaction looks for an earlier copy (a resend is answered with its receipt, even if
it would no longer map) and stores everything that must be durable before the caller answers
`202`. That transaction is a group commit
(gateway/group_commit.py): it stores, one after another, every message that arrived while the
one before was committing, so each message sees those before it as if they had committed.
If the batch fails, each of its messages is tried again in a transaction of its own.
A race between two copies of one message, or two first messages of one report, ends in a
unique-key violation; the loser retries and finds the winner's rows.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from adapters import registry
from adapters.base import InboundAdapter, SourceMessage
from gateway import audit, receipts
from gateway.canonical import CouncilRole, EpisodeEvent, EpisodeStatus, RiskLevel, utc_now
from gateway.delivery import unroutable as unroutables
from gateway.delivery.enqueue import enqueue
from gateway.episodes import ChildCounts, build_state, count_episodes, match_key, roles_in_state
from gateway.errors import ConflictingResend, ForceMismatch, InboundRejected, StoreBusy
from gateway.group_commit import GroupCommit
from gateway.ids import new_id
from gateway.keys import Principal, Role
from gateway.logs import get_logger
from gateway.policy import engine as policy
from gateway.policy import host_flags
from gateway.routing import RoutingTable
from gateway.store import locks
from gateway.store.events import append_event
from gateway.store.prepared import Prepared
from gateway.store.schema import children, episode_sources, episodes, messages
from gateway.store.work import unit_of_work

log = get_logger(__name__)
_ATTEMPTS = 5  # transactions tried per message before answering 503 (StoreBusy)
INGEST_LOCKS = (locks.Level.CHILD, locks.Level.EPISODE)  # per message (gateway/store/locks.py)

# Built once and run as prepared statements (gateway/store/prepared.py): on the hot path,
# Core's per-statement machinery costs several times what SQLite takes to run the statement.
_MESSAGE = Prepared(
    select(messages.c.c14n_sha256, messages.c.receipt).where(
        messages.c.source == bindparam("source"),
        messages.c.force == bindparam("force"),
        messages.c.message_id == bindparam("message_id"),
    )
)
# An existing report's link and episode are locked: one writer per episode at a time. FOR NO KEY
# UPDATE (key_share), not FOR UPDATE: the worker's inserts that reference an episode (case
# records) take FOR KEY SHARE on it, which FOR UPDATE would block (gateway/store/locks.py).
_LINK = Prepared(
    select(episode_sources)
    .where(
        episode_sources.c.source == bindparam("source"),
        episode_sources.c.force == bindparam("force"),
        episode_sources.c.reference == bindparam("reference"),
    )
    .with_for_update(key_share=True)
)
_SOURCES = Prepared(
    select(episode_sources.c.source, episode_sources.c.force, episode_sources.c.reference)
    .where(episode_sources.c.episode_id == bindparam("episode"))
    .order_by(episode_sources.c.id)
)
_EPISODE = Prepared(
    select(episodes).where(episodes.c.id == bindparam("row_id")).with_for_update(key_share=True)
)
# With an NHS number: the child with it, else the oldest child of that name and birth date
# recorded without one, in one statement (each branch on its own index, NHS matches first).
_CHILD_BY_NHS_OR_KEY = Prepared(
    union_all(
        select(
            children.c.id,
            children.c.nhs_number,
            children.c.created_at,
            literal_column("0").label("rank"),
        ).where(children.c.nhs_number == bindparam("nhs")),
        select(
            children.c.id,
            children.c.nhs_number,
            children.c.created_at,
            literal_column("1").label("rank"),
        ).where(children.c.match_key == bindparam("key"), children.c.nhs_number.is_(None)),
    )
    .order_by("rank", "created_at")
    .limit(1)
)
_CHILD_BY_KEY = Prepared(
    select(children.c.id)
    .where(children.c.match_key == bindparam("key"))
    .order_by(children.c.created_at)
    .limit(1)
)
# Updates take their SET columns from the parameters' keys; `row_id` picks the row.
_UPDATE_MESSAGE = Prepared(update(messages).where(messages.c.id == bindparam("row_id")))
_UPDATE_SOURCE = Prepared(
    update(episode_sources).where(episode_sources.c.id == bindparam("row_id"))
)
_UPDATE_EPISODE = Prepared(update(episodes).where(episodes.c.id == bindparam("row_id")))
_UPDATE_CHILD = Prepared(update(children).where(children.c.id == bindparam("row_id")))
_INSERT_MESSAGE = Prepared(insert(messages))
_INSERT_EPISODE = Prepared(insert(episodes))
_INSERT_SOURCE = Prepared(insert(episode_sources))
_INSERT_CHILD = Prepared(insert(children))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to answer: `202` with a new receipt or `200` with the original one."""

    status_code: int
    receipt: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long each risk level may wait for delivery before it is overdue (DESIGN.md §4)."""

    high: timedelta = timedelta(minutes=15)
    medium: timedelta = timedelta(hours=1)
    other: timedelta = timedelta(hours=4)

    def for_risk(self, risk: RiskLevel) -> timedelta:
        """The deadline that applies to an event of this risk level."""
        if risk is RiskLevel.HIGH:
            return self.high
        return self.medium if risk is RiskLevel.MEDIUM else self.other


@dataclass(frozen=True, slots=True)
class Received:
    """A message as it arrived: what an ingest process is sent (gateway/ingest_processes.py)."""

    source: str  # the inbound adapter's name in `adapters.registry.INBOUND`
    body: bytes
    principal: Principal


@dataclass(frozen=True, slots=True)
class Submission:
    """A parsed and mapped message of a caller allowed to send it, waiting to be stored.

    Mapping is pure, so it is done before the store, in the caller's thread, and not in the
    group commit's one-at-a-time transaction. A message that cannot be mapped keeps its
    rejection in `unmappable`: it is the answer unless the message is a resend.
    """

    adapter: InboundAdapter[Any]
    message: SourceMessage
    body: bytes
    principal: Principal
    events: tuple[EpisodeEvent, ...] = ()
    canonical: tuple[dict[str, Any], ...] = ()  # each event's canonical JSON, as stored
    unmappable: InboundRejected | None = None


@dataclass(frozen=True, slots=True)
class _Opened:
    """An episode created in this transaction for a report's first message."""

    child_id: str
    source: dict[str, str]  # its one link: source, force, reference
    new_child: bool  # the child too was created here, so has no other episode (not read)


@dataclass(frozen=True, slots=True)
class _Stored:
    """An event just stored.

    Its id and number, whether its episode is new in this transaction, and whether it is that
    new episode's first event.
    """

    event_id: str
    seq: int
    new_episode: bool
    first: bool


@dataclass(frozen=True, slots=True)
class _Txn:
    """What every step of storing one message shares: its transaction, receipt and actor.

    `warned`: what its events found that the receipt's warnings tell (`gateway.receipts`).
    """

    connection: Connection
    receipt_id: str
    receipt: dict[str, Any]
    now: datetime
    principal: Principal
    warned: set[str] = field(default_factory=set)


class Ingestor:
    """Accepts parsed messages into durable storage."""

    def __init__(
        self,
        engine: Engine,
        routing: RoutingTable,
        *,
        deadlines: Deadlines | None = None,
        clock: Callable[[], datetime] = utc_now,
        batch: int = 32,
    ) -> None:
        """Ingest into `engine`, routing by `routing`.

        `batch`: messages one group commit stores at most (1: one transaction each). A batch
        holds SQLite's one connection, so the worker waits for about that many messages' work.
        """
        self.engine = engine
        self.routing = routing
        self.deadlines = deadlines or Deadlines()
        self.clock = clock
        self._commits: GroupCommit[Submission, Outcome] = GroupCommit(self.store, limit=batch)

    def ingest(self, adapter: InboundAdapter[Any], body: bytes, principal: Principal) -> Outcome:
        """Validate, map and durably store one message.

        Parsing runs in the caller's thread; the store runs in a group commit (see
        `gateway.group_commit`), in one transaction with whatever other messages arrived
        meanwhile, and this returns once that transaction has committed.

        Raises:
            InboundRejected: a subclass for every kind of bad input (nothing is stored).
            StoreBusy: the database kept aborting the transaction (nothing is stored).
        """
        outcome = self._commits.submit(self.prepare(adapter, body, principal))
        log_outcome(outcome)  # here, not in the group commit's serial store: 0.1 ms a line
        return outcome

    async def commit(self, submission: Submission) -> Outcome:
        """Store a prepared submission, for a caller on an event loop (the HTTP routes).

        As `ingest` after its `prepare`, but waiting without holding a thread: a request
        thread blocked on the group commit is one the server's thread pool cannot lend to
        any other request (every API key check runs there), so a burst of submissions from
        many forces would stall the delivery log and its own authentication.

        Raises:
            InboundRejected: a subclass for a mapping error or a conflicting resend.
            StoreBusy: the database kept aborting the transaction (nothing is stored).
        """
        outcome = await self._commits.submit_async(submission)
        log_outcome(outcome)
        return outcome

    def prepare(
        self, adapter: InboundAdapter[Any], body: bytes, principal: Principal
    ) -> Submission:
        """Parse, validate and map `body`, and check that `principal` may send it (no database).

        Raises:
            InboundRejected: a subclass for every kind of bad input, but for a mapping error,
                which is kept in the submission (see `Submission`).
        """
        message = adapter.parse(body)
        if principal.role is Role.POLICE and message.force != principal.force:
            raise ForceMismatch(
                f"the message is for force {message.force}; this key may submit "
                f"for force {principal.force} only"
            )
        try:
            events = tuple(adapter.to_events(message))
        except InboundRejected as rejected:
            return Submission(adapter, message, body, principal, unmappable=rejected)
        canonical = tuple(event.model_dump(mode="json") for event in events)
        return Submission(adapter, message, body, principal, events, canonical)

    def prepare_and_store(self, batch: Sequence[Received]) -> list[Outcome | Exception]:
        """Prepare each message, and store those prepared as one batch (see `store`).

        What an ingest process runs for each batch the server sends it. Returns one result
        per message, in order: where `prepare` refused a message, its rejection.
        """
        results: list[Outcome | Exception | None] = []
        prepared: list[Submission] = []
        for received in batch:
            try:
                adapter = registry.INBOUND[received.source]
                prepared.append(self.prepare(adapter, received.body, received.principal))
                results.append(None)
            except Exception as error:  # noqa: BLE001 - handed to this message's caller
                results.append(error)
        stored = iter(self.store(prepared) if prepared else ())
        return [next(stored) if result is None else result for result in results]

    def store(self, batch: list[Submission]) -> list[Outcome | Exception]:
        """Store `batch` in one transaction, in order; if that fails, each message in its own.

        Returns one result per message: its outcome, or the error its caller should see
        (a rejection, `StoreBusy`, a fault). Whatever made the batch fail (a race with
        another process, a deadlock, a fault in one message) then touches only the message
        it belongs to.
        """
        if len(batch) > 1:
            try:
                return self._transaction(batch)
            except Exception as error:  # noqa: BLE001 - whatever it was, each is tried alone
                log.info("ingest_batch_split", messages=len(batch), error=type(error).__name__)
        return [self._alone(submission) for submission in batch]

    def _alone(self, submission: Submission) -> Outcome | Exception:
        last: Exception | None = None
        for attempt in range(_ATTEMPTS):
            try:
                return self._transaction([submission])[0]
            except (IntegrityError, OperationalError) as error:
                if isinstance(error, OperationalError) and not _transient(error):
                    return error
                # Another request stored this message or this report first: the next attempt
                # finds it (a copy of this message) or links to it (another of its report).
                # A deadlock's other side is let finish first (a short, jittered pause).
                log.info("ingest_retried", attempt=attempt + 1, error=type(error).__name__)
                last = error
                time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 - jitter, not a secret
            except Exception as error:  # noqa: BLE001 - handed to this message's caller
                return error
        busy = StoreBusy(
            f"the database aborted this message's transaction {_ATTEMPTS} times under "
            "concurrent load; nothing was stored: send it again"
        )
        busy.__cause__ = last
        return busy

    def _transaction(self, batch: list[Submission]) -> list[Outcome | Exception]:
        """Store each message of `batch` in order, in one transaction, and commit it."""
        with unit_of_work(self.engine, audits=True, locks=INGEST_LOCKS) as connection:
            return [self._one(connection, submission) for submission in batch]

    def _one(self, connection: Connection, submission: Submission) -> Outcome | Exception:
        """One message's part of the transaction.

        A rejection is returned, having written nothing, so the others in the batch commit.
        """
        earlier = _find_message(connection, submission.message)
        if earlier is not None:
            try:
                return _resend(earlier, submission.message)
            except InboundRejected as rejected:
                return rejected
        if submission.unmappable is not None:
            return submission.unmappable
        return self._store_message(connection, submission)

    def _store_message(self, connection: Connection, submission: Submission) -> Outcome:
        message, mapped, principal = submission.message, submission.events, submission.principal
        now = self.clock()
        receipt_id = new_id()
        link = _LINK.first(
            connection,
            {"source": str(message.source), "force": message.force, "reference": message.reference},
        )
        stale = link is not None and message.version <= link.last_version
        episode_id = link.episode_id if link is not None else None
        receipt: dict[str, Any] = {
            "receipt_id": receipt_id,
            "source": str(message.source),
            "message_id": message.message_id,
            "status": "accepted",
            "episode_id": episode_id,
            "event_types": [],
            "deliveries": [],
            "unroutable_councils": [],
            "unresolved_councils": [],
            "warnings": [],
            "stale": stale,
            "received_at": _iso(now),
        }
        _INSERT_MESSAGE.run(
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
                "episode_id": episode_id,
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
            episode_id, opened = self._link(connection, message, mapped, link, now)
            txn = _Txn(connection, receipt_id, receipt, now, principal)
            for index, event in enumerate(mapped):
                self._record_event(
                    txn,
                    episode_id,
                    event,
                    submission.canonical[index],
                    new_episode=opened is not None,
                    opened=opened if index == 0 else None,
                )
            receipt["episode_id"] = episode_id
            receipt["warnings"] = receipts.warnings(
                receipt, responsible_unknown=receipts.RESPONSIBLE_UNKNOWN in txn.warned
            )
            _UPDATE_MESSAGE.run(
                connection, {"row_id": receipt_id, "episode_id": episode_id, "receipt": receipt}
            )
        return Outcome(status_code=202, receipt=receipt)

    def _link(
        self,
        connection: Connection,
        message: SourceMessage,
        mapped: Sequence[EpisodeEvent],
        link: Any,
        now: datetime,
    ) -> tuple[str, _Opened | None]:
        """The report's episode, created (and returned as `_Opened`) for its first message."""
        if link is not None:
            _UPDATE_SOURCE.run(connection, {"row_id": link.id, "last_version": message.version})
            return str(link.episode_id), None
        first = mapped[0]
        child_id, new_child = _match_child(connection, first, now)
        episode_id = new_id()
        _INSERT_EPISODE.run(
            connection,
            {
                **_columns(first, now),
                "id": episode_id,
                "child_id": child_id,
                "created_at": now,
                "state": {},
            },
        )
        source = {
            "source": str(message.source),
            "force": message.force,
            "reference": message.reference,
        }
        _INSERT_SOURCE.run(
            connection, {"episode_id": episode_id, **source, "last_version": message.version}
        )
        return episode_id, _Opened(child_id, source, new_child)

    def _record_event(
        self,
        txn: _Txn,
        episode_id: str,
        event: EpisodeEvent,
        canonical: dict[str, Any],
        *,
        new_episode: bool,
        opened: _Opened | None,
    ) -> None:
        """Store one event of the message (`canonical`: its JSON, from `prepare`).

        `opened`: its episode, when this is the first event of an episode created in this
        transaction (what is known then is not read back).
        """
        connection, now = txn.connection, txn.now
        if opened is None:
            row = _EPISODE.one(connection, {"row_id": episode_id})
            child_id, before = row.child_id, row.state or None
            sources = _sources(connection, episode_id)
        else:
            child_id, before, sources = opened.child_id, None, [opened.source]
        first = opened is not None
        event_id, seq = append_event(
            connection,
            episode_id=episode_id,
            event=event,
            message_row_id=txn.receipt_id,
            now=now,
            first=first,
            canonical=canonical,
        )
        snap = event.episode
        stored = (
            [] if opened is not None and opened.new_child else policy.history(connection, child_id)
        )
        state = build_state(
            before,
            event,
            episode_id=episode_id,
            counts=_counts(stored, snap.reported_at, episode_id, snap.status),
            sources=sources,
        )
        columns = _columns(event, now, state)
        audit.append(
            connection,
            actor=txn.principal.actor,
            action=audit.Action.MAPPED,
            subject=event_id,
            details={"episode_id": episode_id, "type": str(event.type), "seq": seq},
        )
        raised = policy.evaluate_episode(
            connection,
            policy.Standing(
                id=episode_id,
                status=columns["status"],
                reported_at=snap.reported_at,
                found_at=columns["found_at"],
                updated_at=now,
                looked_after=snap.looked_after,
                dfe_missing_type=columns["dfe_missing_type"],
                state=state,
            ),
            policy.councils_with_packs(self.routing, roles_in_state(state)),
            history=stored,
            now=now,
            event_id=event_id,
            actor=txn.principal.actor,
            first=first,
        )
        raised = self._host_flags(txn, episode_id, event_id, state, raised, first=first)
        _UPDATE_EPISODE.run(
            connection,
            {
                **columns,
                "row_id": episode_id,
                "state": policy.with_flags(state, raised),
                "policy_due_at": raised.next_at,
            },
        )
        txn.receipt["event_types"].append(str(event.type))
        self._route(
            txn,
            episode_id,
            _Stored(event_id, seq, new_episode, first),
            state,
            raised.by_council,
        )

    def _host_flags(
        self,
        txn: _Txn,
        episode_id: str,
        event_id: str,
        state: dict[str, Any],
        raised: policy.Raised,
        *,
        first: bool,
    ) -> policy.Raised:
        """The packs' flags with the host's own added (`gateway.policy.host_flags`)."""
        if host_flags.responsible_unknown(state):
            txn.warned.add(receipts.RESPONSIBLE_UNKNOWN)
        host = host_flags.raise_flags(
            txn.connection,
            episode_id,
            state,
            self.routing,
            now=txn.now,
            event_id=event_id,
            actor=txn.principal.actor,
            first=first,
        )
        if not host:
            return raised
        by_council = {council: list(flags) for council, flags in raised.by_council.items()}
        for council, flags in host.items():
            by_council.setdefault(council, []).extend(flags)
        return policy.Raised(by_council=by_council, next_at=raised.next_at)

    def _route(
        self,
        txn: _Txn,
        episode_id: str,
        stored: _Stored,
        state: dict[str, Any],
        flags: dict[str, list[policy.Flag]],
    ) -> None:
        """Queue a delivery per council told, with its role and the flags just raised for it.

        `state` is the episode's after the event: its councils (`gateway.episodes.told`) and
        the names that match none. A council not onboarded, and each such name, is held on
        the unroutable list in its role instead.
        """
        connection, receipt, principal = txn.connection, txn.receipt, txn.principal
        event_id = stored.event_id
        for waiting in state["unresolved_councils"]:
            self._hold(txn, episode_id, stored, CouncilRole(waiting["role"]), name=waiting["name"])
            if waiting["name"] not in receipt["unresolved_councils"]:
                receipt["unresolved_councils"].append(waiting["name"])
        for told in state["councils"]:
            council, role = told["council"], CouncilRole(told["role"])
            route = self.routing.route(council)
            if route is None:
                self._hold(txn, episode_id, stored, role, council=council)
                if council not in receipt["unroutable_councils"]:
                    receipt["unroutable_councils"].append(council)
                continue
            delivery_id = enqueue(
                connection,
                episode_id=episode_id,
                event_id=event_id,
                council=council,
                system=route.system,
                risk=RiskLevel(state["risk_level"]),
                now=txn.now,
                deadlines=self.deadlines,
                actor=principal.actor,
                flags=flags.get(council, []),
                role=role,
                event_seq=stored.seq,
                new_episode=stored.new_episode,
                first=stored.first,
            )
            receipt["deliveries"].append(
                {
                    "delivery_id": delivery_id,
                    "council": council,
                    "system": route.system,
                    "status": "pending",
                }
            )

    def _hold(
        self,
        txn: _Txn,
        episode_id: str,
        stored: _Stored,
        role: CouncilRole,
        *,
        council: str | None = None,
        name: str | None = None,
    ) -> None:
        """Put the event on the unroutable list for `council`, or for the unresolved `name`."""
        waiting = unroutables.Waiting(
            stored.event_id, episode_id, txn.receipt_id, role, council=council, name=name
        )
        unroutables.hold(txn.connection, waiting, now=txn.now, actor=txn.principal.actor)


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


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _columns(
    event: EpisodeEvent, now: datetime, state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `episodes` columns an event sets (its state and timer apart).

    Its councils are the state's when given: those the snapshot names, or a name of it that
    an operator resolved earlier (`gateway.episodes.council_columns`).
    """
    snap = event.episode
    kind = snap.dfe_missing_type
    councils = state or {
        "home_council": snap.home_council,
        "responsible_council": snap.responsible_council,
    }
    return {
        "status": str(snap.status),
        "risk_level": str(snap.risk_level),
        "looked_after": snap.looked_after,
        "dfe_missing_type": str(kind) if kind else None,
        "home_council": councils["home_council"],
        "responsible_council": councils["responsible_council"],
        "reported_at": snap.reported_at,
        "found_at": snap.found.at if snap.found else None,
        "updated_at": now,
    }


def _transient(error: OperationalError) -> bool:
    """A deadlock or serialisation failure that PostgreSQL resolved by aborting this attempt."""
    return getattr(error.orig, "sqlstate", None) in {"40P01", "40001"}


def _find_message(connection: Connection, message: SourceMessage) -> Any:
    return _MESSAGE.first(
        connection,
        {"source": str(message.source), "force": message.force, "message_id": message.message_id},
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
        found = _CHILD_BY_NHS_OR_KEY.first(connection, {"nhs": nhs, "key": key})
        if found is not None and found.nhs_number is None:  # matched by name: now it has one
            _UPDATE_CHILD.run(connection, {"row_id": found.id, "nhs_number": nhs})
    else:
        found = _CHILD_BY_KEY.first(connection, {"key": key})
    if found is not None:
        return str(found.id), False
    child_id = new_id()
    _INSERT_CHILD.run(
        connection, {"id": child_id, "nhs_number": nhs, "match_key": key, "created_at": now}
    )
    return child_id, True


def _counts(
    stored: list[Any], reported_at: datetime, episode_id: str, status: EpisodeStatus
) -> ChildCounts:
    """The child's episode counts, with this one as the event leaves it (`stored`: history)."""
    starts = [r.reported_at for r in stored if r.id != episode_id]
    if status is not EpisodeStatus.CANCELLED:
        starts.append(reported_at)
    return count_episodes(reported_at, starts)


def _sources(connection: Connection, episode_id: str) -> list[dict[str, str]]:
    rows = _SOURCES.rows(connection, {"episode": episode_id})
    return [{"source": r.source, "force": r.force, "reference": r.reference} for r in rows]
