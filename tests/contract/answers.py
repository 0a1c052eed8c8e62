"""Every answer row of the three case-system specs, written from the spec pages, not the code.

The outbound contract suite feeds each row's response to the adapter's `classify` and checks the
outcome. Some bodies echo `SECRET` (as a hostile or careless server might), so the suite can
prove no secret ever reaches an error text or a log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import httpx

SECRET = "contract-secret-0xC0FFEE-never-logged"
CREDENTIALS = {
    "client_id": "contract-client",
    "client_secret": SECRET,
    "username": "contract-user",
    "password": SECRET,
    "api_key": SECRET,
}
ANSWERED_URL = "https://case-system.example.org/304/import/inbox/304_contract-key.xml"

Outcome = Literal["delivered", "received", "retryable", "permanent"]


@dataclass(frozen=True)
class Row:
    """One answer of a spec's table and what the client must make of it.

    `delivered` is a recorded success (acknowledged), `received` a success awaiting an
    asynchronous acknowledgement; the ids are what the SendResult must carry.
    """

    name: str
    status: int
    outcome: Outcome
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    target_reference: str | None = None
    person_id: str | None = None
    episode_ref: str | None = None

    def response(self) -> httpx.Response:
        """The answer as httpx would hand it to `classify`."""
        return httpx.Response(
            self.status,
            headers=self.headers,
            content=self.body,
            request=httpx.Request("POST", ANSWERED_URL),
        )


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


_MOSAIC_IDS = {"episodeId": "MOS-EP-000001", "personId": "MOS-P-00AA11", "eventId": "MOS-EV-000001"}

MOSAIC = [
    Row(
        "created_201",
        201,
        "delivered",
        _json(_MOSAIC_IDS),
        target_reference="MOS-EV-000001",
        person_id="MOS-P-00AA11",
        episode_ref="MOS-EP-000001",
    ),
    Row(
        "replayed_200_no_person",
        200,
        "delivered",
        _json({**_MOSAIC_IDS, "personId": None}),
        target_reference="MOS-EV-000001",
        episode_ref="MOS-EP-000001",
    ),
    Row("created_201_unreadable", 201, "retryable", b"<html>ok</html>"),
    Row("idempotency_key_reused_422", 422, "permanent", _json({"error": "IDEMPOTENCY_KEY_REUSED"})),
    Row(
        "validation_400",
        400,
        "permanent",
        _json({"error": "VALIDATION", "details": [f"$.person: {SECRET}"]}),
    ),
    Row(
        "validation_422",
        422,
        "permanent",
        _json({"error": "VALIDATION", "details": ["$.episode.riskLevel: enum"]}),
    ),
    Row("unauthorised_401", 401, "permanent", _json({"error": "UNAUTHORIZED", "echo": SECRET})),
    Row("forbidden_403", 403, "permanent", _json({"error": "FORBIDDEN"})),
    Row("episode_unknown_404", 404, "retryable", _json({"error": "EPISODE_NOT_FOUND"})),
    Row(
        "rate_limited_429",
        429,
        "retryable",
        _json({"error": "RATE_LIMITED"}),
        headers={"Retry-After": "30"},
        retry_after=30.0,
    ),
    Row("server_error_500", 500, "retryable"),
    Row("bad_gateway_502", 502, "retryable"),
    Row("unavailable_503", 503, "retryable", headers={"Retry-After": "7"}, retry_after=7.0),
    Row("gateway_timeout_504", 504, "retryable"),
    Row("unexpected_418", 418, "permanent"),
]

_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_FWI = "urn:fwi:integration:missing:1"


def fwi_result(outcome: str, client_id: str = "FWI-C-00AA11") -> bytes:
    """An FWi success envelope (fwi.md "Response")."""
    return (
        f'<soap:Envelope xmlns:soap="{_SOAP}"><soap:Body>'
        f'<RecordMissingEpisodeEventResponse xmlns="{_FWI}"><Result>'
        f"<Outcome>{outcome}</Outcome><FwiEpisodeId>FWI-EP-000001</FwiEpisodeId>"
        f"<FwiEventId>FWI-EV-000002</FwiEventId><FwiClientId>{client_id}</FwiClientId>"
        "</Result></RecordMissingEpisodeEventResponse></soap:Body></soap:Envelope>"
    ).encode()


def fwi_fault(side: str, code: str) -> bytes:
    """An FWi `soap:Fault` (fwi.md "Faults"), its faultstring echoing the secret."""
    return (
        f'<soap:Envelope xmlns:soap="{_SOAP}"><soap:Body><soap:Fault>'
        f"<faultcode>soap:{side}</faultcode><faultstring>refused {SECRET}</faultstring>"
        f'<detail><FwiFault xmlns="{_FWI}"><Code>{code}</Code></FwiFault></detail>'
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


_XML = {"Content-Type": "text/xml; charset=utf-8"}


def _fwi_delivered(name: str, outcome: str, client_id: str) -> Row:
    return Row(
        name,
        200,
        "delivered",
        fwi_result(outcome, client_id),
        _XML,
        target_reference="FWI-EV-000002",
        episode_ref="FWI-EP-000001",
        person_id=client_id or None,
    )


FWI = [
    _fwi_delivered("created_200", "Created", "FWI-C-00AA11"),
    _fwi_delivered("updated_200", "Updated", "FWI-C-00AA11"),
    _fwi_delivered("duplicate_200_no_client", "Duplicate", ""),
    Row("unknown_outcome_200", 200, "retryable", fwi_result("Maybe"), _XML),
    Row("unreadable_200", 200, "retryable", b"<not-xml", _XML),
    Row("fault_validation", 500, "permanent", fwi_fault("Client", "Validation"), _XML),
    Row("fault_authentication", 500, "permanent", fwi_fault("Client", "Authentication"), _XML),
    Row("fault_unknown_episode", 500, "retryable", fwi_fault("Client", "UnknownEpisode"), _XML),
    Row("fault_unavailable", 500, "retryable", fwi_fault("Server", "Unavailable"), _XML),
    Row("fault_timeout", 500, "retryable", fwi_fault("Server", "Timeout"), _XML),
    Row("fault_other_server", 500, "retryable", fwi_fault("Server", "Unexpected"), _XML),
    Row("fault_other_client", 500, "permanent", fwi_fault("Client", "Unexpected"), _XML),
    Row(
        "unavailable_503_no_envelope",
        503,
        "retryable",
        b"Service Unavailable",
        {"Retry-After": "12"},
        retry_after=12.0,
    ),
    Row("server_error_500_no_envelope", 500, "retryable", b"oops"),
    Row("not_found_404", 404, "permanent", b"Not Found"),
]

PROTOCOL = [
    Row("received_201", 201, "received", target_reference="304_contract-key.xml"),
    Row("same_bytes_200", 200, "received", target_reference="304_contract-key.xml"),
    Row("different_bytes_409", 409, "permanent", _json({"error": "CONFLICT"})),
    Row("bad_key_401", 401, "permanent", _json({"error": "UNAUTHORIZED", "echo": SECRET})),
    Row("too_large_413", 413, "permanent"),
    Row("unavailable_503", 503, "retryable", headers={"Retry-After": "5"}, retry_after=5.0),
    Row("server_error_500", 500, "retryable"),
    Row("bad_request_400", 400, "permanent"),
]

ANSWERS: dict[str, list[Row]] = {"mosaic": MOSAIC, "fwi": FWI, "protocol": PROTOCOL}


def token_answer() -> httpx.Response:
    """An OAuth2 token answer, for targets that authenticate first (Mosaic)."""
    return httpx.Response(
        200, json={"access_token": "contract-token", "token_type": "Bearer", "expires_in": 3600}
    )
