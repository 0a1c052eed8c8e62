"""Drop a rendered delivery into a council's Protocol inbox, and read its acks (docs/council-it.md).

`send` PUTs the document as `<LA code>_<idempotency key>.xml`: the file name is the idempotency
key, so a retry of the same bytes answers `200`. A `201`/`200` means received, not processed:
the result is unacknowledged and `poll_acks` later reads the import's verdict. `classify` holds
docs/council-it.md's answer table.
"""

from __future__ import annotations

import json
import re
from typing import Literal
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.answers import default_verdict, retry_after, safe_id
from adapters.base import Ack, DeliveryRequest, Payload, SendResult, TargetConfig
from adapters.exchange import exchange, require_credentials
from gateway.errors import PermanentDelivery, RetryableDelivery
from gateway.logs import get_logger

SYSTEM = "protocol"
# The keys of the routing target's credentials, read from <credentials_env>_<KEY>.
CREDENTIALS = ("api_key",)
MAX_ACK_ERRORS = 20
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_LA = re.compile(r"^[0-9]{3}$")
log = get_logger(__name__)


def filename(council: str, idempotency_key: str) -> str:
    """`<LA code>_<idempotency key>.xml`, the import file's name and its idempotency key.

    Raises:
        PermanentDelivery: the council code or the key cannot make a safe file name.
    """
    if not _LA.match(council) or not _KEY.match(idempotency_key):
        raise PermanentDelivery(f"{SYSTEM}: council code or idempotency key unfit for a file name")
    return f"{council}_{idempotency_key}.xml"


def send(
    request: DeliveryRequest, payload: Payload, target: TargetConfig, http: httpx.Client
) -> SendResult:
    """PUT the document into the import inbox.

    Raises:
        RetryableDelivery: try again later.
        PermanentDelivery: dead-letter with the reason.
    """
    require_credentials(target.credentials, CREDENTIALS, SYSTEM)
    name = filename(target.council, request.idempotency_key)
    headers = {"X-Api-Key": target.credentials["api_key"], "Content-Type": payload.media_type}
    response = exchange(
        http,
        "PUT",
        f"{target.base_url.rstrip('/')}/import/inbox/{name}",
        system=SYSTEM,
        timeout_s=target.timeout_s,
        headers=headers,
        content=payload.body,
    )
    result = classify(response)
    log.info(
        "protocol_dropped",
        delivery_id=request.delivery_id,
        council=target.council,
        http_status=result.http_status,
        target_reference=result.target_reference,
    )
    return result


def classify(response: httpx.Response) -> SendResult:
    """Turn an import-inbox answer into a result, or raise what the caller must do (council-it.md).

    | status | meaning | outcome |
    | --- | --- | --- |
    | 201 | new file received, not yet processed | sent, awaiting its ack |
    | 200 | same name, same bytes already received | sent, awaiting its ack |
    | 409 | same name, different bytes | permanent |
    | 401 | bad API key | permanent: fix the key |
    | 413 | over 2 MiB | permanent |
    | 503 | temporary | retryable (`Retry-After` when given) |
    | 429, other 5xx | | retryable |
    | anything else | | permanent |

    Raises:
        RetryableDelivery: a temporary failure.
        PermanentDelivery: a failure that retrying the same payload cannot fix.
    """
    status = response.status_code
    if status in (200, 201):
        return SendResult(
            acknowledged=False, target_reference=_dropped_name(response), http_status=status
        )
    reasons = {
        409: "a different file was already dropped under this name",
        401: "API key refused: check the credentials",
        413: "file over the 2 MiB import limit",
    }
    if status in reasons:
        raise PermanentDelivery(f"{SYSTEM}: {reasons[status]} ({status})", http_status=status)
    if status == 503:
        raise RetryableDelivery(
            f"{SYSTEM}: import temporarily unavailable (503)",
            http_status=status,
            retry_after=retry_after(response),
        )
    raise default_verdict(response, SYSTEM)


def _dropped_name(response: httpx.Response) -> str | None:
    try:
        path = response.request.url.path
    except RuntimeError:  # a response built without its request (tests)
        return None
    return safe_id(path.rsplit("/", 1)[-1])


class _AckItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filename: str = Field(min_length=1, max_length=200)
    status: Literal["ACCEPTED", "REJECTED"]
    protocolRef: str | None = None  # noqa: N815 - the wire name
    personRef: str | None = None  # noqa: N815 - the wire name
    errors: list[str] = Field(default_factory=list)
    cursor: str = Field(min_length=1, max_length=200)


class _AckPage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    acks: list[_AckItem] = Field(max_length=1000)
    next: str | None = Field(default=None, max_length=200)


def poll_acks(
    target: TargetConfig, cursor: str | None, http: httpx.Client
) -> tuple[list[Ack], str | None]:
    """Read the import's acks after `cursor`, oldest first; return them and the next cursor.

    Raises:
        RetryableDelivery: the ack feed is temporarily unavailable or answered nonsense.
        PermanentDelivery: the API key is refused.
    """
    require_credentials(target.credentials, CREDENTIALS, SYSTEM)
    query = f"?{urlencode({'after': cursor})}" if cursor else ""
    response = exchange(
        http,
        "GET",
        f"{target.base_url.rstrip('/')}/import/acks{query}",
        system=SYSTEM,
        timeout_s=target.timeout_s,
        headers={"X-Api-Key": target.credentials["api_key"], "Accept": "application/json"},
    )
    if response.status_code in (401, 403):
        raise PermanentDelivery(
            f"{SYSTEM}: API key refused by the ack feed", http_status=response.status_code
        )
    if response.status_code != 200:
        raise default_verdict(response, SYSTEM)
    try:
        page = _AckPage.model_validate(json.loads(response.content))
    except (ValueError, ValidationError) as exc:
        raise RetryableDelivery(f"{SYSTEM}: ack answer not understood", http_status=200) from exc
    acks = [_ack(item) for item in page.acks]
    log.info("protocol_acks_read", council=target.council, count=len(acks))
    return acks, page.next or (acks[-1].cursor if acks else cursor)


def _ack(item: _AckItem) -> Ack:
    council, _, rest = item.filename.partition("_")
    key = rest.removesuffix(".xml") if _LA.match(council) and rest.endswith(".xml") else ""
    return Ack(
        target_reference=item.filename,
        idempotency_key=key if _KEY.match(key) else None,
        accepted=item.status == "ACCEPTED",
        reference=safe_id(item.protocolRef),
        person_id=safe_id(item.personRef),
        errors=[error[:500] for error in item.errors[:MAX_ACK_ERRORS]],
        cursor=item.cursor,
    )
