"""What the three case-system simulators share: fault injection, the record book, control routes.

Each simulator (`adapters/<system>/simulator.py`) is one FastAPI app serving any number of
councils by path (`/{la}/...`). Around each case-system call it asks `Simulation.guard` to play
the configured faults: latency, a whole-system outage, a random error, a rate limit, a
"timeout" that records the event and then holds the answer past the client's timeout (an
unknown outcome, the case that idempotency keys exist for), or a rejection: the system's
permanent refusal of the payload, which records nothing. Every recorded event goes into a
per-council record book that `GET /_control/records` shows, so exactly-once delivery can be
checked from outside. All state sits behind one lock: the apps may serve several threads.

The `/_control` routes switch faults on, show what was recorded and wipe it: they answer only
clients on this machine's loopback interface (or a Unix socket), whoever else can reach the
simulators.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Protocol

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.addresses import is_loopback


class FaultConfig(BaseModel):
    """The faults a simulator plays, switchable at run time with `PUT /_control/faults`.

    Rates are per case-system call and checked in this order: error, rate limit, timeout,
    reject.

    Attributes:
        error_rate: share of calls answered with the system's temporary error.
        timeout_rate: share of calls recorded, then answered only after `timeout_delay_s`.
        rate_limit_rate: share of calls refused as rate limited, with `Retry-After`.
        reject_rate: share of calls refused with the system's permanent error, as if the
            payload were invalid (Mosaic `422` VALIDATION, FWi `soap:Client` Validation fault,
            Protocol a `REJECTED` ack); nothing is recorded, so a replay after the switch is
            off records the event once. Calls with no such answer (Mosaic's token call,
            Protocol's ack feed) are never rejected.
        retry_after_s: the `Retry-After` sent with a rate limit.
        latency_s: added to every call before it is handled.
        timeout_delay_s: how long a "timeout" holds its answer (longer than the client waits).
        outage: every call answers the system's "unavailable" until switched off.
        seed: seeds the fault dice, so a run can be replayed.
    """

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    timeout_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_limit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    reject_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    retry_after_s: int = Field(default=1, ge=0, le=3600)
    latency_s: float = Field(default=0.0, ge=0.0, le=60.0)
    timeout_delay_s: float = Field(default=30.0, ge=0.0, le=600.0)
    outage: bool = False
    seed: int | None = None


class Fault(StrEnum):
    """The fault drawn for one call."""

    NONE = "none"
    OUTAGE = "outage"
    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    REJECT = "reject"


class FaultAnswers(Protocol):
    """How one case system says each injected fault, in its own spec's terms."""

    def outage(self) -> Response:
        """The answer while the whole system is down."""
        ...

    def error(self) -> Response:
        """A temporary server-side failure."""
        ...

    def rate_limited(self, retry_after_s: int) -> Response:
        """A refusal to take more calls for now."""
        ...


@dataclass(slots=True)
class Record:
    """One event a simulated case system recorded (what `GET /_control/records` lists).

    `times_recorded` counts records made under this key and must stay 1; `times_received`
    counts every call that carried the key (retries and replays included). The safeguarding
    facts are kept in the case system's own codes, as it received them: the council's role,
    who owes the return home interview, the child protection plan, and the condition when
    found (None while the child is missing).
    """

    idempotency_key: str
    episode_reference: str | None
    event_type: str | None
    target_reference: str | None
    times_recorded: int = 1
    times_received: int = 1
    council_role: str | None = None
    return_interview_owner: str | None = None
    child_protection_plan: bool | None = None
    found_condition: str | None = None


class Simulation:
    """Thread-safe shared state of one simulator: faults, the fault dice and the record book."""

    def __init__(self, system: str, faults: FaultConfig | None = None) -> None:
        self.system = system
        self.lock = threading.RLock()
        self._faults = faults or FaultConfig()
        self._dice = random.Random(self._faults.seed)  # noqa: S311 - fault dice, not secrets
        self._records: dict[str, dict[str, Record]] = {}
        self._reset_hooks: list[Callable[[], None]] = []

    @property
    def faults(self) -> FaultConfig:
        """The faults now in force."""
        with self.lock:
            return self._faults

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the faults (and re-seed the dice)."""
        with self.lock:
            self._faults = faults
            self._dice = random.Random(faults.seed)  # noqa: S311 - fault dice, not secrets

    def draw(self) -> Fault:
        """Roll the dice for one call."""
        with self.lock:
            faults = self._faults
            if faults.outage:
                return Fault.OUTAGE
            roll = self._dice.random()
        for fault, rate in (
            (Fault.ERROR, faults.error_rate),
            (Fault.RATE_LIMIT, faults.rate_limit_rate),
            (Fault.TIMEOUT, faults.timeout_rate),
            (Fault.REJECT, faults.reject_rate),  # last, so seeded runs without it draw the same
        ):
            if roll < rate:
                return fault
            roll -= rate
        return Fault.NONE

    async def guard(
        self,
        answers: FaultAnswers,
        handle: Callable[[], Awaitable[Response]],
        reject: Callable[[], Awaitable[Response]] | None = None,
    ) -> Response:
        """Run one case-system call under the configured faults.

        Args:
            answers: how the system says the temporary faults.
            handle: the call itself.
            reject: the call refused with the system's permanent error, for a drawn rejection;
                a call without one is handled as usual instead.
        """
        faults = self.faults
        if faults.latency_s:
            await asyncio.sleep(faults.latency_s)
        fault = self.draw()
        if fault is Fault.OUTAGE:
            return answers.outage()
        if fault is Fault.ERROR:
            return answers.error()
        if fault is Fault.RATE_LIMIT:
            return answers.rate_limited(faults.retry_after_s)
        if fault is Fault.REJECT and reject is not None:
            return await reject()
        response = await handle()
        if fault is Fault.TIMEOUT:
            await asyncio.sleep(faults.timeout_delay_s)
        return response

    def record(self, council: str, record: Record) -> None:
        """Add a recorded event to the council's book (a second record under a key counts up)."""
        with self.lock:
            book = self._records.setdefault(council, {})
            existing = book.get(record.idempotency_key)
            if existing is None:
                book[record.idempotency_key] = record
            else:
                existing.times_recorded += 1
                existing.times_received += 1

    def received_again(self, council: str, key: str) -> None:
        """Count a call that carried a key already recorded (a retry or a replay)."""
        with self.lock:
            existing = self._records.get(council, {}).get(key)
            if existing is not None:
                existing.times_received += 1

    def records(self) -> dict[str, list[dict[str, object]]]:
        """Every recorded event per council, in arrival order."""
        with self.lock:
            return {
                council: [asdict(r) for r in book.values()]
                for council, book in self._records.items()
            }

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Register the system's own state to clear on `POST /_control/reset`."""
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Forget every record and every piece of system state (faults are kept)."""
        with self.lock:
            self._records.clear()
            for hook in self._reset_hooks:
                hook()

    def control_router(self) -> APIRouter:
        """`GET/PUT /_control/faults`, `GET /_control/records`, `POST /_control/reset`."""
        router = APIRouter(prefix="/_control", tags=["control"], dependencies=[LOOPBACK_ONLY])

        @router.get("/faults")
        def get_faults() -> FaultConfig:
            return self.faults

        @router.put("/faults")
        def put_faults(faults: FaultConfig) -> FaultConfig:
            self.set_faults(faults)
            return faults

        @router.get("/records")
        def get_records() -> dict[str, list[dict[str, object]]]:
            return self.records()

        @router.post("/reset", status_code=204)
        def post_reset() -> Response:
            self.reset()
            return Response(status_code=204)

        return router


def loopback_only(request: Request) -> None:
    """Refuse (403) a control call from anywhere but this machine."""
    client = request.client
    if client is not None and not is_loopback(client.host):
        raise HTTPException(403, "the simulator's control routes answer this machine only")


LOOPBACK_ONLY = Depends(loopback_only)


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """Read a request body of at most `limit` bytes; None when it is larger."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
