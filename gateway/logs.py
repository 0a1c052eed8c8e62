"""structlog configuration: JSON lines carrying ids only, with personal data redacted.

The pipeline: contextvars (request and attempt ids bound per call) → level and timestamp →
`redact` → JSON renderer. `redact` is the safety net, not the plan: code logs ids, never
message content, and the tests prove no synthetic personal data reaches the output.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

# Keys whose values are personal data or free text wherever they appear (cf. Home Assistant).
TO_REDACT = frozenset(
    {
        "name",
        "names",
        "given_names",
        "family_name",
        "forename",
        "surname",
        "alias",
        "aliases",
        "date_of_birth",
        "dob",
        "address",
        "home_address",
        "lines",
        "postcode",
        "nhs_number",
        "nhs",
        "circumstances",
        "rationale",
        "location",
        "last_seen_location",
        "found_location",
        "summary",
        "body",
        "payload",
        "raw",
        "xml",
        "phone",
        "email",
        "officer",
        "detail_text",
        "text",
        "password",
        "client_secret",
        "api_key",
        "token",
        "authorization",
        "key",
    }
)
REDACTED = "**redacted**"
# Values that look like personal data even under an innocent key.
_NHS = re.compile(r"\b\d{3}\s?\d{3}\s?\d{4}\b")
_POSTCODE = re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]?\s?[0-9][A-Z]{2}\b", re.IGNORECASE)
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4})\b(?![T ]\d)")


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        value = _NHS.sub(REDACTED, value)
        value = _POSTCODE.sub(REDACTED, value)
        return _DATE.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if str(k).lower() in TO_REDACT else _scrub(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Structlog processor: blank personal-data keys and scrub identifier-shaped values."""
    for key in list(event_dict):
        if key == "event":
            continue
        if key.lower() in TO_REDACT:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def processors() -> list[structlog.typing.Processor]:
    """The shared processor chain (used by `configure` and by the tests' capture)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]


def configure(level: str = "info") -> None:
    """Configure structlog to write JSON lines to standard error."""
    structlog.configure(
        processors=[*processors(), structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger named after its module."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(module=name)
    return logger
