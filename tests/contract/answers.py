"""The answer rows of a case system's spec, read from its `fixtures/answers.toml`.

The rows are written from the spec page, not the code. The outbound contract suite feeds each
row's response to the adapter's `classify` and checks the outcome. Some bodies echo `SECRET`
(as a hostile or careless server might), so the suite can prove no secret ever reaches an error
text or a log line.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

SECRET = "contract-secret-0xC0FFEE-never-logged"
ANSWERED_URL = "https://case-system.example.org/304/import/inbox/304_contract-key.xml"

Outcome = Literal["delivered", "received", "retryable", "permanent"]


@dataclass(frozen=True)
class Row:
    """One answer of a spec's table and what the client must make of it.

    `delivered` is a recorded success (acknowledged), `received` a success awaiting an
    asynchronous acknowledgement; the ids are what the SendResult must carry.
    """

    name: str
    status: int
    outcome: Outcome
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    target_reference: str | None = None
    person_id: str | None = None
    episode_ref: str | None = None

    def response(self) -> httpx.Response:
        """The answer as httpx would hand it to `classify`."""
        return httpx.Response(
            self.status,
            headers=self.headers,
            content=self.body,
            request=httpx.Request("POST", ANSWERED_URL),
        )


def rows(path: Path) -> list[Row]:
    """The answer rows of an adapter's `fixtures/answers.toml`, with `$SECRET` filled in."""
    with path.open("rb") as fh:
        table = tomllib.load(fh)
    found: list[Row] = []
    for row in table["row"]:
        body = row.pop("body", "").replace("$SECRET", SECRET).encode()
        headers = {k: v.replace("$SECRET", SECRET) for k, v in row.pop("headers", {}).items()}
        found.append(Row(**row, body=body, headers=headers))
    return found


def token_answer() -> httpx.Response:
    """An OAuth2 token answer, for targets that authenticate first (Mosaic)."""
    return httpx.Response(
        200, json={"access_token": "contract-token", "token_type": "Bearer", "expires_in": 3600}
    )
