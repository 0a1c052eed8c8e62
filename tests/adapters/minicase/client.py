"""Send a minicase event: one POST with a token and the idempotency key; `classify` its answer."""

from __future__ import annotations

import json

import httpx

from adapters.answers import default_verdict, safe_id
from adapters.base import DeliveryRequest, Payload, SendResult, TargetConfig
from adapters.exchange import exchange, require_credentials
from gateway.errors import PermanentDelivery, RetryableDelivery

SYSTEM = "minicase"
CREDENTIALS = ("token",)


def send(
    request: DeliveryRequest, payload: Payload, target: TargetConfig, http: httpx.Client
) -> SendResult:
    """POST the event to `<base_url>/events`.

    Raises:
        RetryableDelivery: try again later.
        PermanentDelivery: dead-letter with the reason.
    """
    require_credentials(target.credentials, CREDENTIALS, SYSTEM)
    headers = {
        "Authorization": f"Token {target.credentials['token']}",
        "Idempotency-Key": request.idempotency_key,
        "Content-Type": payload.media_type,
    }
    response = exchange(
        http,
        "POST",
        f"{target.base_url.rstrip('/')}/events",
        system=SYSTEM,
        timeout_s=target.timeout_s,
        headers=headers,
        content=payload.body,
    )
    return classify(response)


def classify(response: httpx.Response) -> SendResult:
    """Minicase's answer table.

    | status | body | outcome |
    | --- | --- | --- |
    | 201, 200 | `{"id": ...}` | delivered (200: a replay of the same key and body) |
    | 201, 200 | anything else | retryable: recorded, but the answer is unreadable |
    | 400, 401, 403, 409, 422 | any | permanent |
    | anything else | any | the shared default verdict |

    Raises:
        RetryableDelivery: a temporary failure.
        PermanentDelivery: a failure that retrying the same payload cannot fix.
    """
    status = response.status_code
    if status in (200, 201):
        try:
            answer = json.loads(response.content)
        except ValueError:
            answer = None
        reference = safe_id(answer.get("id")) if isinstance(answer, dict) else None
        if reference is None:
            raise RetryableDelivery(f"{SYSTEM}: answer {status} not understood", http_status=status)
        return SendResult(acknowledged=True, target_reference=reference, http_status=status)
    if status in (400, 401, 403, 409, 422):
        raise PermanentDelivery(f"{SYSTEM}: refused ({status})", http_status=status)
    raise default_verdict(response, SYSTEM)
