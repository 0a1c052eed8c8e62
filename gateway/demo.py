"""`gateway demo`: send the bundled example messages and show who was told, and how it went.

The examples (`mappings/examples/`, synthetic) are the MERLIN and COMPACT spec examples, and a
report, a risk change and a found for a looked-after child placed out of area. Each run gives
every message a new message id and report reference, so it can be run again and again; it
makes the police keys it needs in the gateway's database and revokes them when it is done.

It refuses to run when a council the examples reach is onboarded on anything but this
machine's loopback (the bundled simulators): synthetic children must never reach a real
council's case system.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine

import mappings
from adapters import registry
from gateway import keys
from gateway.canonical import utc_now
from gateway.routing import RoutingTable
from gateway.store.work import unit_of_work

ACTOR = "operator:demo"
SETTLED = ("delivered", "dead", "cancelled", "unroutable")


@dataclass(frozen=True, slots=True)
class Example:
    """One bundled message: its source, the force that sends it, its file and what it is."""

    source: str
    force: str
    file: str
    label: str

    def body(self) -> bytes:
        """The file's bytes as bundled."""
        return mappings.path(f"examples/{self.file}").read_bytes()


EXAMPLES = (
    Example("merlin", "01", "merlin-report.xml", "MERLIN report"),
    Example("merlin", "01", "merlin-risk-change.xml", "MERLIN risk change"),
    Example("merlin", "01", "merlin-found.xml", "MERLIN found"),
    Example("compact", "30", "compact-report.xml", "COMPACT report"),
    Example("compact", "30", "compact-report-looked-after.xml", "COMPACT report, looked after"),
)
_MESSAGE_ID = re.compile(rb"<(MessageId|ExportId)>[^<]+</(MessageId|ExportId)>")
_REFERENCE = re.compile(rb"<(MerlinRef|CaseNumber)>([^<]+)</(MerlinRef|CaseNumber)>")


class DemoRefused(Exception):
    """The demo would send synthetic children to a council that is not a simulator."""


class DemoFailed(Exception):
    """The gateway could not be reached, or it refused a message."""


def councils_reached(examples: tuple[Example, ...] = EXAMPLES) -> set[str]:
    """Every council the examples tell, read from the messages themselves."""
    codes: set[str] = set()
    for example in examples:
        adapter = registry.INBOUND[example.source]
        for event in adapter.to_events(adapter.parse(example.body())):
            codes |= {code for code, _ in event.episode.council_roles()}
    return codes


def check_safe(routing: RoutingTable, examples: tuple[Example, ...] = EXAMPLES) -> None:
    """Refuse when an onboarded council the examples reach is not on loopback.

    Raises:
        DemoRefused: naming the councils and where they point.
    """
    real = sorted(
        f"{code} ({route.base_url})"
        for code in councils_reached(examples)
        if (route := routing.route(code)) is not None and not route.is_loopback
    )
    if real:
        raise DemoRefused(
            "the demo sends synthetic children, and these councils are not simulators on this "
            f"machine: {', '.join(real)}; run it only with the bundled demo routing"
        )


def fresh(examples: tuple[Example, ...] = EXAMPLES) -> list[tuple[Example, bytes]]:
    """The examples with new message ids and report references (the same within this run)."""
    serial = secrets.randbelow(900_000) + 100_000
    references: dict[bytes, bytes] = {}

    def reference(match: re.Match[bytes]) -> bytes:
        old = match.group(2)
        if old not in references:
            number = str(serial + len(references)).encode()
            references[old] = re.sub(rb"[0-9]{6}$", number, old)
        return b"<%s>%s</%s>" % (match.group(1), references[old], match.group(1))

    def message_id(match: re.Match[bytes]) -> bytes:
        new = str(uuid.uuid4()).encode()
        return b"<%s>%s</%s>" % (match.group(1), new, match.group(1))

    return [
        (example, _REFERENCE.sub(reference, _MESSAGE_ID.sub(message_id, example.body())))
        for example in examples
    ]


@dataclass
class Outcome:
    """What the demo sent and where each council's delivery stands."""

    rows: list[dict[str, Any]]
    settled: bool


