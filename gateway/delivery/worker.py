"""The delivery worker: claims due deliveries, sends them through their adapter, records outcomes.

One dispatcher thread claims work (respecting each council's `max_in_flight` and its circuit
breaker, both across every worker: gateway/delivery/slots.py) and hands it to a thread pool;
each job renders and sends one attempt, all of it within the council's `timeout_s`, and leaves
its outcome for the dispatcher. Each round of the dispatcher claims and records every attempt that
ended meanwhile in one unit of work (`outbox.record_and_claim`, docs/decisions/0035). A job
frees its council's slot when the target has answered; its delivery stays `in_flight` until
recorded, so what follows it in its episode still waits. The dispatcher sleeps until it is
woken (a commit queued work, a job finished) or `poll` passes, and starts the acknowledgement
polls of councils that acknowledge asynchronously (Protocol, gateway/delivery/ack_polling.py).
`run_once` does one round synchronously, for tests and for `gateway worker --once`.
"""

from __future__ import annotations

import os
import queue
import random
import socket
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.exc import DBAPIError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from adapters import registry
from adapters.base import OutboundAdapter, Payload, SendResult, TargetConfig
from adapters.deadline import client, within
from gateway import metrics
from gateway.canonical import utc_now
from gateway.delivery import outbox, request
from gateway.delivery.ack_polling import AckPoller
from gateway.delivery.breaker import Outcome
from gateway.delivery.retry import RetryPolicy
from gateway.delivery.slots import CouncilBreakers
from gateway.errors import DeliveryError, PermanentDelivery, RetryableDelivery
from gateway.logs import get_logger
from gateway.policy import packs
from gateway.routing import RoutingTable

