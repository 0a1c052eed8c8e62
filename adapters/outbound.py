"""What the three outbound adapters share: code tables, XML rendering, and one guarded exchange.

Renderers use `CodeTables` (canonical code → target code, from `mappings/`), `utc_text` and, for
the XML systems, `sub`/`sub_optional`/`sub_nil`/`xml_bytes`/`validate_xml`. Clients send every
request through `exchange`, which refuses redirects, bounds the answer at `MAX_ANSWER_BYTES`,
and turns httpx's transport errors into `RetryableDelivery`. Answers from case systems are
untrusted: `safe_id` vets the ids taken from them and `retry_after` caps what a target may ask
for. No function here puts a request header, a credential or an answer body into an error or a
log line.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
from lxml import etree

import mappings
from adapters import xml
from gateway.canonical import Debrief, EpisodeEvent, EpisodeSnapshot, EventType
from gateway.errors import (
    DeliveryError,
    InboundRejected,
    PermanentDelivery,
    RetryableDelivery,
)
from gateway.logs import get_logger

MAX_ANSWER_BYTES = 1 << 20
MAX_RETRY_AFTER_S = 3600.0
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"

log = get_logger(__name__)


# --- rendering ---------------------------------------------------------------------------------


class CodeTables:
    """Canonical → target code tables of one case system, read from its mapping file."""

    def __init__(self, system: str, mapping_file: str) -> None:
        self.system = system
        self.mapping_file = mapping_file

    def tables(self) -> dict[str, dict[str, str]]:
        """Every table of the mapping file, by name (loaded once per process)."""
        data = mappings.load(self.mapping_file)
        if not isinstance(data, dict):
            raise PermanentDelivery(f"{self.mapping_file} is not a mapping of tables")
        return {
            str(name): {str(k): str(v) for k, v in table.items()}
            for name, table in data.items()
            if isinstance(table, dict)
        }

    def code(self, table: str, value: str) -> str:
        """The target code for canonical `value` in `table`.

        Raises:
            PermanentDelivery: the table has no code for the value (a mapping gap).
        """
        key = str(value)  # a StrEnum member's str() is its canonical code
        found = self.tables().get(table, {}).get(key)
        if found is None:
            raise PermanentDelivery(
                f"no {self.system} code for {table} {key!r} in mappings/{self.mapping_file}"
            )
        return found


def utc_text(value: datetime) -> str:
    """`2024-05-01T20:30:00Z`: a UTC time to the second, as every target wants it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def episode_kind(episode: EpisodeSnapshot) -> str:
    """The key of the `episode_type` tables: the DfE missing type, or `none` if not looked after."""
    missing_type = episode.dfe_missing_type
    return "none" if missing_type is None else missing_type.value


def debrief_to_send(event: EpisodeEvent, system: str) -> Debrief | None:
    """The debrief to send: on a debriefed event only (every target's rule), else None.

    Raises:
        PermanentDelivery: a debriefed event whose snapshot carries no debrief.
    """
    if event.type is not EventType.DEBRIEFED:
        return None
    if event.episode.debrief is None:
        raise PermanentDelivery(f"{system}: a debriefed event carries no debrief to send")
    return event.episode.debrief


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """Append a child element in the parent's namespace, with optional text.

    Raises:
        PermanentDelivery: the text holds characters that XML 1.0 cannot carry.
    """
    namespace = etree.QName(parent).namespace
    child = etree.SubElement(parent, f"{{{namespace}}}{tag}" if namespace else tag)
    if text is not None:
        try:
            child.text = text
        except ValueError as exc:  # control characters: XML 1.0 cannot carry them
            raise PermanentDelivery(f"the text of {tag} holds characters XML cannot carry") from exc
    return child


def sub_nil(parent: etree._Element, tag: str) -> etree._Element:
    """Append an empty child element marked `xsi:nil="true"`: present, value not known."""
    child = sub(parent, tag)
    child.set(XSI_NIL, "true")
    return child


def sub_optional(parent: etree._Element, tag: str, text: str | None) -> None:
    """Append a child element only when there is a value for it."""
    if text is not None:
        sub(parent, tag, text)


def xml_bytes(root: etree._Element) -> bytes:
    """Serialise a rendered document: UTF-8, declared, indented (golden diffs stay readable)."""
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def validate_xml(body: bytes, schema_path: Path, system: str) -> None:
    """Validate a rendered XML payload against the target's XSD.

    Raises:
        PermanentDelivery: the payload breaks the schema (the reason names where, not values).
    """
    try:
        xml.load_schema(schema_path).validate(xml.parse(body))
    except InboundRejected as exc:
        where = exc.errors[0].path if exc.errors else "/"
        message = exc.errors[0].message if exc.errors else exc.detail
        raise PermanentDelivery(
            f"{system} payload breaks its schema at {where}: {message}"
        ) from exc


# --- sending -----------------------------------------------------------------------------------


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

    Redirects are never followed and compressed answers are not asked for. The returned
    response has no `Content-Encoding`/`Content-Length`, so `classify` can read `.content`.

    Raises:
        RetryableDelivery: a timeout or transport error (the outcome is unknown).
        PermanentDelivery: a redirect, an unusable URL, or an answer over the size bound.
    """
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
    return b"".join(chunks)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or HTTP date), capped at an hour."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def safe_id(value: object) -> str | None:
    """An id taken from an untrusted answer: a short printable token, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if _SAFE_ID.match(value) else None


def default_verdict(response: httpx.Response, system: str) -> DeliveryError:
    """The shared last row of every answer table, for statuses a spec does not name.

    2xx not understood, 429 and 5xx are temporary; anything else is permanent.
    """
    status = response.status_code
    if status == 429:
        return RetryableDelivery(
            f"{system}: rate limited (429)", http_status=status, retry_after=retry_after(response)
        )
    if 200 <= status < 300:
        return RetryableDelivery(f"{system}: answer {status} not understood", http_status=status)
    if status >= 500:
        return RetryableDelivery(
            f"{system}: temporary failure ({status})",
            http_status=status,
            retry_after=retry_after(response),
        )
    return PermanentDelivery(f"{system}: unexpected answer {status}", http_status=status)


def require_credentials(credentials: dict[str, str], names: tuple[str, ...], system: str) -> None:
    """Check the target's credentials hold every named key (the error names keys, never values).

    Raises:
        PermanentDelivery: a key is missing or empty.
    """
    missing = [name for name in names if not credentials.get(name)]
    if missing:
        raise PermanentDelivery(f"{system}: credentials missing {', '.join(missing)}")
