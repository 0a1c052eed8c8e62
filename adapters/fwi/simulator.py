"""An FWi that behaves exactly as docs/council-it.md says, for tests and the demo.

One app serves any number of councils by path: a council's base URL is
`{server}/sim/fwi/<LA code>` once the app is mounted at `/sim/fwi`. It checks the SOAP envelope
and its WS-Security UsernameToken (any non-empty username and password, `PasswordText`, a
16-byte nonce never seen before, `wsu:Created` within five minutes of its clock), validates the
body against the same XSD the renderer uses, answers `Duplicate` for a `MessageKey` it already
recorded, and faults `UnknownEpisode` for a later event of an episode it does not hold. A
rejection (`reject_rate` in `adapters.simulation`) is the permanent `soap:Client` `Validation`
fault of an invalid body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response
from lxml import etree

from adapters import xml
from adapters.fwi.client import BASE64_BINARY, PASSWORD_TEXT, SOAP_ACTION, SOAP_NS, WSSE_NS, WSU_NS
from adapters.fwi.renderer import NS, SCHEMA_PATH
from adapters.simulation import FaultConfig, Record, Simulation, read_bounded
from gateway.canonical import utc_now
from gateway.errors import InboundRejected

MAX_BODY_BYTES = 1 << 20
FRESHNESS = timedelta(minutes=5)
XML_TYPE = "text/xml; charset=utf-8"
_LA = re.compile(r"^[0-9]{3}$")
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$")


def fault(side: str, code: str, message: str, status: int = 500) -> Response:
    """A `soap:Fault` with `detail/FwiFault/Code` (docs/council-it.md)."""
    root = etree.Element(etree.QName(SOAP_NS, "Envelope"), nsmap={"soap": SOAP_NS})
    body = etree.SubElement(root, etree.QName(SOAP_NS, "Body"))
    element = etree.SubElement(body, etree.QName(SOAP_NS, "Fault"))
    etree.SubElement(element, "faultcode").text = f"soap:{side}"
    etree.SubElement(element, "faultstring").text = message
    detail = etree.SubElement(element, "detail")
    fwi = etree.SubElement(detail, f"{{{NS}}}FwiFault", nsmap={None: NS})
    etree.SubElement(fwi, f"{{{NS}}}Code").text = code
    etree.SubElement(fwi, f"{{{NS}}}Message").text = message
    return Response(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
        status_code=status,
        media_type=XML_TYPE,
    )


def result(outcome: str, ids: dict[str, str]) -> Response:
    """A `RecordMissingEpisodeEventResponse/Result` answer (HTTP 200)."""
    root = etree.Element(etree.QName(SOAP_NS, "Envelope"), nsmap={"soap": SOAP_NS})
    body = etree.SubElement(root, etree.QName(SOAP_NS, "Body"))
    answer = etree.SubElement(body, f"{{{NS}}}RecordMissingEpisodeEventResponse", nsmap={None: NS})
    element = etree.SubElement(answer, f"{{{NS}}}Result")
    etree.SubElement(element, f"{{{NS}}}Outcome").text = outcome
    for name in ("FwiEpisodeId", "FwiEventId", "FwiClientId"):
        etree.SubElement(element, f"{{{NS}}}{name}").text = ids[name]
    return Response(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8"), media_type=XML_TYPE
    )


@dataclass
class _Council:
    nonces: dict[str, datetime] = field(default_factory=dict)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)  # MessageKey -> ids
    episodes: dict[str, str] = field(default_factory=dict)  # ExternalReference -> FwiEpisodeId
    events: int = 0


class FwiState:
    """The councils' FWi data: seen nonces, answers by MessageKey, and episodes."""

    def __init__(self, sim: Simulation, clock: Callable[[], datetime]) -> None:
        self.sim = sim
        self.clock = clock
        self._councils: dict[str, _Council] = {}
        sim.on_reset(self._councils.clear)

    def _council(self, la: str) -> _Council:
        return self._councils.setdefault(la, _Council())

    def security_problem(self, la: str, envelope: etree._Element) -> str | None:
        """Why the WS-Security header is refused, or None when it is acceptable."""
        path = f"{{{SOAP_NS}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken"
        token = envelope.find(path)
        if token is None:
            return "no WS-Security UsernameToken"
        password = token.find(f"{{{WSSE_NS}}}Password")
        if (
            not (token.findtext(f"{{{WSSE_NS}}}Username") or "").strip()
            or password is None
            or not (password.text or "").strip()
            or password.get("Type") != PASSWORD_TEXT
        ):
            return "username and PasswordText password required"
        nonce = token.find(f"{{{WSSE_NS}}}Nonce")
        if nonce is None or nonce.get("EncodingType") != BASE64_BINARY:
            return "a Base64Binary nonce is required"
        try:
            if len(base64.b64decode(nonce.text or "", validate=True)) != 16:
                return "the nonce must be 16 bytes"
        except binascii.Error:
            return "the nonce is not base64"
        return self._fresh(la, (nonce.text or "").strip(), token.findtext(f"{{{WSU_NS}}}Created"))

    def _fresh(self, la: str, nonce: str, created_text: str | None) -> str | None:
        now = self.clock()
        if not created_text or not _CREATED.match(created_text.strip()):
            return "wsu:Created must be a UTC xs:dateTime"
        created = datetime.fromisoformat(created_text.strip().replace("Z", "+00:00"))
        if abs(now - created.astimezone(UTC)) > FRESHNESS:
            return "wsu:Created is not within five minutes"
        with self.sim.lock:
            nonces = self._council(la).nonces
            for seen in [n for n, at in nonces.items() if now - at > 2 * FRESHNESS]:
                del nonces[seen]
            if nonce in nonces:
                return "the nonce was already used"
            nonces[nonce] = now
        return None

    def accept(self, la: str, request: etree._Element) -> Response:
        """Record the event of a schema-valid `RecordMissingEpisodeEvent`."""
        text = {
            name: (request.findtext(f"{{{NS}}}Request/{{{NS}}}{name}") or "").strip()
            for name in ("ExternalReference", "MessageKey", "EventType")
        }
        nhs = request.findtext(f"{{{NS}}}Request/{{{NS}}}Client/{{{NS}}}NHSNumber")
        with self.sim.lock:
            council = self._council(la)
            stored = council.answers.get(text["MessageKey"])
            if stored is not None:
                self.sim.received_again(la, text["MessageKey"])
                return result("Duplicate", stored)
            outcome = "Updated"
            if text["ExternalReference"] not in council.episodes:
                if text["EventType"] != "Reported":
                    return fault("Client", "UnknownEpisode", "FWi holds no such episode")
                council.episodes[text["ExternalReference"]] = (
                    f"FWI-EP-{len(council.episodes) + 1:06d}"
                )
                outcome = "Created"
            council.events += 1
            ids = {
                "FwiEpisodeId": council.episodes[text["ExternalReference"]],
                "FwiEventId": f"FWI-EV-{council.events:06d}",
                "FwiClientId": _client_id(nhs),
            }
            council.answers[text["MessageKey"]] = ids
            self.sim.record(
                la,
                Record(
                    idempotency_key=text["MessageKey"],
                    episode_reference=text["ExternalReference"],
                    event_type=text["EventType"],
                    target_reference=ids["FwiEventId"],
                    **_episode_facts(request),
                ),
            )
        return result(outcome, ids)


