"""The gateway's exception hierarchy: each class tells the caller what to do next.

```
GatewayError
├── InboundRejected          a message was refused; answer the sender with `status` (4xx)
│   ├── UnsupportedMediaType     415  wrong Content-Type or a compressed body
│   ├── PayloadTooLarge          413  body over GATEWAY_MAX_BODY_BYTES
│   ├── MalformedXml             400  not well-formed, a DOCTYPE, an undeclared encoding
│   ├── SchemaInvalid            422  well-formed but breaks the source's XSD
│   ├── SemanticInvalid          422  valid XSD, but a rule of the spec or an unmapped code
│   ├── ForceMismatch            403  force code in the message is not the caller's
│   └── ConflictingResend        409  same message id, different content
├── ConfigurationError       bad routing/policy/settings; exit 2 naming file and line
├── StoreBusy                the database kept aborting the transaction; 503, send it again
│   └── IngestInterrupted        the ingest process stopped mid-batch; 503, send it again
├── IngestFailed             an unexpected error in an ingest lane, by type only; 500
├── DeliveryError            an outbound attempt failed
│   ├── RetryableDelivery        try again (after `retry_after` seconds when the target said so)
│   └── PermanentDelivery        dead-letter with `reason`; retrying cannot help
└── AuditChainBroken         the audit hash chain does not verify at `entry`
```

Data travels as attributes; nobody should match on message strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorLocation:
    """Where in an inbound message a problem is, and what it is.

    `message` never carries personal data from the message: only element names,
    codes and the rule that failed.
    """

    path: str
    line: int | None
    column: int | None
    message: str

    def as_dict(self) -> dict[str, object]:
        """The problem-JSON shape of one error."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross from an ingest lane to the server by pickle
        # (gateway/ingest/processes.py), which by default rebuilds an exception from its
        # `args` alone: keyword-only attributes (code, errors, retry_after) would be lost.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[GatewayError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InboundRejected(GatewayError):
    """An inbound message is refused; nothing of it is stored.

    Attributes:
        status: the HTTP status to answer with.
        code: a stable kebab-case problem code (the last part of the problem `type`).
        title: a short, fixed summary of the kind of problem.
        detail: what is wrong with this message (no personal data).
        errors: the located errors, for 422s.
    """

    status = 400
    code = "rejected"
    title = "Message rejected"

    def __init__(
        self, detail: str, errors: list[ErrorLocation] | None = None, *, code: str | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        if code is not None:
            self.code = code


class UnsupportedMediaType(InboundRejected):
    """The body is not `application/xml`, or it is compressed."""

    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class PayloadTooLarge(InboundRejected):
    """The body is larger than the configured limit."""

    status = 413
    code = "payload-too-large"
    title = "Payload too large"


class MalformedXml(InboundRejected):
    """The body is not well-formed XML, or uses a forbidden construct (DOCTYPE, entities)."""

    status = 400
    code = "malformed-xml"
    title = "Malformed XML"


class SchemaInvalid(InboundRejected):
    """The document is well-formed but does not conform to the source's XSD."""

    status = 422
    code = "schema-invalid"
    title = "Message does not conform to the schema"


class SemanticInvalid(InboundRejected):
    """The document conforms to the XSD but breaks a rule of the spec or uses an unmapped code."""

    status = 422
    code = "semantic-invalid"
    title = "Message breaks a rule of the interface"


class ForceMismatch(InboundRejected):
    """The message's force code is not the calling force's."""

    status = 403
    code = "force-mismatch"
    title = "Force code does not match the caller"


class ConflictingResend(InboundRejected):
    """A message id that was already accepted arrives with different content."""

    status = 409
    code = "conflicting-resend"
    title = "Message id already used with different content"


class ConfigurationError(GatewayError):
    """A configuration file or setting is wrong; the process must not start.

    Attributes:
        file: the file at fault, when there is one.
        line: the 1-based line at fault, when known.
        problem: what is wrong there.
    """

    def __init__(self, problem: str, *, file: str | None = None, line: int | None = None) -> None:
        where = file or "configuration"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.line = line
        self.problem = problem


class StoreBusy(GatewayError):
    """The database aborted the request's transaction each time it was tried; nothing is stored.

    Deadlocks and serialisation failures under heavy concurrent load end this way once the
    gateway's own retries are spent. The sender should send the same message again after
    `retry_after` seconds: a resend of a message that did get in is answered with its receipt.
    """

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class IngestInterrupted(StoreBusy):
    """The ingest process storing the message's batch stopped before it answered.

    The batch may or may not have committed, so this is not "nothing is stored": the sender
    sends the message again, and a copy that did get in is answered `200` with its receipt.
    The server starts a new ingest process for the next batch.
    """


class IngestFailed(GatewayError):
    """An ingest lane failed on an error that is not the gateway's own (a bug, a driver).

    Only the error's type crosses back to the server (its text may quote the message's data),
    from an ingest process or from the lane in the server's own process alike; the lane logs
    it in full. The caller is answered 500, as for any unexpected error.
    """


class DeliveryError(GatewayError):
    """An attempt to deliver to a case system failed."""

    def __init__(self, reason: str, *, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


class RetryableDelivery(DeliveryError):
    """Temporary failure: try again later, no sooner than `retry_after` seconds if given."""

    def __init__(
        self, reason: str, *, http_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason, http_status=http_status)
        self.retry_after = retry_after


class PermanentDelivery(DeliveryError):
    """Permanent failure: retrying the same payload cannot succeed; dead-letter it."""


class AuditChainBroken(GatewayError):
    """The audit chain does not verify.

    Attributes:
        entry: the sequence number of the first entry that does not verify.
        reason: why it does not verify.
        code: a stable kebab-case name for the kind of break (`entries-missing`,
            `entry-edited`, `link-broken`, `column-edited`).
    """

    def __init__(self, entry: int, reason: str, *, code: str = "entry-edited") -> None:
        super().__init__(f"audit entry {entry}: {reason}")
        self.entry = entry
        self.reason = reason
        self.code = code
