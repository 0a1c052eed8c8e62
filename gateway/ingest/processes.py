"""Ingest's hand-over: the server passes each message to a lane, which parses and stores it.

The server only reads the request and checks its key, then hands the message as it arrived
(`Received`) to a lane: a group commit (gateway/ingest/group_commit.py) whose leader hands
each batch over, pickled, to an `Ingestor` and reads back one result per message, pickled
(an `Outcome`, or the rejection or error its caller must see). The server answers `202` only
once the result says the batch committed.

`gateway serve` runs each lane's `Ingestor` in a process of its own beside the server, so
ingest's Python work does not compete with the HTTP stack for one interpreter's lock
(docs/decisions/0014). SQLite has one writer at a time, so one process is the default there;
PostgreSQL takes several, which run their transactions side by side. With no processes (the
setting `ingest_processes=0`, and the test suite) one lane runs the `Ingestor` in the
server's process, through the same pickling, so what crosses is the same either way.

If a process dies, the callers of the batch it held are answered 503 `IngestInterrupted`
(the batch may have committed: the sender resends, and a copy that got in is answered with
its receipt), and the lane starts a new process for its next batch. A process whose server
is gone (killed) sees its pipe close and exits after the batch in hand.
"""

from __future__ import annotations

import abc
import itertools
import multiprocessing
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any

from adapters import registry
from gateway.audit import checkpoints
from gateway.delivery.deadlines import Deadlines
from gateway.errors import GatewayError, IngestFailed, IngestInterrupted, StoreBusy
from gateway.ingest.batching import Ingestor, Result
from gateway.ingest.group_commit import GroupCommit
from gateway.ingest.prepare import Received
from gateway.ingest.write import Outcome, log_outcome
from gateway.logs import configure, get_logger
from gateway.routing import RoutingTable
from gateway.settings import Settings
from gateway.store.engine import make_engine

log = get_logger(__name__)
_START_TIMEOUT_S = 120  # a new process imports the gateway and connects to the database
_STOP_TIMEOUT_S = 30  # for the batch in hand to commit before the process is killed
_READY = "ready"


class Lanes:
    """The server's ingest lanes, taken in turn (see the module's docstring)."""

    def __init__(self, lanes: Sequence[Lane]) -> None:
        if not lanes:
            raise ValueError("ingest needs at least one lane")
        self._lanes = list(lanes)
        self._next = itertools.cycle(self._lanes)

    @classmethod
    def in_processes(
        cls, settings: Settings, routing: RoutingTable, deadlines: Deadlines, count: int
    ) -> Lanes:
        """`count` lanes, each with an ingest process over the settings' database."""
        if count < 1:
            raise ValueError("ingest processes need at least one process")
        return cls([_ProcessLane(n, settings, routing, deadlines) for n in range(count)])

    @classmethod
    def in_this_process(cls, settings: Settings, ingestor: Ingestor) -> Lanes:
        """One lane that hands its batches to `ingestor`, in this process."""
        return cls([_LocalLane(settings, ingestor)])

    @property
    def pids(self) -> list[int | None]:
        """Each lane's process id (None: none running, as after a death until its next batch)."""
        return [lane.pid for lane in self._lanes]

    def start(self) -> None:
        """Start every lane and wait until each is ready to store.

        Raises:
            RuntimeError: a process exited or did not get ready (its log says why).
        """
        for lane in self._lanes:
            lane.start()
        for lane in self._lanes:
            lane.wait_ready()

    def close(self) -> None:
        """Let each lane finish its batch in hand and stop (a process is killed if it does not)."""
        for lane in self._lanes:
            lane.close()

    async def submit(self, received: Received) -> Outcome:
        """Parse, map and store `received` in the next lane; returns once it has committed.

        Raises:
            InboundRejected: a subclass for every kind of bad input (nothing is stored).
            StoreBusy: the database kept aborting the transaction (nothing is stored), or
                `IngestInterrupted`: the process died holding the batch (send it again).
            IngestFailed: any other error, by type only (logged where it happened).
        """
        outcome = await next(self._next).commits.submit_async(received)
        log_outcome(outcome)
        return outcome


