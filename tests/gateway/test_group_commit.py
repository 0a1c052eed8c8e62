"""Group commit: who runs which batch, and that every caller gets its own result back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from gateway.ingest.group_commit import GroupCommit


class Recorder:
    """A batch runner that records its batches and can hold the first one until released."""

    def __init__(self, result: Callable[[int], int | Exception] = lambda n: n * 10) -> None:
        self.batches: list[list[int]] = []
        self.running = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.result = result

    def __call__(self, batch: list[int]) -> Sequence[int | Exception]:
        self.batches.append(batch)
        self.running.set()
        assert self.release.wait(10), "the test never released the batch"
        return [self.result(n) for n in batch]


class Callers:
    """Threads that each submit one item, keeping what they got back."""

    def __init__(self, commits: GroupCommit[int, int]) -> None:
        self.commits = commits
        self.results: dict[int, int | BaseException] = {}
        self.threads: list[threading.Thread] = []

    def submit(self, item: int) -> None:
        def call() -> None:
            try:
                self.results[item] = self.commits.submit(item)
            except Exception as error:  # noqa: BLE001 - kept for the test to look at
                self.results[item] = error

        thread = threading.Thread(target=call)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(10)
            assert not thread.is_alive(), "a caller was never released"


def _queued(commits: GroupCommit[int, int], count: int) -> None:
    """Wait until `count` items are queued behind the running batch."""
    deadline = time.monotonic() + 10
    while len(commits._queue) < count:  # the one way to see a caller arrive
        assert time.monotonic() < deadline, "callers did not queue"
        time.sleep(0.001)


def _held_first(
    limit: int, waiting: int, recorder: Recorder | None = None, **options: Any
) -> tuple[Recorder, Callers]:
    """Item 0 runs and is held; items 1..waiting queue behind it, in order; then it is let go."""
    recorder = recorder or Recorder()
    recorder.release.clear()
    commits: GroupCommit[int, int] = GroupCommit(recorder, limit=limit, **options)
    callers = Callers(commits)
    callers.submit(0)
    assert recorder.running.wait(10)
    for item in range(1, waiting + 1):
        callers.submit(item)
        _queued(commits, item)
    recorder.release.set()
    callers.join()
    return recorder, callers


def test_a_lone_caller_runs_at_once_in_a_batch_of_one() -> None:
    """Nobody else waiting: the caller leads its own batch and nothing waits for company."""
    recorder = Recorder()
    commits: GroupCommit[int, int] = GroupCommit(recorder, limit=8)
    assert commits.submit(3) == 30
    assert commits.submit(4) == 40
    assert recorder.batches == [[3], [4]]


def test_callers_arriving_while_a_batch_runs_go_together_in_the_next() -> None:
    """What queues during a batch is the next batch, in arrival order."""
    recorder, callers = _held_first(limit=8, waiting=4)
    assert recorder.batches == [[0], [1, 2, 3, 4]]
    assert callers.results == {n: n * 10 for n in range(5)}


def test_no_batch_is_bigger_than_the_limit() -> None:
    """A long queue is taken `limit` items at a time."""
    recorder, callers = _held_first(limit=2, waiting=5)
    assert recorder.batches == [[0], [1, 2], [3, 4], [5]]
    assert callers.results == {n: n * 10 for n in range(6)}


def test_batches_take_one_item_of_each_group_in_turn() -> None:
    """A flood from one group shares each batch with the others waiting, oldest group first."""
    recorder, callers = _held_first(limit=3, waiting=6, group=lambda n: n >= 5)
    assert recorder.batches == [[0], [1, 5, 2], [3, 6, 4]]
    assert callers.results == {n: n * 10 for n in range(7)}


def test_a_batch_stops_before_an_item_that_would_cost_too_much() -> None:
    """Items cost their value here: no batch costs over 5, but an item alone always runs."""
    recorder, callers = _held_first(limit=8, waiting=4, cost=lambda n: n, max_cost=5)
    assert recorder.batches == [[0], [1, 2], [3], [4]]
    recorder, callers = _held_first(limit=8, waiting=2, cost=lambda n: 9, max_cost=5)
    assert recorder.batches == [[0], [1], [2]]
    assert callers.results == {n: n * 10 for n in range(3)}


def test_an_items_error_reaches_its_caller_only() -> None:
    """A per-item error is raised in that item's caller; the others get their results."""

    def odd_fails(n: int) -> int | Exception:
        return ValueError(f"item {n}") if n % 2 else n * 10

    _, callers = _held_first(limit=8, waiting=3, recorder=Recorder(odd_fails))
    assert callers.results[0] == 0 and callers.results[2] == 20
    for n in (1, 3):
        error = callers.results[n]
        assert isinstance(error, ValueError) and str(error) == f"item {n}"