if TYPE_CHECKING:  # the timer imports ingest, which imports this package
    from gateway.policy.timer import PolicyTimer

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How hard and how often a worker works."""

    concurrency: int = 8
    poll: timedelta = timedelta(seconds=0.5)
    ack_poll: timedelta = timedelta(seconds=5)
    policy: RetryPolicy = field(default_factory=RetryPolicy)


def _connect_failed(exc: BaseException) -> bool:
    # Only a refused or reset connection is retried in-process: nothing reached the target.
    cause = exc.__cause__
    return isinstance(exc, RetryableDelivery) and isinstance(cause, httpx.ConnectError)


class Worker:
    """Delivers what the outbox holds, in one process (several processes share the outbox)."""

    def __init__(
        self,
        engine: Any,
        routing: RoutingTable,
        config: WorkerConfig | None = None,
        *,
        breakers: CouncilBreakers | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], datetime] = utc_now,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.routing = routing
        self.config = config or WorkerConfig()
        self.breakers = breakers or CouncilBreakers()
        self.http = http or client()
        self.clock = clock
        self.rand = rand
        self.actor = f"worker:{socket.gethostname()}:{os.getpid()}"
        self.acks = AckPoller(
            engine,
            routing,
            self.http,
            every=self.config.ack_poll,
            clock=clock,
            actor=self.actor,
            threads=max(2, self.config.concurrency // 2),
        )
        self._claimed_at: dict[str, datetime] = {}
        self._active: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._attempted: queue.SimpleQueue[outbox.Attempted] = queue.SimpleQueue()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._short_retry = Retrying(
            retry=retry_if_exception(_connect_failed),
            stop=stop_after_attempt(3),
            wait=wait_random(0.05, 0.3),
            reraise=True,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run the dispatcher in a background thread until `stop`."""
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="delivery")
        self._thread = threading.Thread(target=self._loop, name="delivery-dispatcher", daemon=True)
        self._thread.start()
        self.acks.start()
        log.info("worker_started", concurrency=self.config.concurrency)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, let attempts in flight finish (their leases cover a hard stop)."""
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # claimed jobs still run: each is bounded by timeouts
        left = self._ended()
        try:
            self.record(left)  # what ended since the last round, rather than wait for leases
        except DBAPIError as exc:
            log.warning("attempts_not_recorded", count=len(left), error=str(exc)[:200])
        self.acks.stop()
        log.info("worker_stopped")

    def wake(self) -> None:
        """Claim now rather than at the next poll (called after a commit that queued work)."""
        self._wakeup.set()

    # Called every round with the time; decides itself whether it is due and must not block
    # (the retention purge, gateway/retention.py Scheduler, set by build_worker).
    housekeeping: Callable[[datetime], object] | None = None
    # Raises time-based council policy flags (gateway/policy/timer.py), set by build_worker.
    policy_timer: PolicyTimer | None = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = self._dispatch()
                self.acks.maybe_poll()
                if self.policy_timer is not None:
                    self.policy_timer.maybe_run()
                if self.housekeeping is not None:
                    self.housekeeping(self.clock())
            except DBAPIError as exc:  # a busy or restarting database: try again shortly
                log.warning("worker_database_error", error=type(exc).__name__)
                claimed = 0
            except Exception:  # the dispatcher must outlive any one bad round
                log.exception("worker_round_failed")
                claimed = 0
            if claimed == 0:
                self._wakeup.wait(self.config.poll.total_seconds())
                self._wakeup.clear()

    def _dispatch(self) -> int:
        assert self._pool is not None
        done = self._ended()
        try:
            claims = self._claim(self.config.concurrency - sum(self._active.values()), done)
        except DBAPIError as exc:  # the leases run out and the deliveries are retried, same key
            log.warning("attempts_not_recorded", count=len(done), error=str(exc)[:200])
            raise
        for claimed in claims:
            self._pool.submit(self._job, claimed)
        return len(done) + len(claims)

    def _ended(self) -> list[outbox.Attempted]:
        """The attempts that ended since the last round, taken off the queue."""
        done: list[outbox.Attempted] = []
        while True:
            try:
                done.append(self._attempted.get_nowait())
            except queue.Empty:
                return done

    def _job(self, claimed: outbox.Claim) -> None:
        try:
            self._attempted.put(self.attempt(claimed))
        except Exception:  # never lose the slot: the lease brings the delivery back
            log.exception("attempt_failed", delivery_id=claimed.delivery_id)
        finally:
            # The target has answered: its slot is free. The delivery stays `in_flight` until
            # the next round records it, so what follows it in its episode still waits.
            self._release([claimed])
            self._wakeup.set()

    def _release(self, claims: list[outbox.Claim]) -> None:
        with self._lock:
            for claimed in claims:
                self._active[claimed.council] -= 1

    # --- one round ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim what is due now, deliver it here one by one, record it; how many attempts."""
        if self.policy_timer is not None:
            self.policy_timer.run()
        claims = self._claim(self.config.concurrency)
        try:
            self.record([self.attempt(claimed) for claimed in claims])
        finally:
            self._release(claims)
        self.acks.poll_all()
        return len(claims)

    def _claim(self, free: int, done: list[outbox.Attempted] | None = None) -> list[outbox.Claim]:
        """Record `done` and claim up to `free` deliveries, in one unit of work."""
        if free <= 0 and not done:
            return []
        now = self.clock()
        done = done or []
        limits = {code: route.max_in_flight for code, route in self.routing.councils.items()}
        # Attempts ended but recorded only after this claim: their rows are still `in_flight`,
        # their slots are free (the target has answered).
        answered = Counter(item.claim.council for item in done)
        # Counted by the claim, which a round with no free slot skips: keep them for the next.
        outcomes = self.breakers.take_pending() if free > 0 else []
        try:
            finished, claims = outbox.record_and_claim(
                self.engine,
                done,
                capacity=lambda c: self.breakers.free_slots(c, limits, outcomes, now, answered),
                limit=free,
                now=now,
                lease=self._lease,
                policy=self.config.policy,
                actor=self.actor,
                rand=self.rand,
            )
        except BaseException:
            self.breakers.give_back(outcomes)
            raise
        with self._lock:
            for claimed in claims:
                self._active[claimed.council] += 1
                self._claimed_at[claimed.delivery_id] = now
        self._report(done, finished)
        return claims

    def _lease(self, council: str) -> timedelta:
        timeout = self.routing.councils[council].timeout_s
        # A token fetch and the send, each up to the timeout, the short in-process retries
        # (connection refused: quick), and room to record the outcome.
        return timedelta(seconds=timeout * 3 + 5)

    # --- one attempt -------------------------------------------------------------------------

    def process(self, claimed: outbox.Claim) -> outbox.Finished:
        """Render, send and record one claimed attempt."""
        return self.record([self.attempt(claimed)])[0]

    def attempt(self, claimed: outbox.Claim) -> outbox.Attempted:
        """Render and send one claimed attempt; its outcome, not yet recorded."""
        payload: Payload | None = None
        outcome: SendResult | DeliveryError
        try:
            adapter, target = self._target(claimed)
            built = request.build(claimed, interview_due=self._interview_due)
            payload = adapter.render(built)
            with within(target.timeout_s):  # the token, the send and any retry: all of it
                outcome = self._short_retry(adapter.send, built, payload, target, self.http)
        except DeliveryError as exc:
            outcome = exc
        except Exception as exc:  # a gateway bug dead-letters visibly, not silently
            log.exception("delivery_render_failed", delivery_id=claimed.delivery_id)
            outcome = PermanentDelivery(
                f"the gateway could not render or send it ({type(exc).__name__}); see its logs"
            )
        self._tell_breaker(claimed, outcome)
        return outbox.Attempted(claimed, outcome, payload, self.clock())

    def record(self, done: list[outbox.Attempted]) -> list[outbox.Finished]:
        """Record ended attempts in one unit of work; how each delivery stands now."""
        results = outbox.finish_many(
            self.engine, done, policy=self.config.policy, actor=self.actor, rand=self.rand
        )
        self._report(done, results)
        return results

    def _report(self, done: list[outbox.Attempted], results: list[outbox.Finished]) -> None:
        now = self.clock()
        for item, finished in zip(done, results, strict=True):
            claimed, outcome = item.claim, item.outcome
            latency = (now - claimed.created_at).total_seconds()
            metrics.delivery_finished(claimed.system, claimed.council, finished.status, latency)
            log.info(
                "delivery_attempted",
                delivery_id=claimed.delivery_id,
                council=claimed.council,
                system=claimed.system,
                attempt=claimed.attempt,
                status=finished.status,
                http_status=outcome.http_status,
                error=None if isinstance(outcome, SendResult) else outcome.reason,
            )

    def _target(self, claimed: outbox.Claim) -> tuple[OutboundAdapter, TargetConfig]:
        route = self.routing.route(claimed.council)
        if route is None or str(route.system) != claimed.system:
            raise PermanentDelivery(
                f"council {claimed.council} is no longer routed to {claimed.system}; "
                "replay the delivery after checking the routing file"
            )
        return registry.OUTBOUND[claimed.system], self.routing.targets[claimed.council]

    def _interview_due(self, owner: str | None) -> timedelta:
        """The return interview's time in its owner's pack (not the receiving council's)."""
        route = self.routing.route(owner) if owner else None
        return timedelta(hours=packs.load(route.policy).return_interview_due_hours if route else 72)

    def _tell_breaker(self, claimed: outbox.Claim, outcome: SendResult | DeliveryError) -> None:
        started = self._claimed_at.pop(claimed.delivery_id, self.clock())
        if isinstance(outcome, RetryableDelivery):
            failed, retry_after = True, outcome.retry_after
        elif isinstance(outcome, SendResult) or outcome.http_status is not None:
            failed, retry_after = False, None  # the target answered, even if to refuse
        else:
            return  # nothing reached the target: a rendering failure says nothing of it
        self.breakers.record(Outcome(claimed.council, started, failed, retry_after))

    # --- acknowledgements --------------------------------------------------------------------

    def poll_acks(self) -> int:
        """Read the acknowledgement feeds of councils with deliveries awaiting one, now."""
        return self.acks.poll_all()
