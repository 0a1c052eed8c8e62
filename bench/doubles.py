"""Recording doubles of Mosaic, FWi and Protocol, independent of the gateway's own simulators.

Usage: `python -m bench.doubles --port N [--fail-before 0.3] [--fail-after 0.1] [--seed S]`.

One process plays every council's case system at `/sim/<system>/<LA code>`, with just enough
of each interface for the gateway's clients (an OAuth token and the two episode calls;
the SOAP call; the import inbox and its acknowledgement feed), and nothing of the gateway's
code, so a fault in the gateway's simulators cannot hide one in the gateway. Each system is
idempotent as its specification says (Mosaic's `Idempotency-Key`, FWi's `MessageKey`,
Protocol's file name) and records each key once, in arrival order, counting every call that
carried it. The faults: `--fail-before` of all calls are answered `503` or `429` with
`Retry-After: 1` before anything is done; `--fail-after` of the others are done (recorded),
then answered `500`: with the defaults, 63 % of calls succeed.
`GET /sim/<system>/_control/records` lists the records per council in the shape
`tests/acceptance/delivery_checks.py` reads.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_MESSAGE_KEY = re.compile(rb"<(?:[A-Za-z0-9_]+:)?MessageKey>([^<]+)</")
_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_FWI = "urn:fwi:integration:missing:1"


@dataclass
class Record:
    """One key a double recorded (`times_recorded` stays 1: the doubles are idempotent)."""

    idempotency_key: str
    target_reference: str
    times_recorded: int = 1
    times_received: int = 1


class Books:
    """Every council's records, per system, and the fault dice; one lock for all."""

    def __init__(self, fail_before: float, fail_after: float, seed: int) -> None:
        self.fail_before, self.fail_after = fail_before, fail_after
        self._dice = random.Random(seed)
        self._lock = threading.Lock()
        self._books: dict[str, dict[str, dict[str, Record]]] = {}
        self._acks: dict[str, list[dict[str, Any]]] = {}  # Protocol council -> acks in order
        self.calls = 0

    def fault(self) -> tuple[str | None, int]:
        """For one call: `before`, `after` or None, and the status a `before` answers."""
        with self._lock:
            self.calls += 1
            if self._dice.random() < self.fail_before:
                return "before", self._dice.choice((503, 429))
            return ("after" if self._dice.random() < self.fail_after else None), 500

    def record(self, system: str, council: str, key: str) -> tuple[Record, bool]:
        """The key's record, made now or found; whether it is new."""
        with self._lock:
            book = self._books.setdefault(system, {}).setdefault(council, {})
            found = book.get(key)
            if found is not None:
                found.times_received += 1
                return found, False
            made = Record(key, f"{system[:3].upper()}-{council}-{len(book) + 1:06d}")
            book[key] = made
            if system == "protocol":
                self._acks.setdefault(council, []).append(
                    {
                        "filename": f"{council}_{key}.xml",
                        "status": "ACCEPTED",
                        "protocolRef": made.target_reference,
                        "personRef": f"P-{made.target_reference}",
                        "errors": [],
                        "cursor": str(len(self._acks.get(council, [])) + 1),
                    }
                )
            return made, True

    def acks(self, council: str, after: int) -> dict[str, Any]:
        """Up to 100 acks of the council after cursor `after`."""
        with self._lock:
            page = self._acks.get(council, [])[after : after + 100]
        return {"acks": page, "next": page[-1]["cursor"] if page else str(after)}

    def records(self, system: str) -> dict[str, list[dict[str, Any]]]:
        """The system's records per council, in arrival order."""
        with self._lock:
            return {
                council: [asdict(r) for r in book.values()]
                for council, book in self._books.get(system, {}).items()
            }


class Handler(BaseHTTPRequestHandler):
    """One connection to the doubles (HTTP/1.1, kept alive)."""

    protocol_version = "HTTP/1.1"
    books: Books

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Quiet: the records are the log."""

    def do_GET(self) -> None:
        """The control route and Protocol's acknowledgement feed."""
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if parts[-2:] == ["_control", "records"]:
            self._json(200, self.books.records(parts[1]))
        elif parts[:2] == ["sim", "protocol"] and parts[3:] == ["import", "acks"]:
            fault, status = self.books.fault()
            if fault is not None:
                self._json(status, {"error": fault}, retry_after=fault == "before")
                return
            after = re.search(r"after=([0-9]+)", self.path)
            self._json(200, self.books.acks(parts[2], int(after.group(1)) if after else 0))
        else:
            self._json(404, {})

    def do_POST(self) -> None:
        """Mosaic's token and episode calls, FWi's SOAP call."""
        self._call()

    def do_PUT(self) -> None:
        """Protocol's import inbox."""
        self._call()

    def _call(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) < 4 or parts[0] != "sim":
            self._json(404, {})
            return
        system, council = parts[1], parts[2]
        fault, status = self.books.fault()
        if fault == "before":
            self._json(status, {"error": "unavailable"}, retry_after=True)
            return
        if system == "mosaic" and parts[3:] == ["oauth", "token"]:
            token = {"access_token": "double-token", "expires_in": 3600}
            self._json(500 if fault else 200, {} if fault else token)
            return
        key = self._key(system, parts, body)
        if key is None:
            self._json(400, {"error": "VALIDATION", "details": []})
            return
        record, new = self.books.record(system, council, key)
        if fault == "after":
            self._json(500, {"error": "after recording"})
            return
        self._answer(system, record, new)

    def _key(self, system: str, parts: list[str], body: bytes) -> str | None:
        if system == "mosaic":
            return self.headers.get("Idempotency-Key")
        if system == "fwi":
            found = _MESSAGE_KEY.search(body)
            return found.group(1).decode() if found else None
        if parts[3:5] != ["import", "inbox"] or "_" not in parts[-1]:
            return None
        return parts[-1].split("_", 1)[1].removesuffix(".xml")  # <LA code>_<key>.xml

    def _answer(self, system: str, record: Record, new: bool) -> None:
        ref = record.target_reference
        if system == "mosaic":
            answer = {"episodeId": f"E{ref}", "personId": f"P{ref}", "eventId": ref}
            self._json(201 if new else 200, answer)
        elif system == "fwi":
            self._send(200, "text/xml; charset=utf-8", _soap(ref, new).encode())
        else:
            self._send(201 if new else 200, "application/json", b"")

    def _json(self, status: int, answer: object, *, retry_after: bool = False) -> None:
        extra = {"Retry-After": "1"} if retry_after else {}
        self._send(status, "application/json", json.dumps(answer).encode(), extra)

    def _send(
        self, status: int, media: str, body: bytes, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _soap(ref: str, new: bool) -> str:
    outcome = "Created" if new else "Duplicate"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{_SOAP}">'
        f'<soap:Body><RecordMissingEpisodeEventResponse xmlns="{_FWI}"><Result>'
        f"<Outcome>{outcome}</Outcome><FwiEpisodeId>E{ref}</FwiEpisodeId>"
        f"<FwiEventId>{ref}</FwiEventId><FwiClientId>P{ref}</FwiClientId>"
        "</Result></RecordMissingEpisodeEventResponse></soap:Body></soap:Envelope>"
    )


def main() -> None:
    """Serve the doubles until killed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail-before", type=float, default=0.3)
    parser.add_argument("--fail-after", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    Handler.books = Books(args.fail_before, args.fail_after, args.seed)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
