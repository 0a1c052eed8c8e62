"""Group commit: who runs which batch, and that every caller gets its own result back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from gateway.group_commit import GroupCommit


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
    limit: int, waiting: int, recorder: Recorder | None = None
) -> tuple[Recorder, Callers]:
    """Item 0 runs and is held; items 1..waiting queue behind it, in order; then it is let go."""
    recorder = recorder or Recorder()
    recorder.release.clear()
    commits: GroupCommit[int, int] = GroupCommit(recorder, limit=limit)
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