def run(
    engine: Engine,
    url: str,
    *,
    wait_s: float,
    http: httpx.Client | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_sent: Callable[[int], object] = lambda count: None,
) -> Outcome:
    """Send the examples to the gateway at `url`, wait up to `wait_s` for them to settle.

    `on_sent` is told how many messages went once they are all accepted.

    Raises:
        DemoFailed: the gateway could not be reached or refused a message.
    """
    made = _police_keys(engine)
    client = http or httpx.Client(base_url=url, timeout=30)
    try:
        started = utc_now()
        sent = [_send(client, made, example, body) for example, body in fresh()]
        on_sent(len(sent))
        deadline = clock() + wait_s
        while True:
            rows = _rows(client, made, sent, started)
            settled = all(row["state"] in SETTLED for row in rows)
            if settled or clock() >= deadline:
                return Outcome(rows=rows, settled=settled)
            time.sleep(0.5)
    except httpx.HTTPStatusError as exc:
        answer = exc.response
        raise DemoFailed(
            f"the gateway at {url} answered {answer.status_code}: {answer.text}"
        ) from exc
    except httpx.HTTPError as exc:
        raise DemoFailed(f"cannot reach the gateway at {url}: {exc}") from exc
    finally:
        if http is None:
            client.close()
        _revoke(engine, made)


def _police_keys(engine: Engine) -> dict[str, str]:
    """A police key for each force the examples come from, made in the gateway's database."""
    with unit_of_work(engine, audits=True) as connection:
        return {
            force: keys.create(
                connection, keys.Role.POLICE, force=force, name="gateway demo", actor=ACTOR
            )
            for force in sorted({example.force for example in EXAMPLES})
        }


def _revoke(engine: Engine, made: dict[str, str]) -> None:
    """Revoke the demo's keys: none outlives the run."""
    with unit_of_work(engine, audits=True) as connection:
        for key in made.values():
            keys.revoke(connection, key.split("_")[1], actor=ACTOR)


def _send(
    client: httpx.Client, made: dict[str, str], example: Example, body: bytes
) -> tuple[Example, str]:
    """POST one message; its message id."""
    response = client.post(
        f"/v1/inbound/{example.source}",
        content=body,
        headers={
            "Content-Type": "application/xml",
            "Authorization": f"Bearer {made[example.force]}",
        },
    )
    if response.status_code not in (200, 202):
        raise DemoFailed(
            f"the gateway refused {example.file} with {response.status_code}: {response.text}"
        )
    return example, str(response.json()["message_id"])


def _rows(
    client: httpx.Client,
    made: dict[str, str],
    sent: list[tuple[Example, str]],
    since: datetime,
) -> list[dict[str, Any]]:
    """Each council told of each message sent, in sending order, as the receipts list says."""
    listed: dict[str, dict[str, Any]] = {}
    for key in made.values():
        response = client.get(
            "/v1/receipts",
            params={"since": since.isoformat(), "limit": 500},
            headers={"Authorization": f"Bearer {key}"},
        )
        response.raise_for_status()
        listed |= {item["message_id"]: item for item in response.json()["items"]}
    rows = []
    for example, message_id in sent:
        for council in listed.get(message_id, {}).get("councils", []):
            rows.append({"message": example.label, **council})
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The outcome as text lines: message, council, system, role, status."""
    header = ("message", "council", "system", "role", "status")
    lines = [
        (
            row["message"],
            f"{row['council']} {row['council_name'] or ''}".strip(),
            row["system"] or "-",
            row["role"] or "-",
            _status(row),
        )
        for row in rows
    ]
    widths = [max(len(str(cells[i])) for cells in (header, *lines)) for i in range(len(header))]
    return [
        "  ".join(
            str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()
        for cells in (header, *lines)
    ]


def _status(row: dict[str, Any]) -> str:
    """The council's state, saying when Protocol's acknowledgement is what it waits for."""
    if row["state"] in ("pending", "overdue") and row.get("delivery_status") == "sent":
        return f"{row['state']} (sent, awaiting the acknowledgement)"
    if row["state"] == "unroutable":
        return "unroutable (council not onboarded)"
    return str(row["state"])
