"""Group commit: work that concurrent callers submit, run in batches by one of them at a time.

Much of what one ingest costs is paid per transaction, not per message: BEGIN, the commit's
fsync, reading and locking the audit chain's head. Under load, request threads also queue for
SQLite's one connection while each is slowed by the others' share of the GIL. Here the first
caller to arrive while nobody is leading becomes the leader: it takes what is queued (its own
item and those that arrived meanwhile, up to `limit`), runs it as one batch, hands every caller
its result, and leads on until its own item has run. Then it steps down and a waiting caller
takes over. A lone caller runs at once, in a batch of one, so a quiet gateway never waits for
a batch to fill.

A batch may also be bounded by cost (the ingest lanes' bodies, in bytes) and shared fairly
between groups of callers (the lanes' forces): one item of each group in turn, oldest group
first, so a flood from one group does not fill every batch, and an expensive item does not
share its batch with more than the cost allows (docs/decisions/0022).

Callers on an event loop (`submit_async`, the HTTP routes) must not block it, so they cannot
lead and do not hold a thread while they wait: when one of them finds nobody leading, or is
next in line when a leader steps down, a single thread of the group commit's own leads for as
long as anything is queued. Their results reach the loop once per batch, not once per caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True, eq=False)
class _Slot(Generic[T, R]):
    """One caller's item and, once its batch has run, its result or error.

    A thread's slot has `wake`, set when the item is done or when its caller is handed the
    lead; an event loop's slot has `future` instead, resolved on that loop.
    """

    item: T
    future: asyncio.Future[Any] | None = None
    wake: threading.Event | None = None
    done: bool = False
    lead: bool = False
    result: R | None = None
    error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Runs submitted items in batches; each caller waits until its item's batch has run.

    `run` takes a batch and returns one result per item, in order: a value, or the exception
    that item's caller should see. If `run` itself raises, every caller in that batch sees it.
    Each waiting caller is woken once: when its item is done or when it is to lead, not by
    every batch (each needless wake-up is a thread switch competing for the GIL with the store).
    """

    def __init__(
        self,
        run: Callable[[list[T]], Sequence[R | Exception]],
        *,
        limit: int,
        group: Callable[[T], Hashable] | None = None,
        cost: Callable[[T], int] | None = None,
        max_cost: int | None = None,
    ) -> None:
        """Batches of at most `limit` items.

        `group`: items are taken one per group in turn (None: in arrival order). `cost` and
        `max_cost`: a batch stops before an item that would take its cost over `max_cost`
        (its first item is always taken, whatever it costs).
        """
        self._run = run
        self._limit = limit
        self._group = group
        self._cost = cost
        self._max_cost = max_cost
        self._lock = threading.Lock()
        self._queue: deque[_Slot[T, R]] = deque()
        self._leading = False
        self._leader: ThreadPoolExecutor | None = None  # leads for event-loop callers

    def submit(self, item: T) -> R:
        """Queue `item`, wait for (or lead) its batch, and return its result or raise its error."""
        wake = threading.Event()
        slot: _Slot[T, R] = _Slot(item, wake=wake)
        with self._lock:
            self._queue.append(slot)
            slot.lead = not self._leading
            self._leading = True
        if not slot.lead:
            wake.wait()
        if not slot.done:  # handed the lead before its item ran
            self._lead(slot)
        return _outcome(slot)

    async def submit_async(self, item: T) -> R:
        """`submit` for a caller on an event loop: waits without blocking the loop or a thread.

        If the caller is cancelled meanwhile, its item is still run (it may already be), and
        its result is dropped.
        """
        future = asyncio.get_running_loop().create_future()
        slot: _Slot[T, R] = _Slot(item, future=future)
        with self._lock:
            self._queue.append(slot)
            if not self._leading:
                self._leading = True
                self._lead_in_background()
        await future
        return _outcome(slot)

    def _lead_in_background(self) -> None:
        """Lead from the group commit's own thread (called holding the lock)."""
        if self._leader is None:
            self._leader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="group-commit")
        try:
            self._leader.submit(self._lead, None)
        except RuntimeError as error:  # the interpreter is exiting: nobody will lead again
            waiting = list(self._queue)
            self._queue.clear()
            self._leading = False
            self._deliver(waiting, [error] * len(waiting))

    def _lead(self, own: _Slot[T, R] | None) -> None:
        """Run batches until `own` has run (None: until the queue is empty), then hand on."""
        handed_on = False
        try:
            while True:
                with self._lock:
                    if own.done if own is not None else not self._queue:
                        handed_on = True
                        self._hand_on()
                        return
                    batch = self._take()
                self._settle(batch)
        finally:
            if not handed_on:  # whatever went wrong here, the queue must not be left leaderless
                with self._lock:
                    self._hand_on()

    def _take(self) -> list[_Slot[T, R]]:
        """The next batch, removed from the queue (called holding the lock)."""
        if self._group is None and self._cost is None:
            take = min(self._limit, len(self._queue))
            return [self._queue.popleft() for _ in range(take)]
        lines: dict[Hashable, deque[_Slot[T, R]]] = {}  # per group, oldest group first
        for slot in self._queue:
            lines.setdefault(self._group(slot.item) if self._group else None, deque()).append(slot)
        batch: list[_Slot[T, R]] = []
        spent = 0
        while lines and len(batch) < self._limit:
            for key in list(lines):
                slot = lines[key][0]
                price = self._cost(slot.item) if self._cost else 0
                if batch and self._max_cost is not None and spent + price > self._max_cost:
                    lines.clear()  # full: what is left waits for the next batch
                    break
                batch.append(slot)
                spent += price
                lines[key].popleft()
                if not lines[key]:
                    del lines[key]
                if len(batch) == self._limit:
                    break
        taken = {id(slot) for slot in batch}
        self._queue = deque(slot for slot in self._queue if id(slot) not in taken)
        return batch

    def _hand_on(self) -> None:
        """Pass the lead to the longest-waiting caller, if any waits (called holding the lock)."""
        if not self._queue:
            self._leading = False
        elif (wake := self._queue[0].wake) is not None:
            self._queue[0].lead = True
            wake.set()
        else:
            self._lead_in_background()

    def _settle(self, batch: list[_Slot[T, R]]) -> None:
        outcomes: Sequence[R | BaseException]
        try:
            outcomes = self._run([slot.item for slot in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} results for a batch of {len(batch)}")
        except BaseException as error:  # noqa: BLE001 - every caller must be released
            outcomes = [error] * len(batch)
        self._deliver(batch, outcomes)

    def _deliver(self, batch: list[_Slot[T, R]], outcomes: Sequence[R | BaseException]) -> None:
        """Give each caller its outcome and wake it (a loop once for all its callers)."""
        on_loops: dict[asyncio.AbstractEventLoop, list[_Slot[T, R]]] = {}
        for slot, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.result = outcome
            slot.done = True
            if slot.wake is not None:
                slot.wake.set()
            elif slot.future is not None:
                on_loops.setdefault(slot.future.get_loop(), []).append(slot)
        for loop, slots in on_loops.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is left to tell
                loop.call_soon_threadsafe(_release, slots)


def _release(slots: list[_Slot[Any, Any]]) -> None:
    """On the callers' loop: wake each caller still waiting."""
    for slot in slots:
        if slot.future is not None and not slot.future.done():
            slot.future.set_result(None)


def _outcome(slot: _Slot[T, R]) -> R:
    if slot.error is not None:
        raise slot.error
    return cast(R, slot.result)  # done without an error: it has its result