class Lane(abc.ABC):
    """A group commit that hands each batch over (`_hand_over`), one batch at a time."""

    def __init__(self, settings: Settings) -> None:
        self._lock = threading.Lock()  # one batch handed over at a time
        self._closed = False
        # A batch is parsed whole before any of it is answered: at most one body limit's
        # worth of bytes in it (parsing costs in proportion to bytes, docs/decisions/0022),
        # shared between the senders waiting, so one force's costly messages wait their turn.
        self.commits: GroupCommit[Received, Outcome] = GroupCommit(
            self._run,
            limit=settings.ingest_batch,
            group=_sender,
            cost=_size,
            max_cost=settings.max_body_bytes,
        )

    @property
    def pid(self) -> int | None:
        """The id of the lane's own process, if it has one running."""
        return None

    def start(self) -> None:
        """Open the lane (again, after `close`)."""
        self._closed = False

    def wait_ready(self) -> None:  # noqa: B027 - a lane in this process is ready at once
        """Wait until the lane can store (see `start`)."""

    def close(self) -> None:
        """Refuse further batches, after the batch in hand."""
        with self._lock:
            self._closed = True

    def _run(self, batch: list[Received]) -> list[Result]:
        """The group commit's batch, handed over and its results read back."""
        with self._lock:
            if self._closed:
                raise StoreBusy("the gateway is shutting down; nothing was stored: send it again")
            return self._hand_over(batch)

    @abc.abstractmethod
    def _hand_over(self, batch: list[Received]) -> list[Result]:
        """Store `batch` where the lane stores, and return its results as they crossed back."""


class _LocalLane(Lane):
    """A lane whose `Ingestor` runs in this process: batch and results pickled as by a pipe."""

    def __init__(self, settings: Settings, ingestor: Ingestor) -> None:
        super().__init__(settings)
        self._ingestor = ingestor

    def _hand_over(self, batch: list[Received]) -> list[Result]:
        crossed = ForkingPickler.loads(bytes(ForkingPickler.dumps(batch)))
        answers = answer(self._ingestor, crossed)
        results: list[Result] = ForkingPickler.loads(bytes(ForkingPickler.dumps(answers)))
        return results


class _ProcessLane(Lane):
    """A lane with an ingest process of its own, fed down a pipe."""

    def __init__(
        self, number: int, settings: Settings, routing: RoutingTable, deadlines: Deadlines
    ) -> None:
        super().__init__(settings)
        self.number = number
        self._args = (settings, routing, deadlines)
        self._process: BaseProcess | None = None
        self._pipe: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The process's id, if one is running or has not been reaped."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Open the lane (again, after `close`) and start its process (see `wait_ready`)."""
        super().start()
        self.spawn()

    def spawn(self) -> None:
        """Start the process (not waiting for it: see `wait_ready`)."""
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        ours, theirs = context.Pipe()
        process = context.Process(
            target=main,
            args=(theirs, *self._args),
            name=f"gateway-ingest-{self.number}",
            daemon=True,  # never outlives an orderly exit of the server
        )
        process.start()
        theirs.close()  # the child's end: once it exits, our reads see EOF
        self._process, self._pipe = process, ours

    def wait_ready(self) -> None:
        """Wait for the process to say it is ready (it has built its engine and ingestor)."""
        assert self._pipe is not None and self._process is not None  # spawned
        try:
            if not self._pipe.poll(_START_TIMEOUT_S):
                raise RuntimeError(f"ingest process {self.number} was not ready in time")
            message = self._pipe.recv()
        except (EOFError, OSError) as error:
            self._discard()
            raise RuntimeError(
                f"ingest process {self.number} exited while starting (see its log)"
            ) from error
        if message != _READY:
            self._discard()
            raise RuntimeError(f"ingest process {self.number} could not start: {message}")
        log.info("ingest_process_started", lane=self.number, pid=self._process.pid)

    def close(self) -> None:
        """Close the pipe after the batch in hand, and wait for the process to exit."""
        acquired = self._lock.acquire(timeout=_STOP_TIMEOUT_S)
        self._closed = True
        try:
            self._discard(grace=_STOP_TIMEOUT_S if acquired else 0)
        finally:
            if acquired:
                self._lock.release()

    def _hand_over(self, batch: list[Received]) -> list[Result]:
        """Send the batch down the pipe and read its results (holding the lane's lock)."""
        if self._process is None or not self._process.is_alive():  # died between batches
            self._replace()
        assert self._pipe is not None
        try:
            self._pipe.send(batch)
            results: list[Result] = self._pipe.recv()
        except (EOFError, OSError) as error:
            exit_code = self._process.exitcode if self._process is not None else None
            log.error("ingest_process_died", lane=self.number, exit_code=exit_code)
            self._discard()
            raise IngestInterrupted(
                "the gateway's ingest process stopped while storing this message, which "
                "may or may not have been stored: send it again (a copy already stored "
                "is answered with its receipt)"
            ) from error
        return results

    def _replace(self) -> None:
        """A new process for the next batch (the old one died; or none has started yet)."""
        self._discard()
        try:
            self.spawn()
            self.wait_ready()
        except RuntimeError as error:
            raise StoreBusy(
                "the gateway's ingest process could not be started; nothing was stored: "
                "send it again"
            ) from error

    def _discard(self, grace: float = 0) -> None:
        """Close the pipe; wait `grace` seconds for the process to exit, then kill it."""
        pipe, process = self._pipe, self._process
        self._pipe = self._process = None
        if pipe is not None:
            pipe.close()
        if process is not None:
            process.join(grace)
            if process.is_alive():
                process.kill()
                process.join()


