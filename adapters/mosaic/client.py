"""Send a rendered delivery to a council's Mosaic (docs/council-it.md): OAuth2, then create or add.

`send` is the adapter's only I/O. Tokens are cached per (base URL, client id) in `TOKENS` until
shortly before they expire; a `401` drops the token, fetches a new one and tries once more. An
events call answered `404` (Mosaic does not hold the episode yet) is sent again, same body and
same `Idempotency-Key`, as the create call. `classify` holds docs/council-it.md's answer table.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from adapters.answers import default_verdict, safe_id
from adapters.base import DeliveryRequest, Payload, SendResult, TargetConfig
from adapters.exchange import exchange, require_credentials
from gateway.errors import PermanentDelivery, RetryableDelivery
from gateway.logs import get_logger

SYSTEM = "mosaic"
# The keys of the routing target's credentials, read from <credentials_env>_<KEY>.
CREDENTIALS = ("client_id", "client_secret")
SCOPE = "missing-episodes"
MAX_TOKEN_CHARS = 8192
_JSON_PATH = re.compile(r"^\$[A-Za-z0-9_.\[\]]{0,99}$")
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float


class TokenCache:
    """OAuth2 access tokens per (base URL, client id), safe to share between threads.

    A token is reused until `min(60 s, a tenth of its lifetime)` before it expires. One lock
    per key means concurrent deliveries to one council fetch a single token between them.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, http: httpx.Client, target: TargetConfig) -> str:
        """A valid token for the target, fetched when none is cached or it is about to expire.

        Raises:
            RetryableDelivery: the token endpoint is temporarily unavailable.
            PermanentDelivery: the credentials are missing or refused.
        """
        key = _key(target)
        with self._lock(key):
            cached = self._tokens.get(key)
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            value, lifetime = fetch_token(http, target)
            self._tokens[key] = _Token(value, self._clock() + lifetime - min(60.0, lifetime / 10))
            return value

    def invalidate(self, target: TargetConfig, value: str) -> None:
        """Forget the target's token if it is still `value` (another thread may have renewed it)."""
        key = _key(target)
        with self._lock(key):
            cached = self._tokens.get(key)
            if cached is not None and cached.value == value:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token."""
        with self._guard:
            self._tokens.clear()

    def _lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def _key(target: TargetConfig) -> tuple[str, str]:
    return (target.base_url.rstrip("/"), target.credentials.get("client_id", ""))


TOKENS = TokenCache()


def fetch_token(http: httpx.Client, target: TargetConfig) -> tuple[str, float]:
    """Ask the token endpoint for a client-credentials token; return it with its lifetime (s).

    Raises:
        RetryableDelivery: the token endpoint is temporarily unavailable or answered nonsense.
        PermanentDelivery: the credentials are missing or refused.
    """
    require_credentials(target.credentials, CREDENTIALS, SYSTEM)
    form = {
        "grant_type": "client_credentials",
        "client_id": target.credentials["client_id"],
        "client_secret": target.credentials["client_secret"],
        "scope": SCOPE,
    }
    response = exchange(
        http,
        "POST",
        f"{target.base_url.rstrip('/')}/oauth/token",
        system=SYSTEM,
        timeout_s=target.timeout_s,
        data=form,
    )
    if response.status_code in (400, 401, 403):
        raise PermanentDelivery(
            f"{SYSTEM}: token request refused ({response.status_code}): "
            "check the client credentials",
            http_status=response.status_code,
        )
    if response.status_code != 200:
        raise default_verdict(response, SYSTEM)
    try:
        answer = json.loads(response.content)
        token, lifetime = answer["access_token"], answer.get("expires_in", 3600)
    except (ValueError, TypeError, KeyError) as exc:
        raise RetryableDelivery(f"{SYSTEM}: token answer not understood", http_status=200) from exc
    if not (
        isinstance(token, str)
        and 0 < len(token) <= MAX_TOKEN_CHARS
        and token.isascii()
        and token.isprintable()
        and " " not in token
    ):
        raise RetryableDelivery(f"{SYSTEM}: token answer not understood", http_status=200)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = 60
    log.info("mosaic_token_fetched", council=target.council, expires_in=lifetime)
    return token, float(min(lifetime, 86_400))


def send(
    request: DeliveryRequest,
    payload: Payload,
    target: TargetConfig,
    http: httpx.Client,
    *,
    tokens: TokenCache = TOKENS,
) -> SendResult:
    """Create the episode (first event for this council) or add the event to it.

    Raises:
        RetryableDelivery: try again later (`retry_after` when Mosaic said so).
        PermanentDelivery: dead-letter with the reason.
    """
    base = f"{target.base_url.rstrip('/')}/api/v1/missing-episodes"
    if request.first_for_target:
        response = _post(base, request, payload, target, http=http, tokens=tokens)
    else:
        events = f"{base}/{quote(request.episode_id, safe='')}/events"
        response = _post(events, request, payload, target, http=http, tokens=tokens)
        if response.status_code == 404:
            log.info(
                "mosaic_episode_unknown_creating",
                delivery_id=request.delivery_id,
                council=target.council,
            )
            response = _post(base, request, payload, target, http=http, tokens=tokens)
    result = classify(response)
    log.info(
        "mosaic_delivered",
        delivery_id=request.delivery_id,
        council=target.council,
        http_status=result.http_status,
        target_reference=result.target_reference,
    )
    return result


def _post(
    url: str,
    request: DeliveryRequest,
    payload: Payload,
    target: TargetConfig,
    *,
    http: httpx.Client,
    tokens: TokenCache,
) -> httpx.Response:
    """POST with a bearer token; on 401 renew the token once and repeat the same request."""
    token = tokens.get(http, target)
    response = _post_once(url, token, request, payload, target=target, http=http)
    if response.status_code == 401:
        log.info("mosaic_token_rejected", council=target.council)
        tokens.invalidate(target, token)
        token = tokens.get(http, target)
        response = _post_once(url, token, request, payload, target=target, http=http)
    return response


def _post_once(
    url: str,
    token: str,
    request: DeliveryRequest,
    payload: Payload,
    *,
    target: TargetConfig,
    http: httpx.Client,
) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": request.idempotency_key,
        "Content-Type": payload.media_type,
        "Accept": "application/json",
    }
    return exchange(
        http,
        "POST",
        url,
        system=SYSTEM,
        timeout_s=target.timeout_s,
        headers=headers,
        content=payload.body,
    )


def classify(response: httpx.Response) -> SendResult:
    """Turn a Mosaic answer into a result, or raise what the caller must do (docs/council-it.md).

    | status | body | outcome |
    | --- | --- | --- |
    | 201, 200 | `{episodeId, personId, eventId}` | delivered (200: the key's first answer) |
    | 201, 200 | anything else | retryable: recorded, but the answer is unreadable |
    | 422 | `{"error": "IDEMPOTENCY_KEY_REUSED"}` | permanent: same key, different body |
    | 400, 422 | `{"error": "VALIDATION", "details": [...]}` | permanent: the body is invalid |
    | 401, 403 | any (after one token renewal) | permanent: fix the credentials |
    | 404 | any (events call, after the create retry) | retryable: episode not in Mosaic yet |
    | 429 | any, `Retry-After` seconds | retryable after that delay |
    | 500, 502, 503, 504, other 5xx | any | retryable |
    | anything else | any | permanent |

    Raises:
        RetryableDelivery: a temporary failure.
        PermanentDelivery: a failure that retrying the same payload cannot fix.
    """
    status = response.status_code
    answer = _json_object(response)
    if status in (200, 201):
        return _delivered(answer, status)
    if status in (400, 422):
        error = answer.get("error")
        if error == "IDEMPOTENCY_KEY_REUSED":
            raise PermanentDelivery(
                f"{SYSTEM}: Idempotency-Key already used with another body", http_status=status
            )
        raise PermanentDelivery(
            f"{SYSTEM}: payload rejected ({status} VALIDATION){_detail_paths(answer)}",
            http_status=status,
        )
    if status in (401, 403):
        raise PermanentDelivery(
            f"{SYSTEM}: access refused ({status}): check the client credentials and their scope",
            http_status=status,
        )
    if status == 404:
        raise RetryableDelivery(f"{SYSTEM}: episode not known to Mosaic yet", http_status=status)
    raise default_verdict(response, SYSTEM)


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        answer = json.loads(response.content) if response.content else {}
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _delivered(answer: dict[str, object], status: int) -> SendResult:
    episode_id, event_id = safe_id(answer.get("episodeId")), safe_id(answer.get("eventId"))
    if episode_id is None or event_id is None:
        raise RetryableDelivery(f"{SYSTEM}: answer {status} not understood", http_status=status)
    return SendResult(
        acknowledged=True,
        target_reference=event_id,
        episode_ref=episode_id,
        person_id=safe_id(answer.get("personId")),
        http_status=status,
    )


def _detail_paths(answer: dict[str, object]) -> str:
    """Up to five `$.json.path` prefixes of the answer's details: never their free text."""
    details = answer.get("details")
    if not isinstance(details, list):
        return ""
    paths = [
        safe_path
        for item in details[:5]
        if isinstance(item, str)
        if (safe_path := _path_of(item)) is not None
    ]
    return f" at {', '.join(paths)}" if paths else ""


def _path_of(detail: str) -> str | None:
    path = detail.split(":", 1)[0].strip()
    return path if _JSON_PATH.match(path) else None
