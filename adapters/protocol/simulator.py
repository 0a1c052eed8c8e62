"""A Liquidlogic Protocol import that behaves as docs/council-it.md says, for tests and the demo.

One app serves any number of councils by path: a council's base URL is
`{server}/sim/protocol/<LA code>` once the app is mounted at `/sim/protocol`. The inbox takes
`PUT /import/inbox/<LA>_<key>.xml` with any non-empty `X-Api-Key` (`201` new, `200` same bytes
again, `409` different bytes, `413` over 2 MiB). Each new file is checked against the same XSD
the renderer uses and its acknowledgement (`ACCEPTED`, or `REJECTED` with the errors) appears
on `GET /import/acks` only `ack_delay_s` after it arrived: processing is asynchronous. A
rejection (`reject_rate` in `adapters.simulation`) takes the file in (`201`) and acknowledges it
`REJECTED`, as an invalid file would be. Only accepted files go into the record book. Once its
`REJECTED` ack is out, a rejected file has left the inbox: a later drop under its name (a replay
after the fix) is a new file, processed again.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from lxml import etree

from adapters import xml
from adapters.protocol.renderer import MAX_FILE_BYTES, NS, SCHEMA_PATH
from adapters.simulation import FaultConfig, Record, Simulation, read_bounded
from gateway.errors import InboundRejected

ACKS_PER_PAGE = 100
_LA = re.compile(r"^[0-9]{3}$")
_NAME = re.compile(r"^([0-9]{3})_([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.xml$")


@dataclass
class _File:
    seq: int
    digest: str
    received_at: float
    accepted: bool
    errors: list[str]
    protocol_ref: str | None
    person_ref: str | None


@dataclass
class _Council:
    files: dict[str, _File] = field(default_factory=dict)
    accepted: int = 0


@dataclass(frozen=True)
class _Verdict:
    accepted: bool
    errors: list[str]
    external_ref: str | None = None
    event_code: str | None = None
    nhs: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # Record's safeguarding facts


_INJECTED_REJECTION = _Verdict(
    accepted=False, errors=["/ProtocolImport: refused by the simulator's reject fault"]
)


def _process(body: bytes) -> _Verdict:
    """What Protocol's import makes of a file: accepted, or rejected with the reasons."""
    try:
        document = xml.parse(body)
        xml.load_schema(SCHEMA_PATH).validate(document)
    except InboundRejected as exc:
        errors = [f"{e.path}: {e.message}" for e in exc.errors] or [exc.detail]
        return _Verdict(accepted=False, errors=errors[:20])
    notification = document.root.find(f"{{{NS}}}Notification")
    if notification is None:  # the schema requires it; kept for the type checker
        return _Verdict(accepted=False, errors=["/ProtocolImport: no Notification"])
    return _Verdict(
        accepted=True,
        errors=[],
        external_ref=notification.findtext(f"{{{NS}}}ExternalRef"),
        event_code=notification.findtext(f"{{{NS}}}EventCode"),
        nhs=notification.findtext(f"{{{NS}}}Child/{{{NS}}}NHSNo"),
        facts=_episode_facts(notification),
    )


def _episode_facts(notification: etree._Element) -> dict[str, Any]:
    """The safeguarding facts of a schema-valid notification, in Protocol's own codes."""

    def text(name: str) -> str | None:
        value = notification.findtext(f"{{{NS}}}Episode/{{{NS}}}{name}")
        return value.strip() if value is not None else None

    return {
        "council_role": text("Role"),
        "return_interview_owner": text("RHIOwnerLA"),
        "child_protection_plan": text("CPPlan") == "Y",
        "found_condition": text("FoundCondition"),
    }