def test_a_batch_that_raises_releases_all_its_callers_and_the_next_batch_runs() -> None:
    """A runner that raises fails its batch's callers, and the next caller can still lead."""
    calls: list[list[int]] = []

    def run(batch: list[int]) -> list[int | Exception]:
        calls.append(batch)
        if 13 in batch:
            raise RuntimeError("the store is gone")
        return list(batch)

    commits: GroupCommit[int, int] = GroupCommit(run, limit=8)
    with pytest.raises(RuntimeError, match="the store is gone"):
        commits.submit(13)
    assert commits.submit(14) == 14  # leadership was handed back
    assert calls == [[13], [14]]


def test_a_runner_that_loses_a_result_fails_the_batch_instead_of_misdelivering() -> None:
    """Results are matched to callers by position, so a short list is an error, not a shift."""
    commits: GroupCommit[int, int] = GroupCommit(lambda batch: [], limit=8)
    with pytest.raises(RuntimeError, match="0 results for a batch of 1"):
        commits.submit(1)


def test_many_callers_at_once_each_get_their_own_result() -> None:
    """200 threads at once: every item runs exactly once and its caller gets its result."""
    recorder = Recorder()
    commits: GroupCommit[int, int] = GroupCommit(recorder, limit=4)
    callers = Callers(commits)
    for item in range(200):
        callers.submit(item)
    callers.join()
    assert callers.results == {n: n * 10 for n in range(200)}
    assert sorted(n for batch in recorder.batches for n in batch) == list(range(200))
    assert max(len(batch) for batch in recorder.batches) <= 4


def _on_a_loop(commits: GroupCommit[int, int], items: range) -> list[asyncio.Task[int]]:
    """Tasks, on the running loop, that each submit one item from the loop."""
    return [asyncio.create_task(commits.submit_async(item)) for item in items]


async def _first_held(
    commits: GroupCommit[int, int], recorder: Recorder, items: range
) -> list[asyncio.Task[int]]:
    """The first item submitted from the loop and running (held), then the rest queued."""
    first = _on_a_loop(commits, items[:1])
    deadline = time.monotonic() + 10
    while not recorder.running.is_set():
        assert time.monotonic() < deadline, "the first item never ran"
        await asyncio.sleep(0.001)
    return first + _on_a_loop(commits, items[1:])