def _sender(received: Received) -> str:
    """Whose message it is, for sharing batches fairly: the force (or the key, for operators)."""
    return received.principal.force or received.principal.key_id


def _size(received: Received) -> int:
    return len(received.body)


def answer(ingestor: Ingestor, batch: Sequence[Received]) -> list[Result]:
    """Store a handed-over batch; each result as it can cross back (see `_portable`)."""
    return [_portable(result) for result in ingestor.prepare_and_store(batch)]


def main(pipe: Connection, settings: Settings, routing: RoutingTable, deadlines: Deadlines) -> None:
    """An ingest process: store each batch the server sends until the server closes the pipe."""
    # Ctrl-C in a terminal reaches the whole process group: the server shuts down in order
    # and closes the pipe, which is this process's signal to stop (after its batch).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure(settings.log_level)
    try:
        ingestor = _ingestor(settings, routing, deadlines)
    except Exception as error:  # reported to the server, which then fails to start
        log.exception("ingest_process_failed_to_start")
        pipe.send(f"{type(error).__name__}: {error}")
        return
    try:
        pipe.send(_READY)
        while True:
            try:
                batch = pipe.recv()
            except EOFError:  # the server closed the pipe, or is gone
                return
            pipe.send(answer(ingestor, batch))
    except (BrokenPipeError, ConnectionResetError):  # the server went away mid-batch
        return
    finally:
        ingestor.engine.dispose()


def _ingestor(settings: Settings, routing: RoutingTable, deadlines: Deadlines) -> Ingestor:
    registry.compile_inbound_schemas()  # before the first batch
    engine = make_engine(settings.resolved_database_url)
    checkpoints.attach(engine, checkpoints.from_settings(settings))
    with engine.connect():  # a database it cannot reach fails the server's start, not a batch
        pass
    return Ingestor(engine, routing, deadlines=deadlines)


def _portable(result: Any) -> Any:
    """A result as it can cross back: the gateway's own errors whole, others by type.

    Other exceptions (a driver's, a bug's) may not survive pickling and may quote data in
    their text; the caller's answer is a 500 either way, and the full error is logged here.
    """
    if not isinstance(result, Exception) or isinstance(result, GatewayError):
        return result
    log.error("ingest_failed", error_type=type(result).__name__, exc_info=result)
    return IngestFailed(f"{type(result).__name__} in the ingest process")
