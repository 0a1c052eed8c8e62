"""The FWi client: a freshly secured SOAP envelope on every attempt."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest
from lxml import etree

from adapters import xml
from adapters.base import TargetConfig
from adapters.fwi import ADAPTER, client, renderer
from gateway.errors import PermanentDelivery, RetryableDelivery
from tests.contract.answers import rows
from tests.contract.canonical_cases import CASES

NOW = datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
PASSWORD = "fwi-password-<&>-0001"
TARGET = TargetConfig(
    council="830",
    system="fwi",
    base_url="https://fwi.example.org/830/",
    credentials={"username": "gateway", "password": PASSWORD},
)
CREATED = next(
    row for row in rows(ADAPTER.folder / "fixtures" / "answers.toml") if row.name == "created_200"
)
WSSE = {"wsse": client.WSSE_NS, "wsu": client.WSU_NS, "soap": client.SOAP_NS}


def send_twice() -> list[httpx.Request]:
    """Send the found case twice (a retry) and return both requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=CREATED.body)

    request = CASES["found"]
    payload = renderer.render(request)
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        for _ in range(2):
            client.send(request, payload, TARGET, http, clock=lambda: NOW)
    return seen


def test_the_call_is_soap_11_with_its_action():
    """POST to the service with text/xml and the quoted SOAPAction."""
    call = send_twice()[0]
    assert call.url == "https://fwi.example.org/830/FWiIntegration/MissingEpisodeService.svc"
    assert call.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert call.headers["SOAPAction"] == '"urn:fwi:integration:missing:1/RecordMissingEpisodeEvent"'


def test_the_envelope_carries_a_username_token_with_password_text():
    """Username, PasswordText password, Base64 nonce of 16 bytes and wsu:Created."""
    root = xml.parse(send_twice()[0].content).root
    token = root.find("soap:Header/wsse:Security/wsse:UsernameToken", WSSE)
    assert token is not None
    assert token.findtext("wsse:Username", namespaces=WSSE) == "gateway"
    password = token.find("wsse:Password", WSSE)
    assert password is not None and password.text == PASSWORD
    assert password.get("Type") == client.PASSWORD_TEXT
    nonce = token.find("wsse:Nonce", WSSE)
    assert nonce is not None and nonce.get("EncodingType") == client.BASE64_BINARY
    assert len(base64.b64decode(nonce.text or "")) == 16
    assert token.findtext("wsu:Created", namespaces=WSSE) == "2024-05-02T09:30:00Z"


def test_each_attempt_has_a_fresh_nonce_and_the_same_body():
    """A retry is not a replay: new nonce, same RecordMissingEpisodeEvent (same MessageKey)."""
    first, retry = (xml.parse(r.content).root for r in send_twice())
    nonces = [
        r.findtext("soap:Header/wsse:Security/wsse:UsernameToken/wsse:Nonce", namespaces=WSSE)
        for r in (first, retry)
    ]
    assert nonces[0] != nonces[1]
    bodies = [etree.tostring(r.xpath("soap:Body/*", namespaces=WSSE)[0]) for r in (first, retry)]
    assert bodies[0] == bodies[1]


def test_missing_credentials_are_permanent():
    """A target without a password names the missing key."""
    bare = TARGET.model_copy(update={"credentials": {"username": "gateway"}})
    request = CASES["found"]
    with (
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as http,
        pytest.raises(PermanentDelivery, match="password"),
    ):
        client.send(request, renderer.render(request), bare, http)


def test_an_oversized_answer_is_refused_before_parsing():
    """An answer over 1 MiB is not parsed."""
    huge = b"<a>" + b"x" * (1 << 20) + b"</a>"
    request = CASES["found"]
    with (
        httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(200, content=huge))
        ) as http,
        pytest.raises(PermanentDelivery, match="larger than"),
    ):
        client.send(request, renderer.render(request), TARGET, http)


def test_a_hostile_answer_is_not_expanded():
    """An answer with a DOCTYPE (entity tricks) is not trusted: it is not a result."""
    hostile = (
        b'<!DOCTYPE a [<!ENTITY x "Created">]><soap:Envelope xmlns:soap="'
        + client.SOAP_NS.encode()
        + b'"/>'
    )
    with pytest.raises(RetryableDelivery):
        client.classify(httpx.Response(200, content=hostile))


def fwi_result(outcome: str) -> bytes:
    """An FWi success envelope (the interface's "Response")."""
    return (
        f'<soap:Envelope xmlns:soap="{client.SOAP_NS}"><soap:Body>'
        f'<RecordMissingEpisodeEventResponse xmlns="{client.NS}"><Result>'
        f"<Outcome>{outcome}</Outcome><FwiEpisodeId>FWI-EP-000001</FwiEpisodeId>"
        "<FwiEventId>FWI-EV-000002</FwiEventId><FwiClientId>FWI-C-00AA11</FwiClientId>"
        "</Result></RecordMissingEpisodeEventResponse></soap:Body></soap:Envelope>"
    ).encode()


@pytest.mark.parametrize("status", [200, 500])
def test_an_answer_with_a_relative_namespace_uri_is_classified_not_a_crash(status: int):
    """C14N cannot take a relative namespace URI; such an answer is unreadable, not a fault."""
    answer = fwi_result("Created").replace(b"<soap:Envelope ", b'<soap:Envelope xmlns:x="r" ', 1)
    assert b'xmlns:x="r"' in answer
    with pytest.raises(RetryableDelivery, match=r"not understood|temporary"):
        client.classify(httpx.Response(status, content=answer))