class ProtocolState:
    """The councils' import inboxes and their acknowledgements."""

    def __init__(self, sim: Simulation, ack_delay_s: float, clock: Callable[[], float]) -> None:
        self.sim = sim
        self.ack_delay_s = ack_delay_s
        self.clock = clock
        self._councils: dict[str, _Council] = {}
        self._seq = 0
        sim.on_reset(self._councils.clear)

    def drop(self, la: str, name: str, key: str, body: bytes, *, reject: bool = False) -> int:
        """Take a file into the inbox; return the HTTP status docs/council-it.md prescribes.

        `reject` makes the import refuse the file whatever it holds (the reject fault).
        """
        digest = hashlib.sha256(body).hexdigest()
        with self.sim.lock:
            council = self._councils.setdefault(la, _Council())
            existing = council.files.get(name)
            if existing is not None and not self._gone(existing):
                self.sim.received_again(la, key)
                return 200 if existing.digest == digest else 409
            verdict = _INJECTED_REJECTION if reject else _process(body)
            self._seq += 1
            protocol_ref = person_ref = None
            if verdict.accepted:
                council.accepted += 1
                protocol_ref = f"PRT-{council.accepted:06d}"
                person_ref = _person_ref(verdict.nhs)
                self.sim.record(
                    la,
                    Record(
                        idempotency_key=key,
                        episode_reference=verdict.external_ref,
                        event_type=verdict.event_code,
                        target_reference=name,
                        **verdict.facts,
                    ),
                )
            council.files[name] = _File(
                self._seq,
                digest,
                self.clock(),
                verdict.accepted,
                verdict.errors,
                protocol_ref,
                person_ref,
            )
            return 201

    def _gone(self, entry: _File) -> bool:
        """Whether a file has left the inbox: rejected, with its ack already out."""
        return not entry.accepted and self.clock() >= entry.received_at + self.ack_delay_s

    def acks(self, la: str, after: int) -> dict[str, Any]:
        """Acks of files processed by now, after cursor `after`, oldest first, at most 100."""
        now = self.clock()
        with self.sim.lock:
            council = self._councils.get(la, _Council())
            files = sorted(council.files.items(), key=lambda item: item[1].seq)
        acks: list[dict[str, Any]] = []
        for name, entry in files:
            if entry.seq <= after:
                continue
            if now < entry.received_at + self.ack_delay_s or len(acks) >= ACKS_PER_PAGE:
                break
            acks.append(
                {
                    "filename": name,
                    "status": "ACCEPTED" if entry.accepted else "REJECTED",
                    "protocolRef": entry.protocol_ref,
                    "personRef": entry.person_ref,
                    "errors": entry.errors,
                    "cursor": str(entry.seq),
                }
            )
        return {"acks": acks, "next": acks[-1]["cursor"] if acks else str(after)}


def _person_ref(nhs: str | None) -> str | None:
    """Protocol matches a child by NHS number; without one the team matches by hand (null)."""
    if not nhs:
        return None
    return "PRT-P-" + hashlib.sha256(nhs.strip().encode()).hexdigest()[:10].upper()


class _Answers:
    """Protocol's way of saying each injected fault: it only ever says 503."""

    def outage(self) -> Response:
        return JSONResponse({"error": "UNAVAILABLE"}, status_code=503)

    def error(self) -> Response:
        return JSONResponse({"error": "UNAVAILABLE"}, status_code=503)

    def rate_limited(self, retry_after_s: int) -> Response:
        return JSONResponse(
            {"error": "UNAVAILABLE"}, status_code=503, headers={"Retry-After": str(retry_after_s)}
        )


def _refused(request: Request, la: str) -> Response | None:
    if not _LA.match(la):
        return JSONResponse({"error": "NOT_FOUND"}, status_code=404)
    if not request.headers.get("x-api-key", "").strip():
        return JSONResponse({"error": "UNAUTHORIZED"}, status_code=401)
    return None


async def _put(
    la: str, name: str, request: Request, state: ProtocolState, *, reject: bool = False
) -> Response:
    refused = _refused(request, la)
    if refused is not None:
        return refused
    match = _NAME.match(name)
    if match is None or match.group(1) != la:
        return JSONResponse({"error": "BAD_FILENAME"}, status_code=400)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/xml":
        return JSONResponse({"error": "UNSUPPORTED_MEDIA_TYPE"}, status_code=415)
    body = await read_bounded(request, MAX_FILE_BYTES)
    if body is None:
        return JSONResponse({"error": "TOO_LARGE"}, status_code=413)
    status = state.drop(la, name, match.group(2), body, reject=reject)
    return JSONResponse({"filename": name}, status_code=status)


async def _acks(la: str, request: Request, state: ProtocolState) -> Response:
    refused = _refused(request, la)
    if refused is not None:
        return refused
    after = request.query_params.get("after", "0")
    if not after.isdigit():
        return JSONResponse({"error": "BAD_CURSOR"}, status_code=400)
    return JSONResponse(state.acks(la, int(after)))


def create_app(
    faults: FaultConfig | None = None,
    *,
    ack_delay_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The Protocol simulator app (mount it at `/sim/protocol`).

    Args:
        faults: the faults to start with (none by default).
        ack_delay_s: how long after its arrival a file's acknowledgement appears.
        clock: the simulator's monotonic clock, injectable for tests.
    """
    sim = Simulation("protocol", faults)
    state = ProtocolState(sim, ack_delay_s, clock)
    app = FastAPI(title="Protocol simulator", docs_url=None, redoc_url=None)
    app.state.simulation = sim
    app.state.protocol = state
    app.include_router(sim.control_router())
    answers = _Answers()

    @app.put("/{la}/import/inbox/{name}")
    async def drop(la: str, name: str, request: Request) -> Response:
        return await sim.guard(
            answers,
            lambda: _put(la, name, request, state),
            reject=lambda: _put(la, name, request, state, reject=True),
        )

    @app.get("/{la}/import/acks")
    async def acks(la: str, request: Request) -> Response:
        return await sim.guard(answers, lambda: _acks(la, request, state))

    return app
