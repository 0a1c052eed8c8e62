"""Send a rendered delivery to a council's FWi (docs/council-it.md): SOAP 1.1, WS-Security.

`send` is the adapter's only I/O. Each attempt wraps the stored payload in a new envelope whose
UsernameToken carries the password as `PasswordText`, a fresh 16-byte nonce and the current
`wsu:Created`, so a retry is never refused as a replay; the `MessageKey` inside the payload is
what keeps it idempotent. Answers are parsed with the hardened `adapters.xml.parse` after being
bounded at 1 MiB. `classify` holds docs/council-it.md's answer table.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable
from datetime import datetime

import httpx
from lxml import etree

from adapters import xml
from adapters.answers import default_verdict, retry_after, safe_id
from adapters.base import DeliveryRequest, Payload, SendResult, TargetConfig
from adapters.exchange import exchange, require_credentials
from adapters.fwi.renderer import NS
from adapters.rendering import utc_text
from gateway.canonical import utc_now
from gateway.errors import DeliveryError, InboundRejected, PermanentDelivery, RetryableDelivery
from gateway.logs import get_logger

SYSTEM = "fwi"
# The keys of the routing target's credentials, read from <credentials_env>_<KEY>.
CREDENTIALS = ("username", "password")
PATH = "/FWiIntegration/MissingEpisodeService.svc"
SOAP_ACTION = '"urn:fwi:integration:missing:1/RecordMissingEpisodeEvent"'
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_OASIS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-"
WSSE_NS = f"{_OASIS}wss-wssecurity-secext-1.0.xsd"
WSU_NS = f"{_OASIS}wss-wssecurity-utility-1.0.xsd"
PASSWORD_TEXT = f"{_OASIS}wss-username-token-profile-1.0#PasswordText"
BASE64_BINARY = f"{_OASIS}wss-soap-message-security-1.0#Base64Binary"
OUTCOMES = frozenset({"Created", "Updated", "Duplicate"})
PERMANENT_FAULTS = frozenset({"Validation", "Authentication"})
RETRYABLE_FAULTS = frozenset({"UnknownEpisode", "Unavailable", "Timeout"})
_FAULT_CODE = re.compile(r"^[A-Za-z]{1,40}$")
log = get_logger(__name__)


def new_nonce() -> bytes:
    """16 random bytes for the UsernameToken nonce (docs/council-it.md)."""
    return secrets.token_bytes(16)


def envelope(
    payload: Payload, username: str, password: str, *, created: datetime, nonce: bytes
) -> bytes:
    """The SOAP envelope around the payload, with a WS-Security UsernameToken header (pure).

    Raises:
        PermanentDelivery: the payload is not XML, or a credential holds characters XML
            cannot carry.
    """
    q = etree.QName
    root = etree.Element(
        q(SOAP_NS, "Envelope"), nsmap={"soap": SOAP_NS, "wsse": WSSE_NS, "wsu": WSU_NS}
    )
    security = etree.SubElement(
        etree.SubElement(root, q(SOAP_NS, "Header")), q(WSSE_NS, "Security")
    )
    security.set(q(SOAP_NS, "mustUnderstand"), "1")
    token = etree.SubElement(security, q(WSSE_NS, "UsernameToken"))
    try:
        etree.SubElement(token, q(WSSE_NS, "Username")).text = username
        secret = etree.SubElement(token, q(WSSE_NS, "Password"), Type=PASSWORD_TEXT)
        secret.text = password
    except ValueError as exc:
        raise PermanentDelivery(f"{SYSTEM}: credentials hold characters XML cannot carry") from exc
    encoded = etree.SubElement(token, q(WSSE_NS, "Nonce"), EncodingType=BASE64_BINARY)
    encoded.text = base64.b64encode(nonce).decode("ascii")
    etree.SubElement(token, q(WSU_NS, "Created")).text = utc_text(created)
    try:
        body = xml.parse(payload.body).root
    except InboundRejected as exc:
        raise PermanentDelivery(f"{SYSTEM}: the stored payload is not XML") from exc
    etree.SubElement(root, q(SOAP_NS, "Body")).append(body)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def send(
    request: DeliveryRequest,
    payload: Payload,
    target: TargetConfig,
    http: httpx.Client,
    *,
    clock: Callable[[], datetime] = utc_now,
    nonce: Callable[[], bytes] = new_nonce,
) -> SendResult:
    """Call RecordMissingEpisodeEvent with a freshly secured envelope.

    Raises:
        RetryableDelivery: try again later.
        PermanentDelivery: dead-letter with the reason.
    """
    require_credentials(target.credentials, CREDENTIALS, SYSTEM)
    content = envelope(
        payload,
        target.credentials["username"],
        target.credentials["password"],
        created=clock(),
        nonce=nonce(),
    )
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": SOAP_ACTION}
    response = exchange(
        http,
        "POST",
        f"{target.base_url.rstrip('/')}{PATH}",
        system=SYSTEM,
        timeout_s=target.timeout_s,
        headers=headers,
        content=content,
    )
    result = classify(response)
    log.info(
        "fwi_delivered",
        delivery_id=request.delivery_id,
        council=target.council,
        http_status=result.http_status,
        target_reference=result.target_reference,
    )
    return result


def classify(response: httpx.Response) -> SendResult:
    """Turn an FWi answer into a result, or raise what the caller must do (docs/council-it.md).

    | status | body | outcome |
    | --- | --- | --- |
    | 200 | `Result/Outcome` Created, Updated or Duplicate | delivered |
    | 500 | fault `soap:Client`, `Code` Validation | permanent |
    | 500 | fault `soap:Client`, `Code` Authentication | permanent: fix the credentials |
    | 500 | fault `soap:Client`, `Code` UnknownEpisode | retryable: FWi lacks the episode yet |
    | 500 | fault `soap:Server`, `Code` Unavailable or Timeout | retryable |
    | any | another fault | `soap:Server` retryable, `soap:Client` permanent |
    | 503 | no envelope | retryable |
    | 200 | no readable result | retryable (recorded or not: `MessageKey` makes it safe) |
    | 429, 5xx | no envelope | retryable |
    | anything else | | permanent |

    Raises:
        RetryableDelivery: a temporary failure.
        PermanentDelivery: a failure that retrying the same payload cannot fix.
    """
    root = _envelope_of(response)
    if root is not None:
        if response.status_code == 200 and (result := _result(root, 200)) is not None:
            return result
        fault = _fault(root)
        if fault is not None:
            raise _fault_error(response, *fault)
    raise default_verdict(response, SYSTEM)


def _envelope_of(response: httpx.Response) -> etree._Element | None:
    if not response.content.strip():
        return None
    try:
        root = xml.parse(response.content).root
    except InboundRejected:
        return None
    return root if root.tag == f"{{{SOAP_NS}}}Envelope" else None


def _result(root: etree._Element, status: int) -> SendResult | None:
    path = f"{{{SOAP_NS}}}Body/{{{NS}}}RecordMissingEpisodeEventResponse/{{{NS}}}Result"
    result = root.find(path)
    if result is None or result.findtext(f"{{{NS}}}Outcome") not in OUTCOMES:
        return None
    episode = safe_id(result.findtext(f"{{{NS}}}FwiEpisodeId"))
    event = safe_id(result.findtext(f"{{{NS}}}FwiEventId"))
    if episode is None or event is None:
        return None
    return SendResult(
        acknowledged=True,
        target_reference=event,
        episode_ref=episode,
        person_id=safe_id(result.findtext(f"{{{NS}}}FwiClientId")),
        http_status=status,
    )


def _fault(root: etree._Element) -> tuple[str, str] | None:
    """(`Client` | `Server` | '', FwiFault `Code` or '') of a `soap:Fault`, if there is one."""
    fault = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    if fault is None:
        return None
    side = (fault.findtext("faultcode") or "").rpartition(":")[2].strip()
    code = (fault.findtext(f"detail/{{{NS}}}FwiFault/{{{NS}}}Code") or "").strip()
    return side, code if _FAULT_CODE.match(code) else ""


def _fault_error(response: httpx.Response, side: str, code: str) -> DeliveryError:
    status = response.status_code
    label = f"{SYSTEM}: fault {code or 'without a code'} ({side or 'unknown side'})"
    if code in PERMANENT_FAULTS:
        return PermanentDelivery(label, http_status=status)
    if code in RETRYABLE_FAULTS or side != "Client":
        return RetryableDelivery(label, http_status=status, retry_after=retry_after(response))
    return PermanentDelivery(label, http_status=status)