async def _queued_async(commits: GroupCommit[int, int], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(commits._queue) < count:
        assert time.monotonic() < deadline, "callers did not queue"
        await asyncio.sleep(0.001)


def test_a_lone_loop_caller_is_led_by_a_thread_and_the_loop_runs_on_meanwhile() -> None:
    """A loop cannot lead: the group commit's own thread runs the batch while the loop works."""
    recorder = Recorder()
    recorder.release.clear()
    runners: list[str] = []

    def run(batch: list[int]) -> Sequence[int | Exception]:
        runners.append(threading.current_thread().name)
        return recorder(batch)

    commits: GroupCommit[int, int] = GroupCommit(run, limit=8)

    async def scenario() -> tuple[int, int]:
        task = asyncio.create_task(commits.submit_async(3))
        ticks, deadline = 0, time.monotonic() + 10
        while not recorder.running.is_set() or ticks < 5:  # the loop is not blocked
            assert time.monotonic() < deadline, "the batch never ran"
            await asyncio.sleep(0.001)
            ticks += 1
        assert not task.done()
        recorder.release.set()
        return await task, await commits.submit_async(4)

    assert asyncio.run(scenario()) == (30, 40)
    assert recorder.batches == [[3], [4]]
    assert all(name.startswith("group-commit") for name in runners), runners


def test_loop_callers_behind_a_thread_leader_run_together_and_wake_their_loop_once() -> None:
    """Loop callers queued behind a thread's batch run as the next batch, woken once.

    The thread leads item 0 and goes with its result; the group commit's own thread then runs
    the loop callers' batch and wakes their loop once for all of them.
    """
    recorder = Recorder()
    recorder.release.clear()
    commits: GroupCommit[int, int] = GroupCommit(recorder, limit=8)
    callers = Callers(commits)
    callers.submit(0)
    assert recorder.running.wait(10)

    async def scenario() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        wakes = 0
        threadsafe = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal wakes
            wakes += 1
            return threadsafe(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign, assignment]
        tasks = _on_a_loop(commits, range(1, 5))
        await _queued_async(commits, 4)
        recorder.release.set()
        return list(await asyncio.gather(*tasks)), wakes

    results, wakes = asyncio.run(scenario())
    callers.join()
    assert callers.results == {0: 0}
    assert results == [10, 20, 30, 40]
    assert recorder.batches == [[0], [1, 2, 3, 4]]
    assert wakes == 1


def test_a_thread_queued_behind_loop_callers_gets_its_result() -> None:
    """A thread queued behind loop callers is run by the group commit's thread, not lost."""
    recorder = Recorder()
    recorder.release.clear()
    commits: GroupCommit[int, int] = GroupCommit(recorder, limit=2)
    callers = Callers(commits)

    async def scenario() -> list[int]:
        tasks = await _first_held(commits, recorder, range(3))
        callers.submit(9)
        await _queued_async(commits, 3)
        recorder.release.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(scenario()) == [0, 10, 20]
    callers.join()
    assert callers.results == {9: 90}
    assert sorted(n for batch in recorder.batches for n in batch) == [0, 1, 2, 9]


def test_loop_callers_get_their_own_errors() -> None:
    """A per-item error is raised in that loop caller; a runner that raises fails its batch."""

    def run(batch: list[int]) -> list[int | Exception]:
        if 13 in batch:
            raise RuntimeError("the store is gone")
        return [ValueError(f"item {n}") if n % 2 else n for n in batch]

    commits: GroupCommit[int, int] = GroupCommit(run, limit=8)

    async def scenario() -> None:
        assert await commits.submit_async(2) == 2
        with pytest.raises(ValueError, match="item 3"):
            await commits.submit_async(3)
        with pytest.raises(RuntimeError, match="the store is gone"):
            await commits.submit_async(13)
        assert await commits.submit_async(4) == 4  # the lead was handed back

    asyncio.run(scenario())


def test_a_cancelled_loop_caller_still_has_its_item_run_and_the_others_their_results() -> None:
    """A caller that goes away (a dropped connection) leaves its item queued to run.

    Only its result is dropped, and nobody else's is disturbed.
    """
    recorder = Recorder()
    recorder.release.clear()
    commits: GroupCommit[int, int] = GroupCommit(recorder, limit=8)

    async def scenario() -> list[int]:
        tasks = await _first_held(commits, recorder, range(4))
        await _queued_async(commits, 3)
        tasks[2].cancel()
        recorder.release.set()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(done[2], asyncio.CancelledError)
        return [r for r in done if isinstance(r, int)]

    assert asyncio.run(scenario()) == [0, 10, 30]
    assert recorder.batches == [[0], [1, 2, 3]]


def test_threads_and_loop_callers_at_once_each_get_their_own_result() -> None:
    """100 threads and 100 loop callers at once: every item runs exactly once."""
    recorder = Recorder()
    commits: GroupCommit[int, int] = GroupCommit(recorder, limit=4)
    callers = Callers(commits)

    async def scenario() -> list[int]:
        tasks = _on_a_loop(commits, range(100, 200))
        for item in range(100):
            callers.submit(item)
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(scenario()) == [n * 10 for n in range(100, 200)]
    callers.join()
    assert callers.results == {n: n * 10 for n in range(100)}
    assert sorted(n for batch in recorder.batches for n in batch) == list(range(200))
    assert max(len(batch) for batch in recorder.batches) <= 4


def test_loop_callers_fail_instead_of_hanging_once_no_thread_can_lead() -> None:
    """At interpreter exit no new thread may start: a loop caller then gets an error."""
    commits: GroupCommit[int, int] = GroupCommit(Recorder(), limit=8)

    async def scenario() -> None:
        assert await commits.submit_async(1) == 10
        assert commits._leader is not None
        commits._leader.shutdown()  # what interpreter exit does to it
        with pytest.raises(RuntimeError, match="cannot schedule new futures"):
            await commits.submit_async(2)
        assert not commits._queue

    asyncio.run(scenario())