def _episode_facts(request: etree._Element) -> dict[str, Any]:
    """The safeguarding facts of a schema-valid request, as FWi holds them (its own codes)."""
    episode = request.find(f"{{{NS}}}Request/{{{NS}}}Episode")
    if episode is None:  # the schema requires it; kept for the type checker
        return {}

    def text(name: str) -> str | None:
        value = episode.findtext(f"{{{NS}}}{name}")
        return value.strip() if value is not None else None

    return {
        "council_role": text("CouncilRole"),
        "return_interview_owner": text("ReturnInterviewOwnerLA"),
        "child_protection_plan": text("ChildProtectionPlan") in ("true", "1"),
        "found_condition": text("FoundCondition"),
    }


def _client_id(nhs: str | None) -> str:
    """FWi matches a client by NHS number; without one it leaves the id empty."""
    if not nhs:
        return ""
    return "FWI-C-" + hashlib.sha256(nhs.strip().encode()).hexdigest()[:10].upper()


class _Answers:
    """FWi's way of saying each injected fault."""

    def outage(self) -> Response:
        return Response("Service Unavailable", status_code=503, media_type="text/plain")

    def error(self) -> Response:
        return fault("Server", "Unavailable", "FWi is temporarily unavailable")

    def rate_limited(self, retry_after_s: int) -> Response:
        return Response(
            "Service Unavailable",
            status_code=503,
            media_type="text/plain",
            headers={"Retry-After": str(retry_after_s)},
        )


