"""Group commit: work that concurrent callers submit, run in batches by one of them at a time.

Much of what one ingest costs is paid per transaction, not per message: BEGIN, the commit's
fsync, reading and locking the audit chain's head. Under load, request threads also queue for
SQLite's one connection while each is slowed by the others' share of the GIL. Here the first
caller to arrive while nobody is leading becomes the leader: it takes what is queued (its own
item and those that arrived meanwhile, up to `limit`), runs it as one batch, hands every caller
its result, and leads on until its own item has run. Then it steps down and a waiting caller
takes over. There is no thread of its own to start or stop, and a lone caller runs at once, in
a batch of one, so a quiet gateway answers as fast as before.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True, eq=False)
class _Slot(Generic[T, R]):
    """One caller's item and, once its batch has run, its result or error.

    `wake` is set when the item is done, or when its caller is handed the lead.
    """

    item: T
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    lead: bool = False
    result: R | None = None
    error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Runs submitted items in batches; `submit` blocks until its item's batch has run.

    `run` takes a batch and returns one result per item, in order: a value, or the exception
    that item's caller should see. If `run` itself raises, every caller in that batch sees it.
    Each waiting caller is woken once, by its own event: when its item is done or when it is
    to lead, not by every batch (each needless wake-up is a thread switch competing for the
    GIL with the store).
    """

    def __init__(self, run: Callable[[list[T]], Sequence[R | Exception]], *, limit: int) -> None:
        self._run = run
        self._limit = limit
        self._lock = threading.Lock()
        self._queue: deque[_Slot[T, R]] = deque()
        self._leading = False

    def submit(self, item: T) -> R:
        """Queue `item`, wait for (or lead) its batch, and return its result or raise its error."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            slot.lead = not self._leading
            self._leading = True
        if not slot.lead:
            slot.wake.wait()
        if not slot.done:  # handed the lead before its item ran
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return cast(R, slot.result)  # done without an error: it has its result

    def _lead(self, own: _Slot[T, R]) -> None:
        try:
            while not own.done:
                with self._lock:
                    take = min(self._limit, len(self._queue))
                    batch = [self._queue.popleft() for _ in range(take)]
                self._settle(batch)
        finally:
            self._step_down()

    def _step_down(self) -> None:
        with self._lock:  # the longest-waiting caller leads next, if any waits
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.wake.set()
            else:
                self._leading = False

    def _settle(self, batch: list[_Slot[T, R]]) -> None:
        outcomes: Sequence[R | BaseException]
        try:
            outcomes = self._run([slot.item for slot in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} results for a batch of {len(batch)}")
        except BaseException as error:  # noqa: BLE001 - every caller must be released
            outcomes = [error] * len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.result = outcome
            slot.done = True
            slot.wake.set()
