"""One guarded HTTP exchange with a case system, and the check of a target's credentials.

Clients send every request through `exchange`, which refuses redirects, bounds the answer at
`MAX_ANSWER_BYTES`, ends it at `timeout_s` in total however slowly the target answers (with a
client from `adapters.deadline.client`), and turns httpx's transport errors into
`RetryableDelivery`. Nothing here
puts a request header, a credential or an answer body into an error or a log line.
"""

from __future__ import annotations

import httpx

from adapters.deadline import remaining, within
from gateway.errors import PermanentDelivery, RetryableDelivery
from gateway.logs import get_logger

MAX_ANSWER_BYTES = 1 << 20
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})

log = get_logger(__name__)


def exchange(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    system: str,
    timeout_s: float,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    data: dict[str, str] | None = None,
) -> httpx.Response:
    """Send one request and return its answer with the body already read (at most 1 MiB).

    The whole exchange, connection and answer included, ends after `timeout_s` (or at an
    earlier deadline the caller set with `adapters.deadline.within`), when the client came
    from `adapters.deadline.client`; any client is stopped between chunks of the answer.
    Redirects are never followed and compressed answers are not asked for. The returned
    response has no `Content-Encoding`/`Content-Length`, so `classify` can read `.content`.

    Raises:
        RetryableDelivery: a timeout or transport error (the outcome is unknown).
        PermanentDelivery: a redirect, an unusable URL, or an answer over the size bound.
    """
    with within(timeout_s):
        return _exchange(
            http,
            method,
            url,
            system=system,
            timeout_s=timeout_s,
            headers=headers,
            content=content,
            data=data,
        )


def _exchange(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    system: str,
    timeout_s: float,
    headers: dict[str, str] | None,
    content: bytes | None,
    data: dict[str, str] | None,
) -> httpx.Response:
    try:
        request = http.build_request(
            method,
            url,
            headers={**(headers or {}), "Accept-Encoding": "identity"},
            content=content,
            data=data,
            timeout=timeout_s,
        )
        response = http.send(request, stream=True, follow_redirects=False)
        try:
            body = _read_bounded(response, system)
        finally:
            response.close()
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PermanentDelivery(f"{system}: the configured URL cannot be used") from exc
    except httpx.TimeoutException as exc:
        raise RetryableDelivery(f"{system}: no answer in time ({type(exc).__name__})") from exc
    except (httpx.TransportError, httpx.DecodingError) as exc:
        raise RetryableDelivery(f"{system}: transport error ({type(exc).__name__})") from exc
    log.debug("outbound_exchange", system=system, method=method, http_status=response.status_code)
    if 300 <= response.status_code < 400:
        raise PermanentDelivery(f"{system}: redirect refused", http_status=response.status_code)
    kept = [(k, v) for k, v in response.headers.items() if k.lower() not in _DROPPED_HEADERS]
    return httpx.Response(response.status_code, headers=kept, content=body, request=request)


def _read_bounded(response: httpx.Response, system: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise PermanentDelivery(
                f"{system}: answer larger than {MAX_ANSWER_BYTES} bytes",
                http_status=response.status_code,
            )
        chunks.append(chunk)
        left = remaining()
        if left is not None and left <= 0:
            raise httpx.ReadTimeout("the exchange's total deadline has passed")
    return b"".join(chunks)


def require_credentials(credentials: dict[str, str], names: tuple[str, ...], system: str) -> None:
    """Check the target's credentials hold every named key (the error names keys, never values).

    Raises:
        PermanentDelivery: a key is missing or empty.
    """
    missing = [name for name in names if not credentials.get(name)]
    if missing:
        raise PermanentDelivery(f"{system}: credentials missing {', '.join(missing)}")