async def _rejected() -> Response:
    """The injected permanent refusal: the `Validation` fault of an invalid body (council-it.md)."""
    return fault("Client", "Validation", "refused by the simulator's reject fault")


def _body_element(envelope: etree._Element) -> etree._Element | Response:
    """The schema-valid RecordMissingEpisodeEvent of the envelope, or the Validation fault."""
    if envelope.tag != f"{{{SOAP_NS}}}Envelope":
        return fault("Client", "Validation", "not a SOAP 1.1 envelope")
    children = list(envelope.iterfind(f"{{{SOAP_NS}}}Body/*"))
    if len(children) != 1 or children[0].tag != f"{{{NS}}}RecordMissingEpisodeEvent":
        return fault("Client", "Validation", "the body must hold one RecordMissingEpisodeEvent")
    try:
        document = xml.parse(etree.tostring(children[0]))
        xml.load_schema(SCHEMA_PATH).validate(document)
    except InboundRejected as exc:
        return fault("Client", "Validation", exc.detail)
    return document.root


def _header_problem(request: Request) -> Response | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != "text/xml":
        return fault("Client", "Validation", "Content-Type must be text/xml")
    if request.headers.get("soapaction", "").strip() not in (SOAP_ACTION, SOAP_ACTION.strip('"')):
        return fault("Client", "Validation", "unknown SOAPAction")
    return None


async def _handle(la: str, request: Request, state: FwiState) -> Response:
    problem = _header_problem(request)
    if problem is not None:
        return problem
    raw = await read_bounded(request, MAX_BODY_BYTES)
    if raw is None:
        return fault("Client", "Validation", "body larger than 1 MiB")
    try:
        envelope = xml.parse(raw).root
    except InboundRejected as exc:
        return fault("Client", "Validation", exc.detail)
    refusal = state.security_problem(la, envelope)
    if refusal is not None:
        return fault("Client", "Authentication", refusal)
    element = _body_element(envelope)
    if isinstance(element, Response):
        return element
    return state.accept(la, element)


def create_app(
    faults: FaultConfig | None = None, *, clock: Callable[[], datetime] = utc_now
) -> FastAPI:
    """The FWi simulator app (mount it at `/sim/fwi`).

    Args:
        faults: the faults to start with (none by default).
        clock: the simulator's UTC clock, against which `wsu:Created` is checked.
    """
    sim = Simulation("fwi", faults)
    state = FwiState(sim, clock)
    app = FastAPI(title="FWi simulator", docs_url=None, redoc_url=None)
    app.state.simulation = sim
    app.state.fwi = state
    app.include_router(sim.control_router())
    answers = _Answers()

    @app.post("/{la}/FWiIntegration/MissingEpisodeService.svc")
    async def record_event(la: str, request: Request) -> Response:
        if not _LA.match(la):
            return Response("Not Found", status_code=404, media_type="text/plain")
        return await sim.guard(answers, lambda: _handle(la, request, state), reject=_rejected)

    return app
