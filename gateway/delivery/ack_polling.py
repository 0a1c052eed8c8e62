"""Reading the acknowledgement feeds of councils that acknowledge later (Protocol), each apart.

Every `ack_poll`, each council with deliveries awaiting an acknowledgement gets a poll of its
own on a small pool: a council whose feed is slow (or trickles its answer) holds one thread
until its `timeout_s`, and only its own next poll waits for it; the other councils' feeds are
read on time. A council's poll reads at most `ACK_PAGES` pages, all within its `timeout_s`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.exc import DBAPIError

from adapters import registry
from adapters.deadline import within
from gateway import metrics
from gateway.delivery import acks as feeds
from gateway.errors import DeliveryError
from gateway.logs import get_logger
from gateway.routing import RoutingTable

log = get_logger(__name__)
ACK_PAGES = 10  # at most this many pages of acks per council per poll


class AckPoller:
    """Polls each council's acknowledgement feed on its own schedule and thread."""

    def __init__(
        self,
        engine: Any,
        routing: RoutingTable,
        http: httpx.Client,
        *,
        every: timedelta,
        clock: Callable[[], datetime],
        actor: str,
        threads: int = 4,
    ) -> None:
        self.engine = engine
        self.routing = routing
        self.http = http
        self.every = every
        self.clock = clock
        self.actor = actor
        self.threads = threads
        self._next: datetime | None = None
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Make the pool background polls run on."""
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="acks")

    def stop(self) -> None:
        """Let the polls under way finish (each is bounded by its council's timeout)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def maybe_poll(self, *, force: bool = False) -> None:
        """When a poll is due, start one per council awaiting acks (on the pool if started)."""
        now = self.clock()
        if not force and self._next is not None and now < self._next:
            return
        self._next = now + self.every
        for council in feeds.awaiting_ack(self.engine):
            if self._pool is None:
                self.poll_council(council)
            elif self._claim(council):
                self._pool.submit(self._poll_and_release, council)

    def poll_all(self) -> int:
        """Read every awaiting council's feed now, one after the other; acks applied."""
        return sum(self.poll_council(c) for c in feeds.awaiting_ack(self.engine))

    def _claim(self, council: str) -> bool:
        with self._lock:
            if council in self._busy:
                return False  # its previous poll is still running
            self._busy.add(council)
            return True

    def _poll_and_release(self, council: str) -> None:
        try:
            self.poll_council(council)
        finally:
            with self._lock:
                self._busy.discard(council)

    def poll_council(self, council: str) -> int:
        """Read one council's feed (errors are logged: the next poll tries again)."""
        route = self.routing.route(council)
        adapter = registry.OUTBOUND.get(str(route.system)) if route else None
        poll = getattr(adapter, "poll_acks", None)
        if route is None or poll is None:
            return 0
        try:
            with within(self.routing.targets[council].timeout_s):
                return self._read(council, str(route.system), poll)
        except DeliveryError as exc:
            log.warning("ack_poll_failed", council=council, error=exc.reason)
        except DBAPIError as exc:
            log.warning("ack_poll_not_recorded", council=council, error=type(exc).__name__)
        except Exception:  # one council's bad poll must not end the others'
            log.exception("ack_poll_crashed", council=council)
        return 0

    def _read(self, council: str, system: str, poll: Callable[..., Any]) -> int:
        target = self.routing.targets[council]
        cursor = feeds.ack_cursor(self.engine, council)
        applied = 0
        for _ in range(ACK_PAGES):
            acks, following = poll(target, cursor, self.http)
            if not acks:
                break
            counts = feeds.apply_acks(
                self.engine, council, system, acks, following, now=self.clock(), actor=self.actor
            )
            for status in ("delivered", "dead"):
                for _ in range(counts[status]):
                    metrics.delivery_finished(system, council, status, None)
            applied += len(acks)
            cursor = following
        return applied
